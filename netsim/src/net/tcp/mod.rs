//! TCP sockets: listeners, connections and their streams, as operations on
//! [`Network`] shaped after `wasi:sockets/tcp`.
//!
//! This module owns the socket side: binding, listening with a backlog,
//! connecting, accepting, reading, writing, shutdown and close, the waking of
//! tasks, and the timers of connections. The per-connection protocol (windows,
//! retransmission, congestion control) is `conn`'s; packets move through
//! the fabric like any other.
//!
//! Outcomes of connecting, and why:
//!
//! - nobody listens on the port: the peer answers the SYN with RST, so the
//!   connect fails with `connection-refused` one round trip later;
//! - a `Reject` filter on the path: `connection-refused` at once (see [`Filter::Reject`]);
//! - a `Drop` filter, a partition or `DenyAll`, a peer that drops unsolicited
//!   connections (see [`super::firewall`]) or a NAT that filters them: the SYN
//!   is retransmitted ([`SYN_RETRIES`]) and the connect fails with `timeout`
//!   after 15 s;
//! - an address in the data network that no instance has: `remote-unreachable`
//!   after [`UNREACHABLE_AFTER`], as Linux reports when ARP gets no answer;
//! - an address outside the data network: `remote-unreachable` at once (no route).
//!
//! Two sockets that connect to each other at once — each bound to the port
//! the other dials, as TCP hole punching through NATs does — meet in a
//! simultaneous open (RFC 793 §3.4): each SYN finds the other side in
//! SYN-SENT, both answer SYN-ACK, and both connections are established.
//!
//! [`Filter::Reject`]: super::Filter::Reject

mod conn;
mod rtt;
mod stall;

pub use conn::{DATA_RETRIES, DUPACK_THRESHOLD, INITIAL_CWND, MSS, RECV_BUFFER, SEND_BUFFER, SYN_RETRIES};
pub use rtt::{INITIAL_RTO, MAX_RTO, MIN_RTO};

use super::fabric::{Rejected, Route};
use super::packet::{Body, Flags, Packet, Segment};
use super::rule::DropReason;
use super::socket::{Family, Socket, WakerSet};
use super::udp::{check_host, this_host};
use super::{Ev, NetCtx, NetError, Network, SocketId};
use crate::node::NodeId;
use conn::{Conn, Effects, Phase};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::task::{Context, Poll};
use std::time::Duration;

/// Listen backlog when none is set: mirrors Linux's `SOMAXCONN` (4096 since
/// 5.4; 1024 is the value most documentation and Testground-era kernels show).
pub const DEFAULT_BACKLOG: u32 = 1024;

/// How long a closed connection waits for the peer's FIN after its own was
/// acknowledged: Linux's `tcp_fin_timeout`.
pub const FIN_WAIT2_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a connect to an unassigned data-network address takes to fail:
/// Linux sends 3 ARP probes 1 s apart, then reports the host unreachable.
pub const UNREACHABLE_AFTER: Duration = Duration::from_secs(3);

/// Where a TCP socket is in its life, as `wasi:sockets` sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpState {
    /// Created, not bound.
    Unbound,
    /// Bound to a local address.
    Bound,
    /// Listening for connections.
    Listening,
    /// A connect is in progress.
    Connecting,
    /// Connected: streams may be used.
    Connected,
    /// The connection ended or failed.
    Closed,
}

/// Which direction(s) [`Network::tcp_shutdown`] closes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shutdown {
    /// Stop reading: buffered and later data are discarded, reads see end of stream.
    Receive,
    /// Stop writing: a FIN follows the buffered data, the peer reads end of stream.
    Send,
    /// Both.
    Both,
}

struct Listener {
    backlog: u32,
    /// Established connections waiting for `accept`.
    ready: VecDeque<u32>,
    /// Connections still in the handshake.
    half_open: u32,
}

enum Role {
    Fresh,
    Listener(Listener),
    Conn(Box<Conn>),
}

pub(crate) struct TcpSocket {
    family: Family,
    /// The bound address, as bound.
    local: Option<SocketAddr>,
    role: Role,
    backlog: u32,
    /// A connection that arrived on a listener and was not accepted yet: it
    /// counts toward its host's unaccepted connections, not its open sockets.
    unaccepted: bool,
    readers: WakerSet,
    writers: WakerSet,
}

