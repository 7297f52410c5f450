//! The simulated data network: one IPv4 address per instance, shaped links,
//! UDP datagrams and TCP streams, all on virtual time.
//!
//! Map of the module, in the order a packet meets it:
//!
//! - [`addr`]: the address plan (`16.0.0.2` is instance 0) and name resolution.
//! - [`config`]: [`LinkShape`], [`LinkRule`], [`Filter`], [`RoutingPolicy`] — what a user configures.
//! - [`rule`]: the one decision every packet goes through ([`Verdict`]); also the
//!   per-pair override table that fault injection builds on.
//! - [`link`]: a sender's egress link: serialization, queueing, loss, jitter…
//! - [`fabric`]: moves packets between hosts and keeps the totals.
//! - `host`, `socket`: an instance's socket table and ports.
//! - [`udp`], [`tcp`]: the protocols, as operations on [`Network`].
//!
//! Start with [`Network`]: every socket operation is a method on it taking a
//! [`NetCtx`] (the current time, a way to schedule events, the trace). Inside
//! a run, [`crate::Sim::with_net`] builds that context. Operations never block:
//! they return [`NetError::WouldBlock`] (or an empty read) and the caller waits
//! with a `poll_*` method, which registers the task's waker and is woken by the
//! event that makes the socket ready.
//!
//! The network knows nothing of wasm or WASI; [`NetError`] just happens to have
//! one variant per `wasi:sockets` error code.

pub mod addr;
pub mod config;
mod error;
pub mod fabric;
mod host;
pub mod link;
pub mod packet;
pub mod rule;
mod socket;
pub mod tcp;
pub mod udp;

pub use addr::{addr_of, node_of, resolve};
pub use config::{Filter, LinkRule, LinkShape, NetworkConfig, RoutingPolicy};
pub use error::NetError;
pub use fabric::NetStats;
pub use rule::{DropReason, PathOverrides, Verdict};
pub use socket::SocketId;
pub use tcp::{Shutdown, TcpState};
pub use udp::{Datagram, MAX_DATAGRAM};

use crate::event::EventQueue;
use crate::node::NodeId;
use crate::rng::RngStream;
use crate::time::SimTime;
use crate::trace::Trace;
use host::Host;
use packet::Packet;
use socket::Socket;
use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::task::{Context, Poll};

/// Where network events go: the run's event queue, or any queue of events
/// that can hold a [`NetEvent`].
pub trait NetScheduler {
    /// Schedules `event` at `at` on behalf of `source`.
    fn schedule_net(&mut self, at: SimTime, source: NodeId, event: NetEvent);
}

impl<E: From<NetEvent>> NetScheduler for EventQueue<E> {
    fn schedule_net(&mut self, at: SimTime, source: NodeId, event: NetEvent) {
        self.schedule(at, source, event.into());
    }
}

/// What a network operation needs from the world around it: the time, the
/// event queue, and the trace.
pub struct NetCtx<'a> {
    now: SimTime,
    queue: &'a mut dyn NetScheduler,
    trace: &'a mut Trace,
}

impl<'a> NetCtx<'a> {
    /// A context at `now` scheduling into `queue` and recording into `trace`.
    pub fn new(now: SimTime, queue: &'a mut dyn NetScheduler, trace: &'a mut Trace) -> NetCtx<'a> {
        NetCtx { now, queue, trace }
    }

    /// The current virtual time.
    pub fn now(&self) -> SimTime {
        self.now
    }

    fn schedule(&mut self, at: SimTime, source: NodeId, event: Ev) {
        self.queue.schedule_net(at, source, NetEvent(event));
    }

    fn record(&mut self, node: NodeId, kind: &str, detail: fmt::Arguments<'_>) {
        self.trace.record(self.now, node, kind, detail);
    }
}

/// A network event waiting in the run's queue: a packet arriving or a timer.
/// Hand it back to [`Network::handle`] when its time comes.
pub struct NetEvent(Ev);

enum Ev {
    Arrive(Box<Packet>),
    TcpTimer(SocketId),
    ConnectFail(SocketId, NetError),
}

