//! The simulated data network: an IPv4 and an IPv6 address per instance,
//! shaped links, NATs, firewalls and regions, UDP datagrams and TCP streams,
//! all on virtual time.
//!
//! Map of the module, in the order a packet meets it:
//!
//! - [`addr`]: the address plan (`16.0.0.2` is instance 0), subnets, names.
//! - [`topology`]: [`Topology`], how the network is laid out at the start —
//!   chosen addresses, NATs, inbound filters, regions.
//! - [`table`]: who has which address now; plans may move ([`Network::set_address`]).
//! - [`config`]: [`LinkShape`], [`LinkRule`], [`Filter`], [`RoutingPolicy`] — what a user configures.
//! - [`fabric`]: moves packets between hosts and takes every decision on their
//!   path, in an order it lists; keeps the totals. Start here for a packet's life.
//! - [`rule`]: the decision every packet goes through ([`Verdict`]); also the
//!   per-pair override table that fault injection builds on.
//! - [`firewall`]: an instance's stateful inbound filter (connection tracking).
//! - [`nat`]: NATs in RFC 4787 terms, their mapping tables and filters.
//! - [`link`]: a sender's egress link: serialization, queueing, loss, jitter…
//! - [`region`]: region paths: latency, bandwidth and loss between places.
//! - `host`, `socket`: an instance's socket table and ports; [`Family`].
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
pub mod firewall;
mod host;
pub mod link;
pub mod nat;
pub mod packet;
pub mod region;
pub mod rule;
mod socket;
pub mod table;
pub mod tcp;
pub mod topology;
pub mod udp;

pub use addr::{Subnet, addr_of, node_of, resolve};
pub use config::{Filter, LinkRule, LinkShape, NetworkConfig, RoutingPolicy};
pub use error::NetError;
pub use fabric::NetStats;
pub use nat::{Dependence, NatConfig};
pub use region::{RegionPath, Regions};
pub use rule::{DropReason, PathOverrides, Verdict};
pub use socket::{Family, SocketId};
pub use table::AddressError;
pub use tcp::{Shutdown, TcpState};
pub use topology::{NatSpec, Topology, TopologyError};
pub use udp::{Datagram, MAX_DATAGRAM};

use crate::event::EventQueue;
use crate::node::NodeId;
use crate::rng::RngStream;
use crate::time::SimTime;
use crate::trace::{Detail, Trace};
use host::Host;
use packet::Packet;
use socket::Socket;
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll};
use table::{AddressTable, Owner};

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

    /// Records a per-packet event whose detail `detail` writes without `core::fmt`.
    #[inline(always)]
    fn record_with(&mut self, node: NodeId, kind: &str, detail: impl FnOnce(&mut Detail<'_>)) {
        self.trace.record_with(self.now, node, kind, detail);
    }
}

/// A network event waiting in the run's queue: a packet arriving or a timer.
/// Hand it back to [`Network::handle`] when its time comes.
pub struct NetEvent(Ev);

enum Ev {
    Arrive(Packet),
    TcpTimer(SocketId),
    ConnectFail(SocketId, NetError),
}