impl TcpSocket {
    fn new(family: Family) -> TcpSocket {
        TcpSocket {
            family,
            local: None,
            role: Role::Fresh,
            backlog: DEFAULT_BACKLOG,
            unaccepted: false,
            readers: WakerSet::default(),
            writers: WakerSet::default(),
        }
    }

    fn state(&self) -> TcpState {
        match &self.role {
            Role::Fresh if self.local.is_some() => TcpState::Bound,
            Role::Fresh => TcpState::Unbound,
            Role::Listener(_) => TcpState::Listening,
            Role::Conn(c) => match c.phase {
                Phase::SynSent | Phase::SynReceived => TcpState::Connecting,
                Phase::Established => TcpState::Connected,
                Phase::Closed => TcpState::Closed,
            },
        }
    }

    pub(crate) fn poll_readable(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let ready = match &self.role {
            Role::Fresh => true,
            Role::Listener(l) => !l.ready.is_empty(),
            Role::Conn(c) => match c.phase {
                Phase::SynSent | Phase::SynReceived => false,
                Phase::Closed => true,
                Phase::Established => c.readable_bytes() > 0 || c.fin_received || c.rcv_shutdown,
            },
        };
        if ready {
            return Poll::Ready(());
        }
        self.readers.register(cx.waker());
        Poll::Pending
    }

    pub(crate) fn poll_writable(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let ready = match &self.role {
            Role::Fresh | Role::Listener(_) => true,
            Role::Conn(c) => match c.phase {
                Phase::SynSent | Phase::SynReceived => false,
                Phase::Closed => true,
                Phase::Established => c.send_capacity() > 0 || c.fin_queued,
            },
        };
        if ready {
            return Poll::Ready(());
        }
        self.writers.register(cx.waker());
        Poll::Pending
    }

    /// The bound address; for a connection, the address its segments leave
    /// from (the unspecified address is resolved by connecting, as on Linux).
    pub(crate) fn local_addr(&self) -> Result<SocketAddr, NetError> {
        match &self.role {
            Role::Conn(c) => Ok(self.family.show(c.local)),
            _ => self.local.ok_or(NetError::InvalidState),
        }
    }

    pub(crate) fn remote_addr(&self) -> Result<SocketAddr, NetError> {
        match &self.role {
            Role::Conn(c) if c.phase != Phase::Closed => Ok(self.family.show(c.remote)),
            _ => Err(NetError::InvalidState),
        }
    }

    pub(crate) fn family(&self) -> Family {
        self.family
    }

    fn wake(&mut self, fx: Effects) {
        if fx.readable {
            self.readers.wake_all();
        }
        if fx.writable {
            self.writers.wake_all();
        }
    }
}

impl Network {
    /// Creates an unbound IPv4 TCP socket on `node`.
    pub fn tcp_socket(&mut self, node: NodeId) -> Result<SocketId, NetError> {
        self.tcp_socket_in(node, Family::Ipv4)
    }

    /// Creates an unbound TCP socket of `family` on `node`.
    pub fn tcp_socket_in(&mut self, node: NodeId, family: Family) -> Result<SocketId, NetError> {
        let n = self.host_mut(node)?.add_socket(Socket::Tcp(TcpSocket::new(family)))?;
        Ok(SocketId { node, n })
    }

    /// Binds `id` to `local` (port 0 picks an ephemeral port); returns the bound address.
    pub fn tcp_bind(&mut self, id: SocketId, local: impl Into<SocketAddr>) -> Result<SocketAddr, NetError> {
        let family = match self.host(id.node)?.sockets.get(&id.n) {
            Some(Socket::Tcp(s @ TcpSocket { local: None, role: Role::Fresh, .. })) => s.family,
            Some(Socket::Udp(_)) => return Err(NetError::InvalidArgument),
            _ => return Err(NetError::InvalidState),
        };
        let local = family.take(local.into())?;
        self.check_bindable(id.node, family, local.ip())?;
        let port = self.host_mut(id.node)?.bind_tcp(local.port())?;
        let bound = family.show(SocketAddr::new(local.ip(), port));
        self.tcp(id)?.local = Some(bound);
        Ok(bound)
    }