impl NetEvent {
    /// The event of `packet` arriving at its destination.
    pub fn arrival(packet: Packet) -> NetEvent {
        NetEvent(Ev::Arrive(Box::new(packet)))
    }

    /// The instance a packet arrives at; `None` for timers, which always
    /// belong to the instance that set them.
    pub fn destination(&self) -> Option<NodeId> {
        match &self.0 {
            Ev::Arrive(p) => Some(p.dst_node),
            Ev::TcpTimer(_) | Ev::ConnectFail(..) => None,
        }
    }

    /// The arriving packet, or the event itself if it is not an arrival.
    pub fn into_packet(self) -> Result<Packet, NetEvent> {
        match self.0 {
            Ev::Arrive(p) => Ok(*p),
            other => Err(NetEvent(other)),
        }
    }
}

impl fmt::Debug for NetEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Ev::Arrive(p) => write!(f, "Arrive({} {} -> {})", p.proto(), p.src, p.dst),
            Ev::TcpTimer(s) => write!(f, "TcpTimer({s})"),
            Ev::ConnectFail(s, e) => write!(f, "ConnectFail({s}, {e})"),
        }
    }
}

/// The data network of one run.
pub struct Network {
    seed: u64,
    hosts: Vec<Host>,
    overrides: PathOverrides,
    /// Packets held by clogged paths, per path, in the order they were sent.
    held: BTreeMap<(NodeId, NodeId), Vec<packet::Packet>>,
    stats: NetStats,
}

impl Network {
    /// A network of `instances` instances, all configured with `config`, whose
    /// random decisions derive from `seed`.
    pub fn new(instances: u32, seed: u64, config: &NetworkConfig) -> Network {
        let mut config = config.clone();
        rule::sort_rules(&mut config);
        let config = Arc::new(config);
        let hosts = (0..instances)
            .map(|n| {
                let node = NodeId(n);
                Host::new(addr_of(node), config.clone(), RngStream::derive(seed, "net", u64::from(n)))
            })
            .collect();
        Network { seed, hosts, overrides: PathOverrides::default(), held: BTreeMap::new(), stats: NetStats::default() }
    }

    /// The seed the network's random streams derive from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// How many instances the network has.
    pub fn instances(&self) -> u32 {
        self.hosts.len() as u32
    }

    /// The instance with address `ip`, if it exists in this run.
    pub fn node_of(&self, ip: Ipv4Addr) -> Option<NodeId> {
        node_of(ip).filter(|n| n.index() < self.hosts.len())
    }

    /// Resolves `name` (see [`resolve`]) to its addresses.
    pub fn resolve(&self, name: &str) -> Result<Vec<Ipv4Addr>, NetError> {
        resolve(name, self.instances()).map(|ip| vec![ip]).ok_or(NetError::NameUnresolvable)
    }

    /// Replaces `node`'s network configuration. Packets already sent keep the
    /// fate they were given; everything sent from now on follows `config`.
    pub fn configure(&mut self, cx: &mut NetCtx<'_>, node: NodeId, mut config: NetworkConfig) {
        rule::sort_rules(&mut config);
        cx.record(node, "net.config", format_args!("rules={} routing={:?}", config.rules.len(), config.routing));
        self.hosts[node.index()].config = Arc::new(config);
    }

    /// `node`'s current network configuration.
    pub fn config(&self, node: NodeId) -> &NetworkConfig {
        &self.hosts[node.index()].config
    }

    /// Overrides every rule for packets from `src` to `dst` (`None` removes the
    /// override). This is the hook for partitions: `Drop` both ways is a split brain.
    pub fn set_path_filter(&mut self, src: NodeId, dst: NodeId, filter: Option<Filter>) {
        self.overrides.set(src, dst, filter);
    }

    /// Clogs the path from `src` to `dst` (its packets are held, as by a
    /// congested or paused link), or releases it: held packets then leave in
    /// the order they were sent, through the path's current rules and link.
    pub fn set_clog(&mut self, cx: &mut NetCtx<'_>, src: NodeId, dst: NodeId, clogged: bool) {
        self.overrides.clog(src, dst, clogged);
        if !clogged {
            for packet in self.held.remove(&(src, dst)).unwrap_or_default() {
                // A held packet the rules now reject is dropped, like any other.
                let _ = self.forward(cx, packet);
            }
        }
    }

