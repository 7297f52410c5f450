//! The fabric moves packets between hosts: it routes a packet to an instance,
//! asks [`super::rule`] for a verdict and the sender's [`super::link`] for a
//! departure, schedules the arrival, and on arrival hands the packet to the
//! destination's protocol. It records every send, delivery and drop in the
//! trace and keeps the run's totals. It knows nothing of sockets' state.

use super::packet::{Body, Packet};
use super::rule::{self, DropReason, Verdict};
use super::{Ev, NetCtx, NetError, Network, addr};
use crate::node::NodeId;
use std::net::Ipv4Addr;

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
    /// Inside the data network, but no instance has it: packets vanish.
    NoHost,
}

/// The packet was refused at the sender by a `Reject` filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rejected;

impl Network {
    /// Where `ip` leads from `src`; an address outside the data network has no route.
    pub(crate) fn route(&self, src: NodeId, ip: Ipv4Addr) -> Result<Route, NetError> {
        if ip.is_loopback() || ip == self.hosts[src.index()].addr {
            return Ok(Route::Local);
        }
        if !addr::in_data_network(ip) {
            return Err(NetError::RemoteUnreachable);
        }
        Ok(self.node_of(ip).map_or(Route::NoHost, Route::Instance))
    }

    /// The address `node`'s packets to `dst` leave from, for a socket bound to
    /// `bound`: that address if it is one, else loopback towards loopback and
    /// the node's data address towards everything else, as Linux picks a
    /// source address from the route.
    pub(crate) fn source_ip(&self, node: NodeId, bound: Ipv4Addr, dst: Ipv4Addr) -> Ipv4Addr {
        if !bound.is_unspecified() {
            bound
        } else if dst.is_loopback() {
            Ipv4Addr::LOCALHOST
        } else {
            self.hosts[node.index()].addr
        }
    }

    /// Sends `packet` now from `packet.src_node`.
    pub(crate) fn transmit(&mut self, cx: &mut NetCtx<'_>, packet: Packet) -> Result<(), Rejected> {
        let src = packet.src_node;
        let wire = packet.wire_len();
        self.stats.packets_sent += 1;
        self.stats.bytes_sent += wire;
        cx.record(src, "net.send", format_args!("{} {} {}", packet.proto(), packet.dst_node, wire));
        if packet.dst_node == src {
            cx.schedule(cx.now, src, Ev::Arrive(Box::new(packet)));
            return Ok(());
        }
        if packet.dst_node.index() >= self.hosts.len() {
            self.dropped(cx, src, DropReason::NoRoute, wire);
            return Ok(());
        }
        self.forward(cx, packet)
    }

    /// Judges `packet` and puts it on the sender's link, or holds it if its path is clogged.
    pub(crate) fn forward(&mut self, cx: &mut NetCtx<'_>, mut packet: Packet) -> Result<(), Rejected> {
        let src = packet.src_node;
        let wire = packet.wire_len();
        let config = self.hosts[src.index()].config.clone();
        let shape = match rule::decide(&config, &self.overrides, src, packet.dst_node, *packet.dst.ip()) {
            Verdict::Send(shape) => shape,
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
            cx.record(src, "net.hold", format_args!("{} {}", packet.dst_node, wire));
            self.held.entry((src, packet.dst_node)).or_default().push(packet);
            return Ok(());
        }
        match self.hosts[src.index()].link.transmit(cx.now, shape, wire) {
            Err(reason) => self.dropped(cx, src, reason, wire),
            Ok(departure) => {
                if let Some(pick) = departure.corrupt {
                    packet.corrupted = true;
                    if let Body::Udp(_) = packet.body {
                        packet.corrupt(pick);
                    }
                }
                if let Some(at) = departure.duplicate {
                    cx.schedule(at, src, Ev::Arrive(Box::new(packet.clone())));
                }
                cx.schedule(departure.arrive, src, Ev::Arrive(Box::new(packet)));
            }
        }
        Ok(())
    }

    fn dropped(&mut self, cx: &mut NetCtx<'_>, node: NodeId, reason: DropReason, wire: u64) {
        self.stats.packets_dropped += 1;
        self.stats.bytes_dropped += wire;
        cx.record(node, "net.drop", format_args!("{} {}", reason.as_str(), wire));
    }

    /// A packet reaches its destination instance.
    pub(crate) fn arrive(&mut self, cx: &mut NetCtx<'_>, packet: Packet) {
        let dst = packet.dst_node;
        let wire = packet.wire_len();
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
                cx.record(dst, "net.deliver", format_args!("{proto} {src} {wire}"));
            }
            Err(reason) => self.dropped(cx, dst, reason, wire),
        }
    }
}