    /// Sets how many connections may wait to be accepted (plus those in their handshake).
    /// Takes effect at the next `listen`, or at once on a listener.
    pub fn tcp_set_backlog(&mut self, id: SocketId, backlog: u64) -> Result<(), NetError> {
        if backlog == 0 {
            return Err(NetError::InvalidArgument);
        }
        let s = self.tcp(id)?;
        s.backlog = u32::try_from(backlog).unwrap_or(u32::MAX);
        if let Role::Listener(l) = &mut s.role {
            l.backlog = s.backlog;
        }
        Ok(())
    }

    /// Starts listening on `id`, which must be bound.
    pub fn tcp_listen(&mut self, id: SocketId) -> Result<(), NetError> {
        let s = self.tcp(id)?;
        let (Some(local), Role::Fresh) = (s.local, &s.role) else { return Err(NetError::InvalidState) };
        let (backlog, family) = (s.backlog, s.family);
        self.hosts[id.node.index()].listen_tcp(family, local.port(), id.n)?;
        self.tcp(id)?.role = Role::Listener(Listener { backlog, ready: VecDeque::new(), half_open: 0 });
        Ok(())
    }

    /// Takes the next established connection from listener `id`, or
    /// `WouldBlock`; `NewSocketLimit`, leaving the connection queued, while
    /// the instance holds as many sockets as its limit allows (Linux's
    /// `EMFILE` from `accept` past `ulimit -n`).
    pub fn tcp_accept(&mut self, id: SocketId) -> Result<SocketId, NetError> {
        let s = self.tcp(id)?;
        let Role::Listener(l) = &mut s.role else { return Err(NetError::InvalidState) };
        if l.ready.is_empty() {
            return Err(NetError::WouldBlock);
        }
        let host = &mut self.hosts[id.node.index()];
        host.accept_unaccepted()?;
        let Some(Socket::Tcp(TcpSocket { role: Role::Listener(l), .. })) = host.sockets.get_mut(&id.n) else {
            unreachable!("the listener was found above")
        };
        let n = l.ready.pop_front().expect("the queue is not empty");
        if let Some(Socket::Tcp(child)) = host.sockets.get_mut(&n) {
            child.unaccepted = false;
            if let Role::Conn(c) = &mut child.role {
                c.listener = None;
            }
        }
        Ok(SocketId { node: id.node, n })
    }

    /// [`Network::tcp_accept`], registering `cx`'s waker while nothing is ready.
    pub fn tcp_poll_accept(&mut self, id: SocketId, cx: &mut Context<'_>) -> Poll<Result<SocketId, NetError>> {
        match self.tcp_accept(id) {
            Err(NetError::WouldBlock) => match self.poll_readable(id, cx) {
                Poll::Ready(()) => self.tcp_poll_accept(id, cx),
                Poll::Pending => Poll::Pending,
            },
            r => Poll::Ready(r),
        }
    }