impl NetEvent {
    /// The event of `packet` arriving at its destination.
    pub fn arrival(packet: Packet) -> NetEvent {
        NetEvent(Ev::Arrive(packet))
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
    // The packet is moved, not boxed, on purpose: an allocation per packet,
    // and a cache miss to reach it, is what the event queue is built to avoid.
    #[allow(clippy::result_large_err)]
    pub fn into_packet(self) -> Result<Packet, NetEvent> {
        match self.0 {
            Ev::Arrive(p) => Ok(p),
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
    addresses: AddressTable,
    nats: Vec<nat::Nat>,
    regions: Regions,
    overrides: PathOverrides,
    /// Packets held by clogged paths, per path, in the order they were sent.
    held: BTreeMap<(NodeId, NodeId), Vec<packet::Packet>>,
    stats: NetStats,
    /// An emptied vector of TCP segments, to send the next ones from.
    spare_segments: Vec<packet::Segment>,
    /// Whether anything happened yet (a socket, a packet): the topology is set before.
    used: bool,
}

impl Network {
    /// Sets how many sockets each instance may have open at once ([`crate::Limits::sockets_per_node`]).
    pub fn set_socket_limit(&mut self, limit: u32) {
        for host in &mut self.hosts {
            host.socket_limit = limit;
        }
    }

    /// Whether `node` was refused a socket for the limit of open sockets.
    pub fn socket_limit_hit(&self, node: NodeId) -> bool {
        self.hosts.get(node.index()).is_some_and(|h| h.socket_limit_hit)
    }

    /// A network of `instances` instances on the flat default [`Topology`],
    /// all configured with `config`, whose random decisions derive from `seed`.
    pub fn new(instances: u32, seed: u64, config: &NetworkConfig) -> Network {
        let mut config = config.clone();
        rule::sort_rules(&mut config);
        let config = Arc::new(config);
        let hosts =
            (0..instances).map(|n| Host::new(config.clone(), RngStream::derive(seed, "net", u64::from(n)))).collect();
        let addresses = Topology::default().build(instances).expect("the address plan numbers every instance");
        Network {
            seed,
            hosts,
            addresses,
            nats: Vec::new(),
            regions: Regions::default(),
            overrides: PathOverrides::default(),
            held: BTreeMap::new(),
            stats: NetStats::default(),
            spare_segments: Vec::new(),
            used: false,
        }
    }

    /// Lays the network out as `topology` says: addresses, NATs, inbound
    /// filters, regions. Call it before anything happens on the network (a
    /// socket, a packet); it is refused after, and when the topology does not
    /// fit the run, which changes nothing.
    pub fn set_topology(&mut self, topology: &Topology) -> Result<(), TopologyError> {
        if self.used {
            return Err(TopologyError::TooLate);
        }
        let addresses = topology.build(self.instances())?;
        self.addresses = addresses;
        self.nats = topology
            .nats
            .iter()
            .map(|spec| {
                // As the table was built: the chosen address, or the first member's planned one.
                let public = spec.public.unwrap_or_else(|| addr_of(spec.members[0]));
                let mut members = spec.members.clone();
                members.sort();
                nat::Nat::new(spec.config.clone(), public, members)
            })
            .collect();
        self.regions = topology.regions.clone();
        for (host, &filter) in self.hosts.iter_mut().zip(&topology.inbound) {
            host.firewall.set(filter);
        }
        Ok(())
    }

    /// The seed the network's random streams derive from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// How many instances the network has.
    pub fn instances(&self) -> u32 {
        self.hosts.len() as u32
    }

    /// The instance that has address `ip` now, if any.
    pub fn node_of(&self, ip: impl Into<IpAddr>) -> Option<NodeId> {
        match self.addresses.owner(ip.into()) {
            Some(Owner::Node(n)) => Some(n),
            _ => None,
        }
    }

    /// `node`'s IPv4 address now (behind a NAT, its private one).
    pub fn ipv4_of(&self, node: NodeId) -> Ipv4Addr {
        self.addresses.v4(node)
    }

    /// `node`'s IPv6 address now; none behind a NAT, or when the run has IPv6 off.
    pub fn ipv6_of(&self, node: NodeId) -> Option<Ipv6Addr> {
        self.addresses.v6(node)
    }

    /// The public address of the NAT `node` sits behind, if it does.
    pub fn nat_public_of(&self, node: NodeId) -> Option<Ipv4Addr> {
        self.addresses.realm(node).map(|k| self.nats[k as usize].public)
    }

    /// Resolves `name` to its addresses, IPv4 first, then IPv6 (as resolvers
    /// order A before AAAA records): `instance-<seq>` (or `instance-<seq>.tg`,
    /// any case) is that instance's current addresses, `localhost` is
    /// `127.0.0.1` and `::1`, an IP literal is itself. Nothing else exists.
    pub fn resolve(&self, name: &str) -> Result<Vec<IpAddr>, NetError> {
        if let Ok(ip) = name.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        if name.eq_ignore_ascii_case("localhost") {
            return Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)]);
        }
        let seq = addr::instance_named(name).filter(|&s| s < self.instances()).ok_or(NetError::NameUnresolvable)?;
        let node = NodeId(seq);
        let mut ips = vec![IpAddr::V4(self.addresses.v4(node))];
        ips.extend(self.addresses.v6(node).map(IpAddr::V6));
        Ok(ips)
    }

    /// Gives `node` address `ip` (IPv4 or IPv6) in place of its address of
    /// that family, now: `instance-<seq>` resolves to it, packets to it reach
    /// `node`, and the old address leads nowhere. Sockets bound or connected
    /// to the old address keep it, as on Linux when an address is removed:
    /// what they send is dropped (`noaddr`) and what peers send them finds no
    /// host, so their connections time out. Sockets bound to the unspecified
    /// address send from the new one. Returns the address given up.
    pub fn set_address(&mut self, cx: &mut NetCtx<'_>, node: NodeId, ip: IpAddr) -> Result<IpAddr, AddressError> {
        let old = self.addresses.set(node, ip)?;
        cx.record(node, "net.address", format_args!("{old} {ip}"));
        Ok(old)
    }

    /// Sets what `node` does with traffic it did not ask for (see
    /// [`firewall`]): `Accept` lets everything in (the default), `Drop`
    /// silently discards unsolicited packets, `Reject` refuses them (a TCP
    /// reset, an ICMP port unreachable). Applies to packets arriving from now on.
    pub fn set_inbound(&mut self, cx: &mut NetCtx<'_>, node: NodeId, filter: Filter) {
        cx.record(node, "net.inbound", format_args!("{filter:?}"));
        self.hosts[node.index()].firewall.set(filter);
    }

