//! The fabric moves packets between hosts, and is where every decision on a
//! packet's path is taken, in this order:
//!
//! 1. **route** the destination address through the address table
//!    ([`super::table`]): the sender itself, an instance, the public side of
//!    a NAT, nobody, or no network at all;
//! 2. check the **source address** is still the sender's (a plan that moved
//!    to another address keeps sockets on the old one; what they send is
//!    dropped, as Linux refuses to route from an address it no longer has);
//! 3. note the flow in the sender's **firewall** ([`super::firewall`]), if it blocks inbound;
//! 4. judge it by **rules** ([`super::rule`]: path overrides, rules, routing policy), or hold it if its path is **clogged**;
//! 5. **NAT** it on the way out if the sender is behind one ([`super::nat`]);
//! 6. put it on the sender's **link** ([`super::link`]), then across the
//!    **region path** between the two instances' regions ([`super::region`]);
//! 7. on arrival at a NAT's public address, **NAT** it on the way in;
//! 8. let the receiver's **firewall** judge it;
//! 9. hand it to the destination's protocol.
//!
//! Each drop is recorded in the trace with its reason; sends, deliveries and
//! new NAT mappings are recorded too, and the run's totals kept. The fabric
//! knows nothing of sockets' state.

use super::config::Filter;
use super::firewall::Arrival;
use super::nat::{Proto, Refusal};
use super::packet::{Body, Flags, Packet};
use super::rule::{self, DropReason, Verdict};
use super::table::Owner;
use super::{Ev, NetCtx, NetError, Network, addr};
use crate::node::NodeId;
use std::net::{IpAddr, SocketAddr, SocketAddrV4};

/// Packet and byte totals of a run, for summaries. Bytes are IP-layer wire bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct NetStats {
    /// Packets handed to the network (duplicates not counted).
    pub packets_sent: u64,
    /// Bytes handed to the network.
    pub bytes_sent: u64,
    /// Packets that reached a socket (duplicates counted).
    pub packets_delivered: u64,
    /// Bytes that reached a socket.
    pub bytes_delivered: u64,
    /// Packets lost, filtered, refused or discarded on the way.
    pub packets_dropped: u64,
    /// Bytes of dropped packets.
    pub bytes_dropped: u64,
}

/// Where an address leads from a given instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// The sender itself (loopback or its own address): no link, no rules.
    Local,
    /// Another instance.
    Instance(NodeId),
    /// The public address of a NAT: packets arrive at its first member, where
    /// the NAT decides which inside instance (if any) they are for.
    Nat(u32),
    /// Inside the data network (or behind the sender's own NAT), but nobody
    /// has it: packets vanish, and a connect learns it as ARP would.
    NoHost,
}

/// The packet was refused at the sender by a `Reject` filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rejected;

/// The NAT protocol of a packet: ICMP errors travel with the UDP flow they are about.
fn nat_proto(body: &Body) -> Proto {
    match body {
        Body::Tcp(_) => Proto::Tcp,
        Body::Udp(_) | Body::Icmp(_) => Proto::Udp,
    }
}

fn v4(addr: SocketAddr) -> Option<SocketAddrV4> {
    match addr {
        SocketAddr::V4(a) => Some(a),
        SocketAddr::V6(_) => None,
    }
}

impl Network {
    /// Where `ip` leads from `src`; an address outside every network has no
    /// route, and neither has a private address behind a NAT the sender is
    /// not behind (no instance has a route out of the data network).
    pub(crate) fn route(&self, src: NodeId, ip: IpAddr) -> Result<Route, NetError> {
        if ip.is_loopback() || self.addresses.is_own(src, ip) {
            return Ok(Route::Local);
        }
        let realm = self.addresses.realm(src);
        match self.addresses.owner(ip) {
            Some(Owner::Node(n)) => match self.addresses.realm(n) {
                Some(r) if realm != Some(r) => Err(NetError::RemoteUnreachable),
                _ => Ok(Route::Instance(n)),
            },
            Some(Owner::Nat(k)) => Ok(Route::Nat(k)),
            None => match ip {
                IpAddr::V4(v4) if addr::in_data_network(v4) => Ok(Route::NoHost),
                IpAddr::V4(v4) if addr::is_private(v4) && realm.is_some() => Ok(Route::NoHost),
                IpAddr::V6(_) if addr::in_subnet(ip, IpAddr::V6(addr::DATA_NETWORK_V6), addr::DATA_PREFIX_V6) => {
                    Ok(Route::NoHost)
                }
                _ => Err(NetError::RemoteUnreachable),
            },
        }
    }

