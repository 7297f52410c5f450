//! UDP: datagrams through the shaped path into bounded per-socket queues.
//!
//! A datagram is one packet: the link may lose, duplicate, corrupt or delay
//! it, and the receiving socket drops it when its queue is full, as a kernel
//! does. Nothing is retransmitted or reassembled. Routing and shaping are the
//! fabric's business.
//!
//! A datagram to a port where no socket takes it is answered, as Linux
//! answers, with an ICMP port-unreachable packet ([`Body::Icmp`]), itself a
//! packet on the shaped path (it can be lost or filtered). A socket connected
//! to the refusing address keeps the refusal as its pending error, which the
//! next receive or send reports once as `connection-refused`; an unconnected
//! socket ignores it, as Linux's does without `IP_RECVERR`.

use super::packet::{Body, Icmp, Packet};
use super::rule::DropReason;
use super::socket::{Family, Socket, WakerSet};
use super::{NetCtx, NetError, Network, SocketId};
use crate::node::NodeId;
use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::task::{Context, Poll};
use std::time::Duration;

/// Largest UDP payload: 65,535 bytes of IPv4 packet minus 20 of IP and 8 of UDP header.
pub const MAX_DATAGRAM: usize = 65_507;

/// Payload bytes a socket queues before it drops arrivals: Linux's default
/// `net.core.rmem_default` (212,992).
pub const UDP_RECV_QUEUE_BYTES: usize = 212_992;

/// How often one instance may answer one destination with an ICMP error:
/// Linux's `net.ipv4.icmp_ratelimit` (1000 ms), for the message types in its
/// default `icmp_ratemask`, port unreachable among them.
pub const ICMP_RATE_INTERVAL: Duration = Duration::from_secs(1);

/// How many ICMP errors to one destination may go in a burst: Linux's
/// `XRLIM_BURST_FACTOR`. Linux does not limit what it sends over loopback,
/// nor does this (an instance answering itself); its global
/// `icmp_msgs_per_sec` limit is not modelled.
pub const ICMP_RATE_BURST: u32 = 6;

/// How many datagrams ahead of a receive their allocations are fetched.
const RECV_AHEAD: usize = 3;

/// A received datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Datagram {
    /// Who sent it (for an IPv6 socket, IPv4 senders as IPv4-mapped addresses).
    pub from: SocketAddr,
    /// Its payload.
    pub data: Vec<u8>,
}

pub(crate) struct UdpSocket {
    family: Family,
    /// The bound address, as bound.
    local: Option<SocketAddr>,
    /// The peer, in the form packets carry (IPv4 for an IPv4-mapped peer).
    remote: Option<SocketAddr>,
    /// The address datagrams to `remote` leave from, once connected.
    source: Option<IpAddr>,
    /// An error the network reported, not yet returned by a receive or send (Linux's `sk_err`).
    error: Option<NetError>,
    queue: VecDeque<Datagram>,
    queued_bytes: usize,
    readers: WakerSet,
}

impl UdpSocket {
    pub(crate) fn poll_readable(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.queue.is_empty() && self.error.is_none() {
            self.readers.register(cx.waker());
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }

    /// The bound address; once connected, with the unspecified address
    /// replaced by the one datagrams leave from, as Linux reports it.
    pub(crate) fn local_addr(&self) -> Result<SocketAddr, NetError> {
        let local = self.local.ok_or(NetError::InvalidState)?;
        Ok(match self.source {
            Some(ip) if local.ip().is_unspecified() => self.family.show(SocketAddr::new(ip, local.port())),
            _ => local,
        })
    }

    pub(crate) fn remote_addr(&self) -> Result<SocketAddr, NetError> {
        self.remote.map(|r| self.family.show(r)).ok_or(NetError::InvalidState)
    }

    pub(crate) fn family(&self) -> Family {
        self.family
    }
}

impl Network {
    /// Creates an unbound IPv4 UDP socket on `node`.
    pub fn udp_socket(&mut self, node: crate::NodeId) -> Result<SocketId, NetError> {
        self.udp_socket_in(node, Family::Ipv4)
    }