    /// Starts connecting `id` to `remote`, binding an ephemeral port if unbound.
    /// Errors here are about the arguments or the socket's state; whether the
    /// connection succeeds is told by [`Network::tcp_finish_connect`] and
    /// [`Network::tcp_poll_connect`], possibly at once (see the module docs).
    pub fn tcp_connect(
        &mut self,
        cx: &mut NetCtx<'_>,
        id: SocketId,
        remote: impl Into<SocketAddr>,
    ) -> Result<(), NetError> {
        let s = self.tcp(id)?;
        let (family, bound) = (s.family, s.local.map(|l| l.ip()));
        let remote = this_host(family.take(remote.into())?, bound);
        // Port 0 is no error: nobody listens there, so the peer refuses the connection, as on Linux.
        check_host(remote.ip())?;
        match self.tcp(id)?.role {
            Role::Fresh => {}
            Role::Conn(ref c) if c.phase == Phase::SynSent => return Err(NetError::ConcurrencyConflict),
            _ => return Err(NetError::InvalidState),
        }
        let route = self.route(id.node, remote.ip());
        let bound = match self.tcp(id)?.local {
            Some(l) => family.take(l)?,
            None => {
                let port = self.hosts[id.node.index()].bind_tcp(0)?;
                let any = SocketAddr::new(family.unspecified(), port);
                self.tcp(id)?.local = Some(any);
                any
            }
        };
        let port = bound.port();
        let local_ip = self.source_ip(id.node, bound.ip(), remote.ip())?;
        let host = &mut self.hosts[id.node.index()];
        if host.tcp_conns.contains_key(&(port, remote)) {
            // Linux's EADDRNOTAVAIL, on which libp2p-tcp dials again from a fresh port.
            return Err(NetError::AddressNotBindable);
        }
        let local = SocketAddr::new(local_ip, port);
        let mut conn = Box::new(Conn::active(local, remote));
        host.tcp_conns.insert((port, remote), id.n);
        cx.record(id.node, "tcp.connect", format_args!("{remote}"));
        match route {
            Err(e) => {
                conn.fail(e, &mut Effects::default());
                self.tcp(id)?.role = Role::Conn(conn);
                self.tcp_closed(id);
                return Ok(());
            }
            Ok(Route::NoHost) => {
                cx.schedule(cx.now + UNREACHABLE_AFTER, id.node, Ev::ConnectFail(id, NetError::RemoteUnreachable))
            }
            Ok(_) => {}
        }
        let mut out = Vec::new();
        conn.open(cx.now, &mut out);
        self.tcp(id)?.role = Role::Conn(conn);
        self.tcp_flush(cx, id, out);
        Ok(())
    }

    /// The result of a connect: `WouldBlock` while in progress, `NotInProgress` if none was started.
    pub fn tcp_finish_connect(&mut self, id: SocketId) -> Result<(), NetError> {
        match &self.tcp(id)?.role {
            Role::Conn(c) => match c.phase {
                Phase::SynSent | Phase::SynReceived => Err(NetError::WouldBlock),
                Phase::Established => Ok(()),
                Phase::Closed => Err(c.error.unwrap_or(NetError::InvalidState)),
            },
            _ => Err(NetError::NotInProgress),
        }
    }

    /// [`Network::tcp_finish_connect`], registering `cx`'s waker while in progress.
    pub fn tcp_poll_connect(&mut self, id: SocketId, cx: &mut Context<'_>) -> Poll<Result<(), NetError>> {
        match self.tcp_finish_connect(id) {
            Err(NetError::WouldBlock) => {
                if let Ok(s) = self.tcp(id) {
                    s.writers.register(cx.waker());
                }
                Poll::Pending
            }
            r => Poll::Ready(r),
        }
    }

    /// `id`'s state.
    pub fn tcp_state(&mut self, id: SocketId) -> Result<TcpState, NetError> {
        Ok(self.tcp(id)?.state())
    }

    /// The smoothed round-trip time `id` measured, once it has.
    pub fn tcp_srtt(&mut self, id: SocketId) -> Option<Duration> {
        self.conn(id).ok().and_then(|c| c.srtt())
    }

    /// How many bytes [`Network::tcp_write`] would accept now: 0 while the send
    /// buffer is full (wait with [`Network::poll_writable`]).
    pub fn tcp_check_write(&mut self, id: SocketId) -> Result<usize, NetError> {
        let c = self.open_conn(id)?;
        if c.fin_queued {
            return Err(NetError::InvalidState);
        }
        Ok(c.send_capacity() as usize)
    }

    /// Queues as much of `data` as the send buffer has room for, sends what the
    /// windows allow, and returns how many bytes were taken. On a failed
    /// connection the first read or write says why (`connection-reset`,
    /// `timeout`…) and later writes are `invalid-state`, as a write after
    /// shutdown is: Linux's `ECONNRESET` once, then `EPIPE`.
    pub fn tcp_write(&mut self, cx: &mut NetCtx<'_>, id: SocketId, data: &[u8]) -> Result<usize, NetError> {
        let mut out = self.segment_buffer();
        let c = self.open_conn(id)?;
        if c.fin_queued {
            return Err(NetError::InvalidState);
        }
        let n = c.write(data);
        c.output(cx.now, &mut out);
        self.tcp_flush(cx, id, out);
        Ok(n)
    }