    /// What `node` does with unsolicited traffic.
    pub fn inbound(&self, node: NodeId) -> Filter {
        self.hosts[node.index()].firewall.filter
    }

    /// Checks a local address a socket of `family` on `node` wants to bind
    /// to: the node's own address of that family, loopback, or unspecified.
    /// Ports are per node whatever the address.
    pub(crate) fn check_bindable(&self, node: NodeId, family: Family, ip: IpAddr) -> Result<(), NetError> {
        if ip.is_ipv4() != (family == Family::Ipv4) {
            return Err(NetError::InvalidArgument);
        }
        if ip.is_unspecified() || ip.is_loopback() || self.addresses.is_own(node, ip) {
            Ok(())
        } else {
            Err(NetError::AddressNotBindable)
        }
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

    /// Fetches ahead what a packet arriving at `node` first reads: its host.
    pub(crate) fn prefetch_arrival(&self, node: NodeId) {
        if let Some(host) = self.hosts.get(node.index()) {
            crate::prefetch::prefetch(host);
        }
    }

    /// Fetches ahead the host and the socket a packet arriving with `event`
    /// goes to, found as the arrival will find them (a lookup that changes
    /// nothing), and a segment's payload block: a socket table's nodes cannot
    /// be fetched without reading the host they hang from, so this is worth
    /// it when the host was fetched ahead already ([`Network::prefetch_arrival`]).
    pub(crate) fn prefetch_receiver(&self, event: &NetEvent) {
        let Ev::Arrive(packet) = &event.0 else { return };
        let Some(host) = self.hosts.get(packet.dst_node.index()) else { return };
        crate::prefetch::prefetch(host);
        let n = match &packet.body {
            packet::Body::Udp(_) => Network::udp_receiver(host, packet.dst),
            packet::Body::Tcp(seg) => {
                // A reader that keeps up takes the payload at once and frees
                // it; its block is untouched since the segment was sent.
                if !seg.data.is_empty() {
                    crate::prefetch::prefetch_allocation(&seg.data);
                }
                host.tcp_conns.get(&(packet.dst.port(), packet.src)).copied()
            }
            packet::Body::Icmp(_) => None,
        };
        if let Some(socket) = n.and_then(|n| host.sockets.get(&n)) {
            crate::prefetch::prefetch(socket);
        }
    }

    /// Totals of packets and bytes so far.
    pub fn stats(&self) -> NetStats {
        self.stats
    }

    /// Processes a network event whose time has come.
    pub fn handle(&mut self, cx: &mut NetCtx<'_>, event: NetEvent) {
        match event.0 {
            Ev::Arrive(packet) => self.arrive(cx, packet),
            Ev::TcpTimer(id) => self.tcp_timer(cx, id),
            Ev::ConnectFail(id, err) => self.tcp_connect_failed(cx, id, err),
        }
    }

    /// Whether `event` can only be part of TCP's zero-window probing, which
    /// goes on for ever by itself (see `tcp::stall`); anything else may be
    /// progress.
    pub(crate) fn event_is_idle(&self, event: &NetEvent) -> bool {
        match &event.0 {
            Ev::Arrive(packet) => self.tcp_arrival_is_idle(packet),
            Ev::TcpTimer(id) => self.tcp_timer_is_idle(*id),
            Ev::ConnectFail(..) => false,
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

    /// The local address `id` is bound to (for an IPv6 socket, IPv4
    /// addresses as IPv4-mapped ones).
    pub fn local_addr(&self, id: SocketId) -> Result<SocketAddr, NetError> {
        let host = self.host(id.node)?;
        match host.sockets.get(&id.n).ok_or(NetError::InvalidState)? {
            Socket::Udp(s) => s.local_addr(),
            Socket::Tcp(s) => s.local_addr(),
        }
    }

    /// The remote address `id` is connected to.
    pub fn remote_addr(&self, id: SocketId) -> Result<SocketAddr, NetError> {
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
        self.used = true;
        self.hosts.get_mut(node.index()).ok_or(NetError::InvalidArgument)
    }

    /// The family of socket `id`.
    pub fn family(&self, id: SocketId) -> Result<Family, NetError> {
        let host = self.host(id.node)?;
        match host.sockets.get(&id.n).ok_or(NetError::InvalidState)? {
            Socket::Udp(s) => Ok(s.family()),
            Socket::Tcp(s) => Ok(s.family()),
        }
    }

    fn socket_mut(&mut self, id: SocketId) -> Result<&mut Socket, NetError> {
        self.host_mut(id.node)?.sockets.get_mut(&id.n).ok_or(NetError::InvalidState)
    }
}