    /// Creates an unbound UDP socket of `family` on `node`.
    pub fn udp_socket_in(&mut self, node: crate::NodeId, family: Family) -> Result<SocketId, NetError> {
        let socket = UdpSocket {
            family,
            local: None,
            remote: None,
            source: None,
            error: None,
            queue: VecDeque::new(),
            queued_bytes: 0,
            readers: WakerSet::default(),
        };
        let n = self.host_mut(node)?.add_socket(Socket::Udp(socket))?;
        Ok(SocketId { node, n })
    }

    /// Binds `id` to `local` (port 0 picks an ephemeral port) and returns the bound address.
    pub fn udp_bind(&mut self, id: SocketId, local: impl Into<SocketAddr>) -> Result<SocketAddr, NetError> {
        let family = match self.host(id.node)?.sockets.get(&id.n) {
            Some(Socket::Udp(s)) if s.local.is_none() => s.family,
            Some(Socket::Udp(_)) => return Err(NetError::InvalidState),
            _ => return Err(NetError::InvalidState),
        };
        let local = family.take(local.into())?;
        self.check_bindable(id.node, family, local.ip())?;
        let host = self.host_mut(id.node)?;
        let port = host.bind_udp(family, local.port(), id.n)?;
        let bound = SocketAddr::new(local.ip(), port);
        if let Some(Socket::Udp(s)) = host.sockets.get_mut(&id.n) {
            s.local = Some(bound);
        }
        Ok(family.show(bound))
    }

    /// Restricts `id` to one peer (`wasi:sockets` `stream(remote)`): sends
    /// without a destination go there, and datagrams from anyone else are
    /// dropped. `None` lifts the restriction. Binds an ephemeral port if unbound.
    pub fn udp_connect(&mut self, id: SocketId, remote: Option<SocketAddr>) -> Result<(), NetError> {
        let s = self.udp(id)?;
        let (family, bound) = (s.family, s.local.map(|l| l.ip()));
        let remote = remote.map(|r| family.take(r).map(|r| this_host(r, bound))).transpose()?;
        if let Some(r) = remote {
            check_destination(r)?;
        }
        let local = self.udp_ensure_bound(id)?;
        let source = remote.map(|r| self.source_ip(id.node, local.ip(), r.ip())).transpose()?;
        let s = self.udp(id)?;
        s.remote = remote;
        s.source = source;
        Ok(())
    }

    /// Sends `data` to `dst` through `id`'s node's egress link, binding an
    /// ephemeral port first if needed. Success means the datagram left the
    /// socket, not that it will arrive.
    pub fn udp_send_to(
        &mut self,
        cx: &mut NetCtx<'_>,
        id: SocketId,
        dst: Option<SocketAddr>,
        data: &[u8],
    ) -> Result<(), NetError> {
        if data.len() > MAX_DATAGRAM {
            return Err(NetError::DatagramTooLarge);
        }
        let s = self.udp(id)?;
        let (family, bound) = (s.family, s.local);
        let dst = dst.map(|d| family.take(d)).transpose()?;
        let local = match bound {
            Some(local) => local,
            None => self.udp_ensure_bound(id)?,
        };
        let s = self.udp(id)?;
        if let Some(e) = s.error.take() {
            return Err(e);
        }
        let remote = s.remote;
        // A connected socket may still send elsewhere, as on Linux: the peer
        // is the default destination and the only sender it hears.
        let dst = match (dst, remote) {
            (Some(d), _) | (None, Some(d)) => this_host(d, Some(local.ip())),
            (None, None) => return Err(NetError::InvalidArgument),
        };
        check_destination(dst)?;
        let src_ip = self.source_ip(id.node, local.ip(), dst.ip())?;
        // Where it goes is the fabric's business; only an address no network
        // has is refused here, as Linux refuses it without a route.
        let route = self.route(id.node, dst.ip())?;
        let packet = Packet {
            src_node: id.node,
            dst_node: crate::NodeId::SIM,
            src: SocketAddr::new(src_ip, local.port()),
            dst,
            body: Body::Udp(data.to_vec()),
            corrupted: false,
        };
        // A rejected datagram just vanishes: unconnected UDP never hears of ICMP errors.
        let _ = self.transmit_routed(cx, packet, Ok(route));
        Ok(())
    }