    /// The address `node`'s packets to `dst` leave from, for a socket bound to
    /// `bound`: that address if it is one of `dst`'s family, else loopback
    /// towards loopback and the node's own address of `dst`'s family towards
    /// everything else, as Linux picks a source address from the route. A
    /// node with no address of that family has no route there.
    pub(crate) fn source_ip(&self, node: NodeId, bound: IpAddr, dst: IpAddr) -> Result<IpAddr, NetError> {
        if !bound.is_unspecified() {
            return if bound.is_ipv4() == dst.is_ipv4() { Ok(bound) } else { Err(NetError::InvalidArgument) };
        }
        Ok(match dst {
            IpAddr::V4(d) if d.is_loopback() => IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            IpAddr::V6(d) if d.is_loopback() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            IpAddr::V4(_) => IpAddr::V4(self.addresses.v4(node)),
            IpAddr::V6(_) => IpAddr::V6(self.addresses.v6(node).ok_or(NetError::RemoteUnreachable)?),
        })
    }

    /// Where a packet to `route` is processed: the receiving instance, a NAT's
    /// first member, or nobody ([`NodeId::SIM`]).
    fn destination_of(&self, src: NodeId, route: Result<Route, NetError>) -> NodeId {
        match route {
            Ok(Route::Local) => src,
            Ok(Route::Instance(n)) => n,
            Ok(Route::Nat(k)) => self.nats[k as usize].anchor(),
            Ok(Route::NoHost) | Err(_) => NodeId::SIM,
        }
    }

    /// Sends `packet` now from `packet.src_node`; where it goes follows from its destination address.
    pub(crate) fn transmit(&mut self, cx: &mut NetCtx<'_>, packet: Packet) -> Result<(), Rejected> {
        let route = self.route(packet.src_node, packet.dst.ip());
        self.transmit_routed(cx, packet, route)
    }

    /// [`Network::transmit`] for a caller that already knows where `packet.dst` leads now.
    pub(crate) fn transmit_routed(
        &mut self,
        cx: &mut NetCtx<'_>,
        mut packet: Packet,
        route: Result<Route, NetError>,
    ) -> Result<(), Rejected> {
        let src = packet.src_node;
        let wire = packet.wire_len();
        packet.dst_node = self.destination_of(src, route);
        self.stats.packets_sent += 1;
        self.stats.bytes_sent += wire;
        let (proto, dst) = (packet.proto(), packet.dst_node);
        cx.record_with(src, "net.send", |d| {
            d.word(proto).space().node(dst).space().number(wire);
        });
        let local = route == Ok(Route::Local);
        if !local && !packet.src.ip().is_loopback() && !self.addresses.is_own(src, packet.src.ip()) {
            // The sender gave this address up; Linux no longer routes from it.
            self.dropped(cx, src, DropReason::NoAddress, wire);
            return Ok(());
        }
        if local {
            cx.schedule(cx.now, src, Ev::Arrive(packet));
            return Ok(());
        }
        if packet.dst_node == NodeId::SIM {
            self.dropped(cx, src, DropReason::NoRoute, wire);
            return Ok(());
        }
        let firewall = &mut self.hosts[src.index()].firewall;
        if firewall.blocking() {
            let opens = match &packet.body {
                Body::Udp(_) => Some(Proto::Udp),
                Body::Tcp(seg) if seg.flags.has(Flags::SYN) => Some(Proto::Tcp),
                Body::Tcp(_) | Body::Icmp(_) => None,
            };
            if let Some(proto) = opens {
                firewall.outbound(proto, packet.src, packet.dst, cx.now);
            }
        }
        self.forward(cx, packet)
    }