    /// Reads up to `max` bytes: `Some(bytes)` (empty if nothing has arrived
    /// yet; wait with [`Network::poll_readable`]), or `None` at end of stream.
    /// A failed connection fails one read or write with why, then reads end
    /// of stream (see [`Network::tcp_write`]).
    pub fn tcp_read(&mut self, cx: &mut NetCtx<'_>, id: SocketId, max: usize) -> Result<Option<Vec<u8>>, NetError> {
        if self.conn(id).is_ok_and(|c| c.failure_reported() && !c.orphan) {
            return Ok(None);
        }
        let mut out = self.segment_buffer();
        let c = self.open_conn(id)?;
        if c.rcv_shutdown || c.readable_bytes() == 0 {
            let nothing = if c.rcv_shutdown || c.fin_received { None } else { Some(Vec::new()) };
            self.keep_segment_buffer(out);
            return Ok(nothing);
        }
        let data = c.read(max, &mut out);
        self.tcp_flush(cx, id, out);
        Ok(Some(data))
    }

    /// What [`Network::tcp_read`] of `max` bytes would return, left for it
    /// (`MSG_PEEK`). A failure is reported, once, as a read reports it:
    /// Linux's peek takes a pending error too.
    pub fn tcp_peek(&mut self, id: SocketId, max: usize) -> Result<Option<Vec<u8>>, NetError> {
        if self.conn(id).is_ok_and(|c| c.failure_reported() && !c.orphan) {
            return Ok(None);
        }
        let c = self.open_conn(id)?;
        if c.rcv_shutdown || c.readable_bytes() == 0 {
            return Ok(if c.rcv_shutdown || c.fin_received { None } else { Some(Vec::new()) });
        }
        Ok(Some(c.peek(max)))
    }

    /// Closes one or both directions of connection `id`.
    pub fn tcp_shutdown(&mut self, cx: &mut NetCtx<'_>, id: SocketId, how: Shutdown) -> Result<(), NetError> {
        let c = self.open_conn(id)?;
        if matches!(how, Shutdown::Receive | Shutdown::Both) {
            c.shutdown_read();
        }
        if matches!(how, Shutdown::Send | Shutdown::Both) && !c.fin_queued {
            c.fin_queued = true;
            let mut out = Vec::new();
            c.output(cx.now, &mut out);
            self.tcp_flush(cx, id, out);
        }
        if let Ok(s) = self.tcp(id) {
            s.wake(Effects { readable: true, writable: true, ..Effects::default() });
        }
        Ok(())
    }

    /// Aborts connection `id` with an RST (what `SO_LINGER` 0 and close do):
    /// the peer's next read or write fails with `connection-reset`, and this
    /// socket's with `connection-aborted`.
    pub fn tcp_reset(&mut self, cx: &mut NetCtx<'_>, id: SocketId) -> Result<(), NetError> {
        let c = self.open_conn(id)?;
        let rst = c.rst();
        let mut fx = Effects::default();
        c.fail(NetError::ConnectionAborted, &mut fx);
        self.tcp_flush(cx, id, vec![rst]);
        if let Ok(s) = self.tcp(id) {
            s.wake(fx);
        }
        self.tcp_closed(id);
        Ok(())
    }

    pub(crate) fn tcp_close(&mut self, cx: &mut NetCtx<'_>, id: SocketId) {
        let Ok(s) = self.tcp(id) else { return };
        match &mut s.role {
            Role::Fresh => self.tcp_remove(id),
            Role::Listener(l) => {
                let waiting: Vec<u32> = l.ready.drain(..).collect();
                self.tcp_remove(id);
                for n in waiting {
                    let child = SocketId { node: id.node, n };
                    let _ = self.tcp_reset(cx, child);
                    self.tcp_remove(child);
                }
            }
            Role::Conn(c) => match c.phase {
                Phase::SynSent | Phase::Closed => self.tcp_remove(id),
                Phase::SynReceived | Phase::Established => {
                    // Closing with unread data resets the connection (RFC 2525 §2.17, as Linux
                    // does), and so does closing one more than the host keeps finishing.
                    let unread = c.readable_bytes() > 0 || c.phase == Phase::SynReceived;
                    if unread || !self.hosts[id.node.index()].adopt_orphan() {
                        let _ = self.tcp_reset(cx, id);
                        self.tcp_remove(id);
                        return;
                    }
                    let Ok(c) = self.conn(id) else { return };
                    c.orphan = true;
                    c.fin_queued = true;
                    let mut out = Vec::new();
                    c.output(cx.now, &mut out);
                    self.tcp_flush(cx, id, out);
                    self.tcp_reap(cx, id);
                }
            },
        }
    }