    /// The next queued datagram, if any; a pending error comes first, once.
    pub fn udp_try_recv(&mut self, id: SocketId) -> Result<Option<Datagram>, NetError> {
        let s = self.udp_to_receive(id)?;
        let d = s.queue.pop_front();
        if let Some(d) = &d {
            s.queued_bytes -= d.data.len();
        }
        if let Some(ahead) = s.queue.get(RECV_AHEAD - 1)
            && !ahead.data.is_empty()
        {
            // Readers drain a queue in a row, and a datagram's allocation has
            // not been touched since it was sent: have one a few places on
            // its way, so that it has arrived by the time it is freed.
            crate::prefetch::prefetch_allocation(&ahead.data);
        }
        let family = s.family;
        Ok(d.map(|d| Datagram { from: family.show(d.from), ..d }))
    }

    /// A copy of the datagram [`Network::udp_try_recv`] would return, left
    /// queued (`MSG_PEEK`); a pending error is reported and taken, as there.
    pub fn udp_peek(&mut self, id: SocketId) -> Result<Option<Datagram>, NetError> {
        let s = self.udp_to_receive(id)?;
        let family = s.family;
        Ok(s.queue.front().map(|d| Datagram { from: family.show(d.from), ..d.clone() }))
    }

    /// Socket `id`, checked as a receive checks it: bound, and with no
    /// pending error (which is taken and returned, once).
    fn udp_to_receive(&mut self, id: SocketId) -> Result<&mut UdpSocket, NetError> {
        let s = self.udp(id)?;
        if s.local.is_none() {
            return Err(NetError::InvalidState);
        }
        if let Some(e) = s.error.take() {
            return Err(e);
        }
        Ok(s)
    }

