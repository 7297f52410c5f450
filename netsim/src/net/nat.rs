//! Network address translation: a NAT that instances sit behind, with a
//! public address, translating what they send out and filtering what comes in.
//!
//! A NAT is described in the terms of RFC 4787 (UDP) and RFC 5382 (TCP):
//!
//! - its **mapping** behaviour says when an outgoing flow reuses an existing
//!   public port: for every destination (endpoint-independent), per
//!   destination address (address-dependent), or per destination address and
//!   port (address-and-port-dependent, the "symmetric" NAT);
//! - its **filtering** behaviour says which incoming packets a mapping lets
//!   in: from anyone (endpoint-independent, "full cone"), from addresses the
//!   inside host has sent to (address-dependent, "restricted cone"), or from
//!   the exact addresses and ports it has sent to (address-and-port-dependent,
//!   "port-restricted cone");
//! - **hairpinning**: whether a packet from inside to the NAT's own public
//!   address and a mapped port is turned back in (RFC 4787 REQ-9), with the
//!   sender's public mapping as its source;
//! - **mapping timeouts**: a mapping idle for longer than the protocol's
//!   timeout is gone; packets in either direction keep it alive (Linux's
//!   conntrack refreshes both ways; RFC 4787 REQ-6 requires outbound).
//!
//! Ports: a new mapping keeps the inside port when it is free on the NAT
//! (port preservation, as Linux's masquerading does), and otherwise takes the
//! next free port from a cursor over [`NAT_PORTS`]. Expired mappings are
//! removed when they are next looked at, which happens at the same virtual
//! times in every run.
//!
//! This module keeps the tables and decides; [`super::fabric`] calls it on a
//! packet's path (outbound when an inside host sends past the NAT, inbound
//! when a packet arrives at the public address) and records what it decided.
//! NATs translate IPv4 only: an instance behind one has no IPv6 address.

use crate::node::NodeId;
use crate::time::SimTime;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::ops::RangeInclusive;
use std::time::Duration;

/// Ports a NAT hands out when it cannot keep the inside port: every
/// unprivileged port, as Linux's masquerading uses.
pub const NAT_PORTS: RangeInclusive<u16> = 1024..=65535;

/// How long an idle UDP mapping lives: RFC 4787 REQ-5's two-minute minimum
/// (and Linux's `nf_conntrack_udp_timeout_stream`, 120 s).
pub const UDP_MAPPING_TIMEOUT: Duration = Duration::from_secs(120);

/// How long an idle TCP mapping lives: RFC 5382 REQ-5's minimum for an
/// established connection, 2 hours 4 minutes. (Linux keeps them 5 days.)
pub const TCP_MAPPING_TIMEOUT: Duration = Duration::from_secs(2 * 3600 + 4 * 60);

/// What a mapping or filter depends on, in RFC 4787's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dependence {
    /// Nothing about the remote end.
    EndpointIndependent,
    /// The remote address.
    AddressDependent,
    /// The remote address and port.
    AddressAndPortDependent,
}

impl Dependence {
    /// The name compositions use.
    pub fn as_str(self) -> &'static str {
        match self {
            Dependence::EndpointIndependent => "endpoint-independent",
            Dependence::AddressDependent => "address-dependent",
            Dependence::AddressAndPortDependent => "address-and-port-dependent",
        }
    }

    /// Parses [`Dependence::as_str`]'s names.
    pub fn from_name(name: &str) -> Option<Dependence> {
        [Dependence::EndpointIndependent, Dependence::AddressDependent, Dependence::AddressAndPortDependent]
            .into_iter()
            .find(|d| d.as_str() == name)
    }
}

/// How one NAT behaves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatConfig {
    /// When outgoing flows share a public port.
    pub mapping: Dependence,
    /// Which incoming packets a mapping admits.
    pub filtering: Dependence,
    /// Whether packets from inside to the public address come back in.
    pub hairpinning: bool,
    /// Idle lifetime of a UDP mapping.
    pub udp_timeout: Duration,
    /// Idle lifetime of a TCP mapping.
    pub tcp_timeout: Duration,
}