    /// A TCP packet arrived at its destination.
    pub(crate) fn tcp_arrive(&mut self, cx: &mut NetCtx<'_>, packet: Packet) -> Result<(), DropReason> {
        let Body::Tcp(seg) = packet.body else { unreachable!("tcp_arrive takes TCP packets") };
        let node = packet.dst_node;
        let host = &mut self.hosts[node.index()];
        if let Some(&n) = host.tcp_conns.get(&(packet.dst.port(), packet.src)) {
            let id = SocketId { node, n };
            let mut out = self.segment_buffer();
            let c = self.conn(id).expect("tcp_conns points at connections");
            if c.orphan && !seg.data.is_empty() {
                // Data for a socket nobody can read any more: reset, as Linux does after close.
                let rst = c.rst();
                c.fail(NetError::ConnectionAborted, &mut Effects::default());
                self.tcp_flush(cx, id, vec![rst]);
                self.tcp_remove(id);
                return Ok(());
            }
            let fx = c.on_segment(cx.now, seg, &mut out);
            self.tcp_flush(cx, id, out);
            self.tcp_effects(cx, id, fx);
            return Ok(());
        }
        let listener = Network::tcp_listener_for(host, packet.dst);
        match listener {
            Some(l) if seg.flags.has(Flags::SYN) && !seg.flags.has(Flags::ACK) => {
                self.tcp_syn(cx, SocketId { node, n: l }, &packet.dst, packet.src)
            }
            _ => {
                if !seg.flags.has(Flags::RST) {
                    let reply = Packet::stack_reply(node, packet.dst, packet.src, Body::Tcp(seg.reset_reply()));
                    let _ = self.transmit(cx, reply);
                }
                Err(DropReason::NoPort)
            }
        }
    }

    /// The listener that takes a SYN for `dst`: the listener of `dst`'s
    /// family on the port, or for IPv4 an IPv6 listener bound to `[::]`.
    fn tcp_listener_for(host: &super::host::Host, dst: SocketAddr) -> Option<u32> {
        if dst.is_ipv6() {
            return host.tcp6_listeners.get(&dst.port()).copied();
        }
        host.tcp_listeners.get(&dst.port()).copied().or_else(|| {
            let n = *host.tcp6_listeners.get(&dst.port())?;
            match host.sockets.get(&n) {
                Some(Socket::Tcp(s)) if s.local.is_some_and(|l| l.ip().is_unspecified()) => Some(n),
                _ => None,
            }
        })
    }

    /// A SYN reached listener `lid`.
    fn tcp_syn(
        &mut self,
        cx: &mut NetCtx<'_>,
        lid: SocketId,
        local: &SocketAddr,
        remote: SocketAddr,
    ) -> Result<(), DropReason> {
        let Ok(TcpSocket { role: Role::Listener(l), family, .. }) = self.tcp(lid) else {
            return Err(DropReason::NoPort);
        };
        let family = *family;
        if l.ready.len() as u64 + u64::from(l.half_open) >= u64::from(l.backlog) {
            // Linux ignores a SYN when the queue is full; the client retries.
            return Err(DropReason::Backlog);
        }
        let mut out = Vec::new();
        let conn = Conn::passive(*local, remote, lid.n, cx.now, &mut out);
        let mut child = TcpSocket::new(family);
        child.local = Some(family.show(*local));
        child.role = Role::Conn(Box::new(conn));
        child.unaccepted = true;
        let host = &mut self.hosts[lid.node.index()];
        // As many connections wait to be accepted as the socket limit allows: a full queue.
        let Some(n) = host.add_unaccepted(Socket::Tcp(child)) else { return Err(DropReason::Backlog) };
        host.share_tcp_port(local.port());
        host.tcp_conns.insert((local.port(), remote), n);
        // Counted once the connection exists, so that a refused SYN leaves no half-open count behind.
        if let Ok(TcpSocket { role: Role::Listener(l), .. }) = self.tcp(lid) {
            l.half_open += 1;
        }
        self.tcp_flush(cx, SocketId { node: lid.node, n }, out);
        Ok(())
    }