    /// An instance crashes: its sockets vanish without a packet sent, as when a
    /// machine loses power. Peers learn of it from what happens to their next
    /// packets (a reset from the empty port, or silence). Socket numbers are not
    /// reused, so events already scheduled for the old sockets find nothing.
    pub fn crash_node(&mut self, cx: &mut NetCtx<'_>, node: NodeId) {
        if let Some(host) = self.hosts.get_mut(node.index()) {
            let sockets = host.crash();
            cx.record(node, "net.crash", format_args!("sockets={sockets}"));
        }
    }

    /// Totals of packets and bytes so far.
    pub fn stats(&self) -> NetStats {
        self.stats
    }

    /// Processes a network event whose time has come.
    pub fn handle(&mut self, cx: &mut NetCtx<'_>, event: NetEvent) {
        match event.0 {
            Ev::Arrive(packet) => self.arrive(cx, *packet),
            Ev::TcpTimer(id) => self.tcp_timer(cx, id),
            Ev::ConnectFail(id, err) => self.tcp_connect_failed(cx, id, err),
        }
    }

    /// Ready when a read on `id` would not block: data, a datagram, an
    /// incoming connection, a finished connect, end of stream, or an error.
    pub fn poll_readable(&mut self, id: SocketId, cx: &mut Context<'_>) -> Poll<()> {
        match self.socket_mut(id) {
            Ok(Socket::Udp(s)) => s.poll_readable(cx),
            Ok(Socket::Tcp(s)) => s.poll_readable(cx),
            Err(_) => Poll::Ready(()),
        }
    }

    /// Ready when a write on `id` would not block: send-buffer space, a
    /// finished connect, or an error. UDP sockets are always writable.
    pub fn poll_writable(&mut self, id: SocketId, cx: &mut Context<'_>) -> Poll<()> {
        match self.socket_mut(id) {
            Ok(Socket::Udp(_)) | Err(_) => Poll::Ready(()),
            Ok(Socket::Tcp(s)) => s.poll_writable(cx),
        }
    }

    /// Closes socket `id` (the handle is dropped). A TCP connection finishes
    /// sending what was written and then closes, or resets if unread data is
    /// left, as Linux does; a listener resets its unaccepted connections.
    pub fn close(&mut self, cx: &mut NetCtx<'_>, id: SocketId) {
        let Ok(socket) = self.socket_mut(id) else { return };
        match socket {
            Socket::Udp(_) => self.udp_close(id),
            Socket::Tcp(_) => self.tcp_close(cx, id),
        }
    }

    /// The local address `id` is bound to.
    pub fn local_addr(&self, id: SocketId) -> Result<SocketAddrV4, NetError> {
        let host = self.host(id.node)?;
        match host.sockets.get(&id.n).ok_or(NetError::InvalidState)? {
            Socket::Udp(s) => s.local_addr(),
            Socket::Tcp(s) => s.local_addr(),
        }
    }

    /// The remote address `id` is connected to.
    pub fn remote_addr(&self, id: SocketId) -> Result<SocketAddrV4, NetError> {
        let host = self.host(id.node)?;
        match host.sockets.get(&id.n).ok_or(NetError::InvalidState)? {
            Socket::Udp(s) => s.remote_addr(),
            Socket::Tcp(s) => s.remote_addr(),
        }
    }

    fn host(&self, node: NodeId) -> Result<&Host, NetError> {
        self.hosts.get(node.index()).ok_or(NetError::InvalidArgument)
    }

    fn host_mut(&mut self, node: NodeId) -> Result<&mut Host, NetError> {
        self.hosts.get_mut(node.index()).ok_or(NetError::InvalidArgument)
    }

    fn socket_mut(&mut self, id: SocketId) -> Result<&mut Socket, NetError> {
        self.host_mut(id.node)?.sockets.get_mut(&id.n).ok_or(NetError::InvalidState)
    }
}