/// The classic NAT types, by the names RFC 3489 gave them, each a
/// (mapping, filtering) pair of RFC 4787.
pub const NAT_TYPES: [(&str, Dependence, Dependence); 4] = [
    ("full-cone", Dependence::EndpointIndependent, Dependence::EndpointIndependent),
    ("restricted-cone", Dependence::EndpointIndependent, Dependence::AddressDependent),
    ("port-restricted-cone", Dependence::EndpointIndependent, Dependence::AddressAndPortDependent),
    ("symmetric", Dependence::AddressAndPortDependent, Dependence::AddressAndPortDependent),
];

impl NatConfig {
    /// A NAT with these behaviours, hairpinning (RFC 4787 REQ-9) and the RFCs' timeouts.
    pub fn new(mapping: Dependence, filtering: Dependence) -> NatConfig {
        NatConfig {
            mapping,
            filtering,
            hairpinning: true,
            udp_timeout: UDP_MAPPING_TIMEOUT,
            tcp_timeout: TCP_MAPPING_TIMEOUT,
        }
    }

    /// One of [`NAT_TYPES`] by name (`full-cone`, `restricted-cone`, `port-restricted-cone`, `symmetric`).
    pub fn named(name: &str) -> Option<NatConfig> {
        NAT_TYPES.iter().find(|(n, ..)| *n == name).map(|&(_, m, f)| NatConfig::new(m, f))
    }

    fn timeout(&self, proto: Proto) -> Duration {
        match proto {
            Proto::Udp => self.udp_timeout,
            Proto::Tcp => self.tcp_timeout,
        }
    }
}

/// The transport protocols a NAT keeps mappings for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    /// UDP (and the ICMP errors about it).
    Udp,
    /// TCP.
    Tcp,
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Udp => "udp",
            Proto::Tcp => "tcp",
        })
    }
}

/// What identifies a mapping: the inside endpoint and as much of the
/// destination as the mapping behaviour depends on.
type MapKey = (SocketAddrV4, Option<Ipv4Addr>, Option<u16>);

struct Mapping {
    key: MapKey,
    node: NodeId,
    last: SimTime,
    /// Remote endpoints the inside host sent to through this mapping.
    contacted: BTreeSet<SocketAddrV4>,
}

#[derive(Default)]
struct Table {
    by_key: BTreeMap<MapKey, u16>,
    by_port: BTreeMap<u16, Mapping>,
    cursor: Option<u16>,
}

/// Why a NAT did not let a packet through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Every port is mapped.
    NoPort,
    /// No live mapping for the port, or the filter does not admit the sender.
    Filtered,
}

/// A new mapping, for the trace.
pub(crate) struct NewMapping {
    pub(crate) public: SocketAddrV4,
}

/// One NAT's state.
pub(crate) struct Nat {
    pub(crate) config: NatConfig,
    pub(crate) public: Ipv4Addr,
    /// The instances behind it, in order; the first is where packets to the
    /// public address are processed.
    pub(crate) members: Vec<NodeId>,
    tables: [Table; 2],
}

impl Nat {
    pub(crate) fn new(config: NatConfig, public: Ipv4Addr, members: Vec<NodeId>) -> Nat {
        Nat { config, public, members, tables: [Table::default(), Table::default()] }
    }

    /// The instance that processes packets arriving at the public address.
    pub(crate) fn anchor(&self) -> NodeId {
        self.members[0]
    }