    /// The NAT a packet from `src` to `dst` leaves through, if any: the
    /// sender's, unless `dst` is inside it too.
    fn nat_on_the_way_out(&self, src: NodeId, dst: IpAddr) -> Option<u32> {
        let k = self.addresses.realm(src)?;
        match self.addresses.owner(dst) {
            Some(Owner::Node(n)) if self.addresses.realm(n) == Some(k) => None,
            _ => Some(k),
        }
    }

    /// Judges `packet` and puts it on the sender's link, or holds it if its path is clogged.
    pub(crate) fn forward(&mut self, cx: &mut NetCtx<'_>, mut packet: Packet) -> Result<(), Rejected> {
        let src = packet.src_node;
        let wire = packet.wire_len();
        // The shape copied out, not the configuration's `Arc` cloned: an
        // atomic increment and decrement per packet each wait for every
        // memory write before them.
        let config = &self.hosts[src.index()].config;
        let shape = match rule::decide(config, &self.overrides, src, packet.dst_node, packet.dst.ip()) {
            Verdict::Send(shape) => shape.clone(),
            Verdict::Reject => {
                self.dropped(cx, src, DropReason::Filter, wire);
                return Err(Rejected);
            }
            Verdict::Drop(reason) => {
                self.dropped(cx, src, reason, wire);
                return Ok(());
            }
        };
        if self.overrides.is_clogged(src, packet.dst_node) {
            let dst = packet.dst_node;
            cx.record_with(src, "net.hold", |d| {
                d.node(dst).space().number(wire);
            });
            self.held.entry((src, packet.dst_node)).or_default().push(packet);
            return Ok(());
        }
        if let Some(k) = self.nat_on_the_way_out(src, packet.dst.ip())
            && let Err(reason) = self.nat_out(cx, k, &mut packet)
        {
            self.dropped(cx, src, reason, wire);
            return Ok(());
        }
        let host = &mut self.hosts[src.index()];
        match host.link.transmit(cx.now, &shape, wire) {
            Err(reason) => self.dropped(cx, src, reason, wire),
            Ok(departure) => {
                let mut extra = std::time::Duration::ZERO;
                if let Some((to, path)) = self.regions.path(src.index(), packet.dst_node.index()) {
                    let host = &mut self.hosts[src.index()];
                    match host.wan.cross(to, path, departure.departed, wire, host.link.rng()) {
                        Ok(d) => extra = d,
                        Err(reason) => {
                            self.dropped(cx, src, reason, wire);
                            return Ok(());
                        }
                    }
                }
                if let Some(pick) = departure.corrupt {
                    packet.corrupted = true;
                    if let Body::Udp(_) = packet.body {
                        packet.corrupt(pick);
                    }
                }
                if let Some(at) = departure.duplicate {
                    cx.schedule(at + extra, src, Ev::Arrive(packet.clone()));
                }
                cx.schedule(departure.arrive + extra, src, Ev::Arrive(packet));
            }
        }
        Ok(())
    }

    /// Translates `packet`'s source on its way out through NAT `k`.
    fn nat_out(&mut self, cx: &mut NetCtx<'_>, k: u32, packet: &mut Packet) -> Result<(), DropReason> {
        let nat = &mut self.nats[k as usize];
        if self.addresses.owner(packet.dst.ip()) == Some(Owner::Nat(k)) && !nat.config.hairpinning {
            return Err(DropReason::Nat);
        }
        // NATs translate IPv4; an instance behind one has no IPv6 address to send from.
        let (Some(inside), Some(dst)) = (v4(packet.src), v4(packet.dst)) else { return Err(DropReason::Nat) };
        let proto = nat_proto(&packet.body);
        let (public, new) = nat.outbound(proto, packet.src_node, inside, dst, cx.now).map_err(|r| match r {
            Refusal::NoPort | Refusal::Filtered => DropReason::Nat,
        })?;
        if let Some(new) = new {
            cx.record(packet.src_node, "net.nat.map", format_args!("{proto} {inside} {}", new.public));
        }
        packet.src = SocketAddr::V4(public);
        Ok(())
    }

