//! One instance's side of the network: its configuration, egress link,
//! inbound filter, socket table and port tables.
//!
//! A host finds sockets by port and hands out ephemeral ports; it does not
//! know its own addresses ([`super::table`] does), route between instances
//! ([`super::fabric`]) or run protocols ([`super::udp`], [`super::tcp`]).
//!
//! IPv4 and IPv6 sockets have port tables of their own, as Linux's do for
//! IPv6 sockets with `IPV6_V6ONLY` set (WASI sets it on every IPv6 socket):
//! `0.0.0.0:p` and `[::]:p` can both be bound. What arrives over IPv4 for a
//! port only an IPv6 socket bound to `[::]` has goes to that socket, as to a
//! dual-stack socket on Linux (see [`super::socket::Family`]).

use super::config::NetworkConfig;
use super::error::NetError;
use super::firewall::Firewall;
use super::link::EgressLink;
use super::region::WanQueues;
use super::socket::{Family, Socket, SocketTable};
use super::udp::{ICMP_RATE_BURST, ICMP_RATE_INTERVAL};
use crate::rng::RngStream;
use crate::time::SimTime;
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

/// Ports handed out when a socket binds to port 0: the IANA dynamic range.
pub const EPHEMERAL_PORTS: RangeInclusive<u16> = 49152..=65535;

/// `repr(C)`: what every packet sent or received reads comes first, in the
/// lines the simulation fetches ahead of a packet's arrival.
#[repr(C)]
pub(crate) struct Host {
    pub(crate) sockets: SocketTable,
    /// UDP ports of IPv4 sockets.
    pub(crate) udp_ports: PortTable,
    /// UDP ports of IPv6 sockets.
    pub(crate) udp6_ports: PortTable,
    /// What it does with packets it did not ask for.
    pub(crate) firewall: Firewall,
    pub(crate) config: Arc<NetworkConfig>,
    pub(crate) link: EgressLink,
    /// Its queues onto region paths.
    pub(crate) wan: WanQueues,
    next_socket: u32,
    /// TCP ports in use, with how many sockets share each (a listener, its
    /// accepted connections, dials bound to the same port), whatever their family.
    pub(crate) tcp_ports: BTreeMap<u16, u32>,
    /// Listeners of IPv4 sockets.
    pub(crate) tcp_listeners: BTreeMap<u16, u32>,
    /// Listeners of IPv6 sockets.
    pub(crate) tcp6_listeners: BTreeMap<u16, u32>,
    /// Connections by (local port, remote address).
    pub(crate) tcp_conns: BTreeMap<(u16, SocketAddr), u32>,
    next_udp_port: u16,
    next_tcp_port: u16,
    /// Most sockets it may have open ([`crate::Limits::sockets_per_node`]).
    /// As on Linux, where the limit is on descriptors, connections the
    /// instance does not hold do not count: those a listener has not handed
    /// out yet (`unaccepted`) and those it closed that still finish their
    /// exchange (`orphans`). The same number bounds each, so the table holds
    /// at most three times the limit.
    pub(crate) socket_limit: u32,
    /// Connections in the table that arrived on a listener and were not
    /// accepted yet (in the handshake or in the accept queue).
    unaccepted: u32,
    /// Connections the instance closed that are still in the table, sending
    /// what was left and their FIN.
    orphans: u32,
    /// Whether a socket was refused for the limit: the host names it in the
    /// instance's outcome if the instance then fails.
    pub(crate) socket_limit_hit: bool,
    /// Per destination address, the ICMP errors this host may still send it
    /// (as time they cost) and when that was last worked out.
    icmp_budget: BTreeMap<IpAddr, (Duration, SimTime)>,
}

impl Host {
    pub(crate) fn new(config: Arc<NetworkConfig>, rng: RngStream) -> Host {
        Host {
            config,
            link: EgressLink::new(rng),
            firewall: Firewall::default(),
            wan: WanQueues::default(),
            sockets: SocketTable::default(),
            next_socket: 0,
            udp_ports: PortTable::default(),
            udp6_ports: PortTable::default(),
            tcp_ports: BTreeMap::new(),
            tcp_listeners: BTreeMap::new(),
            tcp6_listeners: BTreeMap::new(),
            tcp_conns: BTreeMap::new(),
            next_udp_port: *EPHEMERAL_PORTS.start(),
            next_tcp_port: *EPHEMERAL_PORTS.start(),
            icmp_budget: BTreeMap::new(),
            socket_limit: crate::limits::DEFAULT_SOCKETS_PER_NODE,
            unaccepted: 0,
            orphans: 0,
            socket_limit_hit: false,
        }
    }

    /// Forgets every socket and port, keeping the socket counter and ephemeral
    /// port cursors so nothing is reused, and the firewall's flows (kernel
    /// state, lost with the machine). Returns how many sockets were lost.
    pub(crate) fn crash(&mut self) -> usize {
        let lost = self.sockets.len();
        self.sockets.clear();
        self.unaccepted = 0;
        self.orphans = 0;
        self.udp_ports.clear();
        self.udp6_ports.clear();
        self.tcp_ports.clear();
        self.tcp_listeners.clear();
        self.tcp6_listeners.clear();
        self.tcp_conns.clear();
        self.firewall.forget();
        lost
    }