    /// Translates a packet from `inside` (on `node`) to `dst` going out now:
    /// the public endpoint it leaves from, and whether the mapping is new.
    pub(crate) fn outbound(
        &mut self,
        proto: Proto,
        node: NodeId,
        inside: SocketAddrV4,
        dst: SocketAddrV4,
        now: SimTime,
    ) -> Result<(SocketAddrV4, Option<NewMapping>), Refusal> {
        let key: MapKey = match self.config.mapping {
            Dependence::EndpointIndependent => (inside, None, None),
            Dependence::AddressDependent => (inside, Some(*dst.ip()), None),
            Dependence::AddressAndPortDependent => (inside, Some(*dst.ip()), Some(dst.port())),
        };
        let timeout = self.config.timeout(proto);
        let table = &mut self.tables[proto as usize];
        if let Some(&port) = table.by_key.get(&key) {
            let m = table.by_port.get_mut(&port).expect("by_key and by_port agree");
            if now.duration_since(m.last) <= timeout {
                m.last = now;
                m.contacted.insert(dst);
                return Ok((SocketAddrV4::new(self.public, port), None));
            }
            table.by_key.remove(&key);
            table.by_port.remove(&port);
        }
        let free = |table: &Table, p: u16| table.by_port.get(&p).is_none_or(|m| now.duration_since(m.last) > timeout);
        let port = if NAT_PORTS.contains(&inside.port()) && free(table, inside.port()) {
            inside.port()
        } else {
            let (lo, hi) = (*NAT_PORTS.start(), *NAT_PORTS.end());
            let mut next = table.cursor.unwrap_or(lo);
            let mut found = None;
            for _ in 0..=u32::from(hi - lo) {
                let p = next;
                next = if p == hi { lo } else { p + 1 };
                if free(table, p) {
                    found = Some(p);
                    break;
                }
            }
            table.cursor = Some(next);
            found.ok_or(Refusal::NoPort)?
        };
        if let Some(old) = table.by_port.remove(&port) {
            table.by_key.remove(&old.key);
        }
        table.by_key.insert(key, port);
        table.by_port.insert(port, Mapping { key, node, last: now, contacted: BTreeSet::from([dst]) });
        let public = SocketAddrV4::new(self.public, port);
        Ok((public, Some(NewMapping { public })))
    }

    /// Where a packet from `src` to the public `port` goes now: the inside
    /// instance and endpoint, if a live mapping admits it.
    pub(crate) fn inbound(
        &mut self,
        proto: Proto,
        port: u16,
        src: SocketAddrV4,
        now: SimTime,
    ) -> Result<(NodeId, SocketAddrV4), Refusal> {
        let timeout = self.config.timeout(proto);
        let filtering = self.config.filtering;
        let table = &mut self.tables[proto as usize];
        let Some(m) = table.by_port.get_mut(&port) else { return Err(Refusal::Filtered) };
        if now.duration_since(m.last) > timeout {
            let key = m.key;
            table.by_port.remove(&port);
            table.by_key.remove(&key);
            return Err(Refusal::Filtered);
        }
        let admitted = match filtering {
            Dependence::EndpointIndependent => true,
            Dependence::AddressDependent => m.contacted.iter().any(|c| c.ip() == src.ip()),
            Dependence::AddressAndPortDependent => m.contacted.contains(&src),
        };
        if !admitted {
            return Err(Refusal::Filtered);
        }
        m.last = now;
        Ok((m.node, m.key.0))
    }

    /// Whether a mapping for public `port` is live now.
    #[cfg(test)]
    fn is_mapped(&self, proto: Proto, port: u16, now: SimTime) -> bool {
        let timeout = self.config.timeout(proto);
        self.tables[proto as usize].by_port.get(&port).is_some_and(|m| now.duration_since(m.last) <= timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(d: u8, port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(16, 0, 0, d), port)
    }

    fn nat(name: &str) -> Nat {
        Nat::new(NatConfig::named(name).unwrap(), Ipv4Addr::new(16, 0, 0, 2), vec![NodeId(0)])
    }

    const INSIDE: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 5000);
    const T0: SimTime = SimTime::ZERO;

    #[test]
    fn endpoint_independent_mapping_reuses_the_port_and_keeps_it() {
        let mut n = nat("full-cone");
        let (a, new) = n.outbound(Proto::Udp, NodeId(0), INSIDE, sa(9, 1), T0).unwrap();
        assert!(new.is_some());
        assert_eq!(a, SocketAddrV4::new(n.public, 5000), "port preservation");
        let (b, new) = n.outbound(Proto::Udp, NodeId(0), INSIDE, sa(8, 2), T0).unwrap();
        assert_eq!((a, new.is_none()), (b, true));
        // Full cone: anyone may send in.
        assert_eq!(n.inbound(Proto::Udp, 5000, sa(7, 7), T0), Ok((NodeId(0), INSIDE)));
        assert_eq!(n.inbound(Proto::Tcp, 5000, sa(7, 7), T0), Err(Refusal::Filtered), "per protocol");
    }