    pub(crate) fn tcp_timer(&mut self, cx: &mut NetCtx<'_>, id: SocketId) {
        let Ok(c) = self.conn(id) else { return };
        if c.timer_armed == Some(cx.now) {
            c.timer_armed = None;
        }
        if c.rto_deadline.is_none_or(|d| d > cx.now) {
            self.tcp_sync_timer(cx, id);
            return;
        }
        if c.orphan && c.fin_acked {
            // FIN_WAIT2 timed out: the peer never closed its side.
            self.tcp_closed(id);
            self.tcp_remove(id);
            return;
        }
        let mut out = self.segment_buffer();
        let Ok(c) = self.conn(id) else { return };
        let fx = c.on_timer(cx.now, &mut out);
        self.tcp_flush(cx, id, out);
        self.tcp_effects(cx, id, fx);
    }

    pub(crate) fn tcp_connect_failed(&mut self, cx: &mut NetCtx<'_>, id: SocketId, err: NetError) {
        let Ok(c) = self.conn(id) else { return };
        if c.phase != Phase::SynSent {
            return;
        }
        let mut fx = Effects::default();
        c.fail(err, &mut fx);
        self.tcp_effects(cx, id, fx);
    }

    /// Acts on what a connection reported: queue it on its listener, wake tasks, clean up.
    fn tcp_effects(&mut self, cx: &mut NetCtx<'_>, id: SocketId, fx: Effects) {
        if fx.established
            && let Some(l) = self.conn(id).ok().and_then(|c| c.listener.take())
        {
            let lid = SocketId { node: id.node, n: l };
            match self.tcp(lid) {
                Ok(TcpSocket { role: Role::Listener(listener), readers, .. }) => {
                    listener.half_open -= 1;
                    listener.ready.push_back(id.n);
                    readers.wake_all();
                }
                _ => {
                    // The listener closed during the handshake.
                    let _ = self.tcp_reset(cx, id);
                    self.tcp_remove(id);
                    return;
                }
            }
        }
        if fx.closed {
            self.tcp_closed(id);
        }
        if let Ok(s) = self.tcp(id) {
            s.wake(fx);
        }
        self.tcp_sync_timer(cx, id);
        self.tcp_reap(cx, id);
    }

    /// Sends `segments` from connection `id`; a SYN refused by a `Reject` filter fails the connect.
    /// Arms the connection's timer in any case: sending nothing may still
    /// have set a deadline (the persist timer of a zero window).
    fn tcp_flush(&mut self, cx: &mut NetCtx<'_>, id: SocketId, mut segments: Vec<Segment>) {
        if segments.is_empty() {
            self.keep_segment_buffer(segments);
            self.tcp_sync_timer(cx, id);
            return;
        }
        let Ok(c) = self.conn(id) else { return };
        let (src, dst) = (c.local, c.remote);
        // One route for the whole flush: sending changes no address. Working
        // it out before the segments are read back also gives the stores that
        // wrote them time to reach the cache (a load that spans two pending
        // stores waits for both).
        let route = self.route(id.node, dst.ip());
        let mut rejected = false;
        for seg in segments.drain(..) {
            let syn = seg.flags.has(Flags::SYN);
            let packet =
                Packet { src_node: id.node, dst_node: NodeId::SIM, src, dst, body: Body::Tcp(seg), corrupted: false };
            if self.transmit_routed(cx, packet, route) == Err(Rejected) && syn {
                rejected = true;
            }
        }
        self.keep_segment_buffer(segments);
        if rejected
            && let Ok(c) = self.conn(id)
            && c.phase == Phase::SynSent
        {
            let mut fx = Effects::default();
            c.fail(NetError::ConnectionRefused, &mut fx);
            self.tcp_effects(cx, id, fx);
            return;
        }
        self.tcp_sync_timer(cx, id);
    }

    /// An empty vector to collect a connection's segments in: the one the
    /// last flush emptied, so that a segment sent costs no allocation.
    fn segment_buffer(&mut self) -> Vec<Segment> {
        std::mem::take(&mut self.spare_segments)
    }