    /// The UDP port table of `family`'s sockets.
    pub(crate) fn udp_table(&mut self, family: Family) -> &mut PortTable {
        match family {
            Family::Ipv4 => &mut self.udp_ports,
            Family::Ipv6 => &mut self.udp6_ports,
        }
    }

    /// The listener table of `family`'s sockets.
    pub(crate) fn listener_table(&mut self, family: Family) -> &mut BTreeMap<u16, u32> {
        match family {
            Family::Ipv4 => &mut self.tcp_listeners,
            Family::Ipv6 => &mut self.tcp6_listeners,
        }
    }

    /// Whether an ICMP error to `dst` may go now: Linux's token bucket per
    /// destination, earning one message per [`ICMP_RATE_INTERVAL`] up to
    /// [`ICMP_RATE_BURST`], full for a destination not answered before.
    pub(crate) fn icmp_allowed(&mut self, dst: IpAddr, now: SimTime) -> bool {
        let full = ICMP_RATE_INTERVAL * ICMP_RATE_BURST;
        let (budget, last) = self.icmp_budget.entry(dst).or_insert((full, now));
        *budget = (*budget + now.duration_since(*last)).min(full);
        *last = now;
        match budget.checked_sub(ICMP_RATE_INTERVAL) {
            Some(left) => {
                *budget = left;
                true
            }
            None => false,
        }
    }

    /// Adds a socket the instance opened: refused past the limit.
    pub(crate) fn add_socket(&mut self, socket: Socket) -> Result<u32, NetError> {
        self.check_socket_limit()?;
        Ok(self.insert_socket(socket))
    }

    /// Adds a connection that arrived on a listener, not yet accepted; `None`
    /// when as many wait already as the limit allows (the SYN is ignored, as
    /// Linux ignores one for a full accept queue).
    pub(crate) fn add_unaccepted(&mut self, socket: Socket) -> Option<u32> {
        if self.unaccepted >= self.socket_limit {
            return None;
        }
        self.unaccepted += 1;
        Some(self.insert_socket(socket))
    }

    /// An unaccepted connection is handed to the instance: refused, and left
    /// where it waits, while the instance holds as many sockets as the limit allows.
    pub(crate) fn accept_unaccepted(&mut self) -> Result<(), NetError> {
        self.check_socket_limit()?;
        self.unaccepted -= 1;
        Ok(())
    }

    /// An unaccepted connection left the table without being accepted.
    pub(crate) fn forget_unaccepted(&mut self) {
        self.unaccepted -= 1;
    }

    /// A connection the instance closes may stay to finish its exchange:
    /// `false` when as many do already as the limit allows, and it is to be
    /// reset instead, as Linux resets one past `tcp_max_orphans`.
    pub(crate) fn adopt_orphan(&mut self) -> bool {
        if self.orphans >= self.socket_limit {
            return false;
        }
        self.orphans += 1;
        true
    }

    /// An orphaned connection left the table.
    pub(crate) fn forget_orphan(&mut self) {
        self.orphans -= 1;
    }

    /// Whether the instance may hold one more socket. A socket leak ends in
    /// `new-socket-limit`, as on Linux past `ulimit -n`, not in host memory.
    fn check_socket_limit(&mut self) -> Result<(), NetError> {
        let held = self.sockets.len() - self.unaccepted as usize - self.orphans as usize;
        if held >= self.socket_limit as usize {
            self.socket_limit_hit = true;
            return Err(NetError::NewSocketLimit);
        }
        Ok(())
    }

    fn insert_socket(&mut self, socket: Socket) -> u32 {
        let n = self.next_socket;
        self.next_socket += 1;
        self.sockets.insert(n, socket);
        n
    }

    /// Takes `port` (or an ephemeral one if 0) for UDP socket `n` of `family`.
    pub(crate) fn bind_udp(&mut self, family: Family, port: u16, n: u32) -> Result<u16, NetError> {
        let cursor = &mut self.next_udp_port;
        let table = match family {
            Family::Ipv4 => &mut self.udp_ports,
            Family::Ipv6 => &mut self.udp6_ports,
        };
        let port = match port {
            0 => next_free(|p| table.get(p).is_some(), cursor)?,
            p if table.get(p).is_some() => return Err(NetError::AddressInUse),
            p => p,
        };
        table.insert(port, n);
        Ok(port)
    }