    fn dropped(&mut self, cx: &mut NetCtx<'_>, node: NodeId, reason: DropReason, wire: u64) {
        self.stats.packets_dropped += 1;
        self.stats.bytes_dropped += wire;
        cx.record_with(node, "net.drop", |d| {
            d.word(reason.as_str()).space().number(wire);
        });
    }

    /// A packet reaches the instance its event was for.
    pub(crate) fn arrive(&mut self, cx: &mut NetCtx<'_>, mut packet: Packet) {
        let wire = packet.wire_len();
        let at = packet.dst_node;
        if let Err(reason) = self.receive_side(cx, &mut packet) {
            self.dropped(cx, at, reason, wire);
            return;
        }
        let dst = packet.dst_node;
        let proto = packet.proto();
        let src = packet.src_node;
        let result = match packet.body {
            Body::Tcp(_) if packet.corrupted => Err(DropReason::Corrupt),
            Body::Tcp(_) => self.tcp_arrive(cx, packet),
            Body::Udp(_) => self.udp_arrive(cx, packet),
            // ICMP's checksum, like TCP's, discards a damaged message.
            Body::Icmp(_) if packet.corrupted => Err(DropReason::Corrupt),
            Body::Icmp(_) => self.icmp_arrive(packet),
        };
        match result {
            Ok(()) => {
                self.stats.packets_delivered += 1;
                self.stats.bytes_delivered += wire;
                cx.record_with(dst, "net.deliver", |d| {
                    d.word(proto).space().node(src).space().number(wire);
                });
            }
            Err(reason) => self.dropped(cx, dst, reason, wire),
        }
    }

    /// The decisions on the receiving side: a NAT at the destination address
    /// translates the packet to its inside instance (or refuses it), an
    /// address that moved away leads nowhere, and the receiver's firewall judges it.
    fn receive_side(&mut self, cx: &mut NetCtx<'_>, packet: &mut Packet) -> Result<(), DropReason> {
        let dst_ip = packet.dst.ip();
        match self.addresses.owner(dst_ip) {
            Some(Owner::Nat(k)) => {
                let dst = v4(packet.dst).ok_or(DropReason::Nat)?;
                let src = v4(packet.src).ok_or(DropReason::Nat)?;
                let proto = nat_proto(&packet.body);
                let (member, inside) =
                    self.nats[k as usize].inbound(proto, dst.port(), src, cx.now).map_err(|_| DropReason::Nat)?;
                if member != packet.dst_node
                    && matches!(self.overrides.get(packet.src_node, member), Some(Filter::Drop | Filter::Reject))
                {
                    return Err(DropReason::Partition);
                }
                packet.dst = SocketAddr::V4(inside);
                packet.dst_node = member;
            }
            Some(Owner::Node(n)) if n == packet.dst_node => {}
            _ if dst_ip.is_loopback() => {}
            // The address changed hands (or went) while the packet was on its way.
            _ => return Err(DropReason::NoRoute),
        }
        let node = packet.dst_node;
        if node == packet.src_node || !self.hosts[node.index()].firewall.blocking() {
            return Ok(());
        }
        let kind = match &packet.body {
            Body::Udp(_) | Body::Icmp(_) => Arrival::Udp,
            Body::Tcp(seg) if seg.flags.has(Flags::SYN) && !seg.flags.has(Flags::ACK) => Arrival::TcpSyn,
            Body::Tcp(_) => Arrival::TcpOther,
        };
        let firewall = &mut self.hosts[node.index()].firewall;
        if firewall.admits(kind, packet.dst, packet.src, cx.now) {
            return Ok(());
        }
        if firewall.filter == Filter::Reject {
            // REJECT answers as the stack would for a closed port.
            match &packet.body {
                Body::Udp(_) => {
                    self.icmp_port_unreachable(cx, node, packet.dst, packet.src_node, packet.src);
                }
                Body::Tcp(seg) => {
                    let reply = Packet::stack_reply(node, packet.dst, packet.src, Body::Tcp(seg.reset_reply()));
                    let _ = self.transmit(cx, reply);
                }
                Body::Icmp(_) => {}
            }
        }
        Err(DropReason::Firewall)
    }
}