    /// Keeps `segments`, emptied, for [`Network::segment_buffer`].
    fn keep_segment_buffer(&mut self, mut segments: Vec<Segment>) {
        segments.clear();
        if segments.capacity() > self.spare_segments.capacity() {
            self.spare_segments = segments;
        }
    }

    /// Makes sure a timer event is queued no later than the connection's deadline.
    fn tcp_sync_timer(&mut self, cx: &mut NetCtx<'_>, id: SocketId) {
        let Ok(c) = self.conn(id) else { return };
        if let Some(deadline) = c.rto_deadline
            && c.timer_armed.is_none_or(|armed| armed > deadline)
        {
            c.timer_armed = Some(deadline);
            cx.schedule(deadline, id.node, Ev::TcpTimer(id));
        }
    }

    /// A connection ended: its 4-tuple no longer receives segments.
    fn tcp_closed(&mut self, id: SocketId) {
        let Ok(c) = self.conn(id) else { return };
        let key = (c.local.port(), c.remote);
        let listener = c.listener.take();
        let host = &mut self.hosts[id.node.index()];
        if host.tcp_conns.get(&key) == Some(&id.n) {
            host.tcp_conns.remove(&key);
        }
        if let Some(l) = listener {
            if let Ok(TcpSocket { role: Role::Listener(listener), .. }) = self.tcp(SocketId { node: id.node, n: l }) {
                listener.half_open -= 1;
            }
            // Nobody holds a handle to an unaccepted connection.
            self.tcp_remove(id);
        }
    }

    /// Removes an orphaned connection once it has nothing left to do, or starts
    /// the FIN_WAIT2 timeout when only the peer's FIN is missing.
    fn tcp_reap(&mut self, cx: &mut NetCtx<'_>, id: SocketId) {
        let Ok(c) = self.conn(id) else { return };
        if !c.orphan {
            return;
        }
        if c.phase == Phase::Closed || c.finished() {
            self.tcp_closed(id);
            self.tcp_remove(id);
        } else if c.fin_acked && c.rto_deadline.is_none() {
            c.rto_deadline = Some(cx.now + FIN_WAIT2_TIMEOUT);
            self.tcp_sync_timer(cx, id);
        }
    }

    /// Forgets socket `id` and frees its port.
    fn tcp_remove(&mut self, id: SocketId) {
        let host = &mut self.hosts[id.node.index()];
        let Some(Socket::Tcp(s)) = host.sockets.remove(&id.n) else { return };
        if s.unaccepted {
            host.forget_unaccepted();
        }
        if matches!(&s.role, Role::Conn(c) if c.orphan) {
            host.forget_orphan();
        }
        match &s.role {
            Role::Listener(_) => {
                let table = host.listener_table(s.family);
                if let Some(l) = s.local
                    && table.get(&l.port()) == Some(&id.n)
                {
                    table.remove(&l.port());
                }
            }
            Role::Conn(c) => {
                let key = (c.local.port(), c.remote);
                if host.tcp_conns.get(&key) == Some(&id.n) {
                    host.tcp_conns.remove(&key);
                }
            }
            Role::Fresh => {}
        }
        if let Some(l) = s.local {
            host.release_tcp_port(l.port());
        }
    }

    fn tcp(&mut self, id: SocketId) -> Result<&mut TcpSocket, NetError> {
        match self.socket_mut(id)? {
            Socket::Tcp(s) => Ok(s),
            Socket::Udp(_) => Err(NetError::InvalidArgument),
        }
    }

    fn conn(&mut self, id: SocketId) -> Result<&mut Conn, NetError> {
        match &mut self.tcp(id)?.role {
            Role::Conn(c) => Ok(c),
            _ => Err(NetError::InvalidState),
        }
    }

    /// The connection behind a stream operation: established, or its error.
    fn open_conn(&mut self, id: SocketId) -> Result<&mut Conn, NetError> {
        let c = self.conn(id)?;
        if c.orphan {
            return Err(NetError::InvalidState);
        }
        match c.phase {
            Phase::Established => Ok(c),
            Phase::Closed => Err(c.take_error().unwrap_or(NetError::InvalidState)),
            Phase::SynSent | Phase::SynReceived => Err(NetError::InvalidState),
        }
    }
}