    #[test]
    fn symmetric_mapping_gives_each_destination_its_own_port() {
        let mut n = nat("symmetric");
        let (a, _) = n.outbound(Proto::Udp, NodeId(0), INSIDE, sa(9, 1), T0).unwrap();
        let (b, _) = n.outbound(Proto::Udp, NodeId(0), INSIDE, sa(9, 2), T0).unwrap();
        assert_ne!(a.port(), b.port());
        assert_eq!(a.port(), 5000);
        assert_eq!(n.inbound(Proto::Udp, b.port(), sa(9, 2), T0), Ok((NodeId(0), INSIDE)));
        assert_eq!(n.inbound(Proto::Udp, b.port(), sa(9, 1), T0), Err(Refusal::Filtered), "port-dependent filter");
    }

    #[test]
    fn filters_admit_what_was_contacted() {
        let mut restricted = nat("restricted-cone");
        restricted.outbound(Proto::Udp, NodeId(0), INSIDE, sa(9, 1), T0).unwrap();
        assert!(restricted.inbound(Proto::Udp, 5000, sa(9, 77), T0).is_ok(), "same address, other port");
        assert!(restricted.inbound(Proto::Udp, 5000, sa(8, 1), T0).is_err());
        let mut port_restricted = nat("port-restricted-cone");
        port_restricted.outbound(Proto::Udp, NodeId(0), INSIDE, sa(9, 1), T0).unwrap();
        assert!(port_restricted.inbound(Proto::Udp, 5000, sa(9, 77), T0).is_err());
        assert!(port_restricted.inbound(Proto::Udp, 5000, sa(9, 1), T0).is_ok());
    }

    #[test]
    fn idle_mappings_expire_and_traffic_keeps_them_alive() {
        let mut n = nat("full-cone");
        n.outbound(Proto::Udp, NodeId(0), INSIDE, sa(9, 1), T0).unwrap();
        let just = T0 + UDP_MAPPING_TIMEOUT;
        assert!(n.inbound(Proto::Udp, 5000, sa(9, 1), just).is_ok(), "refreshed at the last moment");
        let late = just + UDP_MAPPING_TIMEOUT + Duration::from_nanos(1);
        assert_eq!(n.inbound(Proto::Udp, 5000, sa(9, 1), late), Err(Refusal::Filtered));
        assert!(!n.is_mapped(Proto::Udp, 5000, late));
        let (_, new) = n.outbound(Proto::Udp, NodeId(0), INSIDE, sa(9, 1), late).unwrap();
        assert!(new.is_some(), "a fresh mapping after expiry");
    }

    #[test]
    fn a_taken_port_moves_to_the_next_free_one() {
        let mut n = nat("full-cone");
        let other = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 3), 5000);
        n.outbound(Proto::Udp, NodeId(0), INSIDE, sa(9, 1), T0).unwrap();
        let (b, _) = n.outbound(Proto::Udp, NodeId(1), other, sa(9, 1), T0).unwrap();
        assert_eq!(b.port(), 1024);
        let low = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 3), 80);
        let (c, _) = n.outbound(Proto::Udp, NodeId(1), low, sa(9, 1), T0).unwrap();
        assert_eq!(c.port(), 1025, "privileged inside ports are not preserved");
    }

    #[test]
    fn types_by_name() {
        assert!(NatConfig::named("moderate").is_none());
        let s = NatConfig::named("symmetric").unwrap();
        assert_eq!(
            (s.mapping, s.filtering),
            (Dependence::AddressAndPortDependent, Dependence::AddressAndPortDependent)
        );
        assert_eq!(Dependence::from_name("address-dependent"), Some(Dependence::AddressDependent));
    }
}