    /// The next datagram, registering `cx`'s waker if none is queued.
    pub fn udp_poll_recv(&mut self, id: SocketId, cx: &mut Context<'_>) -> Poll<Result<Datagram, NetError>> {
        match self.udp_try_recv(id) {
            Ok(Some(d)) => Poll::Ready(Ok(d)),
            Ok(None) => {
                if let Ok(s) = self.udp(id) {
                    s.readers.register(cx.waker());
                }
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    pub(crate) fn udp_close(&mut self, id: SocketId) {
        let host = &mut self.hosts[id.node.index()];
        if let Some(Socket::Udp(s)) = host.sockets.remove(&id.n)
            && let Some(local) = s.local
        {
            host.udp_table(s.family).remove(local.port());
        }
    }

    /// The UDP socket that takes what arrives for `dst`: the socket of
    /// `dst`'s family with the port, or for IPv4 an IPv6 socket bound to `[::]`.
    pub(super) fn udp_receiver(host: &super::host::Host, dst: SocketAddr) -> Option<u32> {
        if dst.is_ipv6() {
            return host.udp6_ports.get(dst.port());
        }
        host.udp_ports.get(dst.port()).or_else(|| {
            let n = host.udp6_ports.get(dst.port())?;
            match host.sockets.get(&n) {
                Some(Socket::Udp(s)) if s.local.is_some_and(|l| l.ip().is_unspecified()) => Some(n),
                _ => None,
            }
        })
    }

    pub(crate) fn udp_arrive(&mut self, cx: &mut NetCtx<'_>, packet: Packet) -> Result<(), DropReason> {
        let Body::Udp(data) = packet.body else { unreachable!("udp_arrive takes UDP packets") };
        let host = &mut self.hosts[packet.dst_node.index()];
        let receiver = Network::udp_receiver(host, packet.dst);
        let s = match receiver.and_then(|n| host.sockets.get_mut(&n)) {
            // A connected socket takes datagrams from its peer only; from anyone
            // else the port is as closed as if it had no socket, as on Linux.
            Some(Socket::Udp(s)) if s.remote.is_none_or(|r| r == packet.src) => s,
            _ => {
                self.icmp_port_unreachable(cx, packet.dst_node, packet.dst, packet.src_node, packet.src);
                return Err(DropReason::NoPort);
            }
        };
        if s.queued_bytes + data.len() > UDP_RECV_QUEUE_BYTES {
            return Err(DropReason::RecvQueueFull);
        }
        s.queued_bytes += data.len();
        s.queue.push_back(Datagram { from: packet.src, data });
        s.readers.wake_all();
        Ok(())
    }

    /// `node` answers a datagram from `to` that no socket at `unreachable`
    /// takes, unless it has answered `to`'s address too often lately.
    pub(crate) fn icmp_port_unreachable(
        &mut self,
        cx: &mut NetCtx<'_>,
        node: NodeId,
        unreachable: SocketAddr,
        to_node: NodeId,
        to: SocketAddr,
    ) {
        if to_node != node && !self.hosts[node.index()].icmp_allowed(to.ip(), cx.now()) {
            return;
        }
        let reply = Packet {
            src_node: node,
            dst_node: to_node,
            src: unreachable,
            dst: to,
            body: Body::Icmp(Icmp::PortUnreachable),
            corrupted: false,
        };
        // A refused answer is lost like any other: nobody retries an ICMP error.
        let _ = self.transmit(cx, reply);
    }

    /// An ICMP error reached the instance that sent the datagram it answers:
    /// the socket that sent it, if connected to the address that refused,
    /// keeps the refusal for its next receive or send.
    pub(crate) fn icmp_arrive(&mut self, packet: Packet) -> Result<(), DropReason> {
        let Body::Icmp(Icmp::PortUnreachable) = packet.body else { unreachable!("icmp_arrive takes ICMP packets") };
        let host = &mut self.hosts[packet.dst_node.index()];
        let n = Network::udp_receiver(host, packet.dst).ok_or(DropReason::NoPort)?;
        match host.sockets.get_mut(&n) {
            Some(Socket::Udp(s)) if s.remote == Some(packet.src) => {
                s.error = Some(NetError::ConnectionRefused);
                s.readers.wake_all();
                Ok(())
            }
            _ => Err(DropReason::NoPort),
        }
    }

    fn udp(&mut self, id: SocketId) -> Result<&mut UdpSocket, NetError> {
        match self.socket_mut(id)? {
            Socket::Udp(s) => Ok(s),
            Socket::Tcp(_) => Err(NetError::InvalidArgument),
        }
    }

    /// The bound address as bound (not as reported), binding an ephemeral port first if needed.
    fn udp_ensure_bound(&mut self, id: SocketId) -> Result<SocketAddr, NetError> {
        let s = self.udp(id)?;
        if let Some(l) = s.local {
            return Ok(l);
        }
        let any = SocketAddr::new(s.family.unspecified(), 0);
        self.udp_bind(id, any)?;
        self.udp(id)?.local.ok_or(NetError::InvalidState)
    }
}

/// A datagram's destination must name a port (Linux's `EINVAL`) and a host.
pub(crate) fn check_destination(dst: SocketAddr) -> Result<(), NetError> {
    if dst.port() == 0 {
        return Err(NetError::InvalidArgument);
    }
    check_host(dst.ip())
}

/// A destination must be one host: not broadcast, not multicast (the
/// simulated network carries neither), not unspecified (see [`this_host`]).
pub(crate) fn check_host(ip: IpAddr) -> Result<(), NetError> {
    let bad_ip = match ip {
        IpAddr::V4(ip) => ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast(),
        IpAddr::V6(ip) => ip.is_unspecified() || ip.is_multicast(),
    };
    if bad_ip { Err(NetError::InvalidArgument) } else { Ok(()) }
}

/// `dst`, with an unspecified address taken for this host, as Linux takes
/// it when routing (`ip_route_output_key`): the address the socket is bound
/// to, or loopback if it is bound to none. WASI calls such a destination
/// invalid; a program that connects to its listener's `local_addr()`,
/// `0.0.0.0:port`, reaches it on Linux.
pub(crate) fn this_host(dst: SocketAddr, bound: Option<IpAddr>) -> SocketAddr {
    if !dst.ip().is_unspecified() {
        return dst;
    }
    let ip = match (bound, dst.ip()) {
        (Some(b), d) if !b.is_unspecified() && b.is_ipv4() == d.is_ipv4() => b,
        (_, IpAddr::V4(_)) => IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        (_, IpAddr::V6(_)) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
    };
    SocketAddr::new(ip, dst.port())
}