    /// Takes `port` (or an ephemeral one if 0, never one in use) for a TCP socket.
    ///
    /// A named port may already be in use: every TCP socket binds as Linux
    /// does with `SO_REUSEADDR` and `SO_REUSEPORT` set on all of them. WASI
    /// binds as if `SO_REUSEADDR` were set, so a listener's port is free again
    /// while the connections it accepted close; and it has no `SO_REUSEPORT`,
    /// which libp2p-tcp sets to dial from its listening port. What must stay
    /// unique is checked where it matters: one listener per port
    /// ([`Host::listen_tcp`]), one connection per (port, remote) (a connect
    /// that would repeat one is refused, as Linux refuses it, `EADDRNOTAVAIL`).
    pub(crate) fn bind_tcp(&mut self, port: u16) -> Result<u16, NetError> {
        let port = match port {
            0 => next_free(|p| self.tcp_ports.contains_key(&p), &mut self.next_tcp_port)?,
            p => p,
        };
        *self.tcp_ports.entry(port).or_insert(0) += 1;
        Ok(port)
    }

    /// Makes TCP socket `n` the listener of `port`. Linux would let a second
    /// `SO_REUSEPORT` listener share the port and balance connections between
    /// them; that is not modelled, so a second listener is `address-in-use`,
    /// what a plan on Linux without `SO_REUSEPORT` sees.
    pub(crate) fn listen_tcp(&mut self, family: Family, port: u16, n: u32) -> Result<(), NetError> {
        let table = self.listener_table(family);
        if table.contains_key(&port) {
            return Err(NetError::AddressInUse);
        }
        table.insert(port, n);
        Ok(())
    }

    /// One more socket shares TCP `port` (an accepted connection on a listener's port).
    pub(crate) fn share_tcp_port(&mut self, port: u16) {
        *self.tcp_ports.entry(port).or_insert(0) += 1;
    }

    /// One socket less uses TCP `port`; the port is free when none does.
    pub(crate) fn release_tcp_port(&mut self, port: u16) {
        if let Some(count) = self.tcp_ports.get_mut(&port) {
            *count -= 1;
            if *count == 0 {
                self.tcp_ports.remove(&port);
            }
        }
    }
}

/// The next free port at or after `*next` in the ephemeral range, wrapping around.
fn next_free(used: impl Fn(u16) -> bool, next: &mut u16) -> Result<u16, NetError> {
    let (lo, hi) = (*EPHEMERAL_PORTS.start(), *EPHEMERAL_PORTS.end());
    let span = u32::from(hi - lo) + 1;
    for _ in 0..span {
        let port = *next;
        *next = if port == hi { lo } else { port + 1 };
        if !used(port) {
            return Ok(port);
        }
    }
    Err(NetError::AddressInUse)
}

/// A host's UDP ports of one family, with the socket bound to each: the
/// first few inline, where a packet's arrival finds them in the host it
/// fetched ahead (a host binds a port or two), the rest in a map.
#[derive(Default)]
pub(crate) struct PortTable {
    inline: [(u16, u32); PortTable::INLINE],
    inline_len: u8,
    more: BTreeMap<u16, u32>,
}

impl PortTable {
    const INLINE: usize = 2;

    /// The socket bound to `port`.
    #[inline]
    pub(crate) fn get(&self, port: u16) -> Option<u32> {
        if let Some(&(_, n)) = self.inline[..usize::from(self.inline_len)].iter().find(|(p, _)| *p == port) {
            return Some(n);
        }
        if self.more.is_empty() { None } else { self.more.get(&port).copied() }
    }

    /// Binds `port` to socket `n` (in place of whatever had it).
    pub(crate) fn insert(&mut self, port: u16, n: u32) {
        let len = usize::from(self.inline_len);
        if let Some(slot) = self.inline[..len].iter_mut().find(|(p, _)| *p == port) {
            slot.1 = n;
        } else if self.more.contains_key(&port) || len == PortTable::INLINE {
            self.more.insert(port, n);
        } else {
            self.inline[len] = (port, n);
            self.inline_len += 1;
        }
    }

    /// Frees `port`.
    pub(crate) fn remove(&mut self, port: u16) {
        let len = usize::from(self.inline_len);
        if let Some(i) = self.inline[..len].iter().position(|(p, _)| *p == port) {
            self.inline.copy_within(i + 1..len, i);
            self.inline_len -= 1;
            // Keep the inline places full while the map has ports to give.
            if let Some((p, n)) = self.more.pop_first() {
                self.inline[len - 1] = (p, n);
                self.inline_len += 1;
            }
        } else {
            self.more.remove(&port);
        }
    }

    /// Frees every port.
    pub(crate) fn clear(&mut self) {
        self.inline_len = 0;
        self.more.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_table_answers_as_a_map_would() {
        let mut table = PortTable::default();
        let mut model = BTreeMap::new();
        let mut x: u32 = 0x1234_5678;
        for i in 0..5000u32 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let port = (x % 7) as u16;
            match x % 3 {
                0 => {
                    table.insert(port, i);
                    model.insert(port, i);
                }
                1 => {
                    table.remove(port);
                    model.remove(&port);
                }
                _ if i % 500 == 0 => {
                    table.clear();
                    model.clear();
                }
                _ => {}
            }
            for p in 0..8 {
                assert_eq!(table.get(p), model.get(&p).copied(), "port {p} after step {i}");
            }
        }
    }
}
