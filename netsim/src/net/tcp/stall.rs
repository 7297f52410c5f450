//! Telling TCP's zero-window probing apart from progress, for the check that
//! ends a run nothing can move any more (`Sim::is_stalled`).
//!
//! A writer whose peer stopped reading probes the closed window for as long
//! as the peer answers, as Linux does: the timer fires, a one-byte probe goes
//! out, the peer answers with the same zero window, the timer is armed again.
//! (Probes nobody answers end in a time-out, which is progress.) When every instance
//! waits and nothing else is pending, those exchanges are all that happens,
//! until the end of the virtual clock. This module says, from the state of
//! the connections alone, whether an event can do more than that; it decides
//! nothing and changes nothing.

use super::{Conn, Network, Role, Socket, SocketId, TcpSocket};
use crate::net::packet::{Body, Packet};
use crate::net::table::Owner;
use crate::node::NodeId;

impl Network {
    /// Whether connection `id`'s timer, when it fires, can only probe a
    /// closed window or do nothing.
    pub(crate) fn tcp_timer_is_idle(&self, id: SocketId) -> bool {
        // No connection: the timer finds nothing to do.
        self.conn_at(id.node, id.n).is_none_or(Conn::timer_is_idle)
    }

    /// Whether `packet`'s arrival can only be part of probing a closed
    /// window: a TCP segment, undamaged, for an address its instance holds
    /// without a NAT or a firewall to judge it, that its connection absorbs.
    pub(crate) fn tcp_arrival_is_idle(&self, packet: &Packet) -> bool {
        let Body::Tcp(seg) = &packet.body else { return false };
        if packet.corrupted {
            return false;
        }
        let node = packet.dst_node;
        let direct = match self.addresses.owner(packet.dst.ip()) {
            Some(Owner::Node(n)) => n == node,
            _ => packet.dst.ip().is_loopback(),
        };
        let Ok(host) = self.host(node) else { return false };
        if !direct || (node != packet.src_node && host.firewall.blocking()) {
            return false;
        }
        let Some(&n) = host.tcp_conns.get(&(packet.dst.port(), packet.src)) else { return false };
        self.conn_at(node, n).is_some_and(|c| c.absorbs(seg))
    }

    /// Whether any connection has room its peer may be probing for without
    /// knowing (see `Conn::hides_window`): that probe would be taken.
    pub(crate) fn tcp_hides_window(&self) -> bool {
        self.hosts.iter().flat_map(|h| h.sockets.iter()).any(|socket| match socket {
            Socket::Tcp(s) => matches!(&s.role, Role::Conn(c) if c.hides_window()),
            Socket::Udp(_) => false,
        })
    }

    /// Whether connection `id` has data to send that its peer has no room
    /// for: a writer on it waits for the peer to read.
    pub fn tcp_peer_window_closed(&self, id: SocketId) -> bool {
        self.conn_at(id.node, id.n).is_some_and(Conn::peer_window_closed)
    }

    /// Socket `n` of `node`'s connection, if it is one; only looks.
    fn conn_at(&self, node: NodeId, n: u32) -> Option<&Conn> {
        match self.host(node).ok()?.sockets.get(&n)? {
            Socket::Tcp(TcpSocket { role: Role::Conn(c), .. }) => Some(c),
            _ => None,
        }
    }
}
