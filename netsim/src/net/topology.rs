//! How the data network is laid out when a run starts: who has which
//! address, who sits behind which NAT, who blocks unsolicited traffic, and
//! which region each instance is in. [`Topology::default`] is Testground's
//! flat network: every instance on the address plan of [`super::addr`],
//! nothing in between.
//!
//! A topology is plain data, given to [`super::Network::set_topology`] before
//! anything happens; [`Topology::check`] says what is wrong with one, naming
//! instances (the host names groups). The live state it starts is elsewhere:
//! addresses in [`super::table`], NATs in [`super::nat`], filters in
//! [`super::firewall`], region paths in [`super::region`].

use super::addr::{self, Subnet};
use super::config::Filter;
use super::nat::NatConfig;
use super::region::{RegionError, Regions};
use super::table::{AddressTable, Owner};
use crate::node::NodeId;
use std::net::{IpAddr, Ipv4Addr};

/// One NAT and the instances behind it.
#[derive(Clone, Debug, PartialEq)]
pub struct NatSpec {
    /// How it behaves.
    pub config: NatConfig,
    /// Its public address; `None` takes the address plan's address of its first member.
    pub public: Option<Ipv4Addr>,
    /// The instances behind it, at least one.
    pub members: Vec<NodeId>,
}

/// The layout of the data network at the start of a run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Topology {
    /// Each instance's IPv4 address, by instance; `None` (or past the end)
    /// takes the address plan's (behind a NAT: [`addr::inside_addr_of`]).
    pub addresses: Vec<Option<Ipv4Addr>>,
    /// The NATs.
    pub nats: Vec<NatSpec>,
    /// Each instance's filter for unsolicited inbound traffic, by instance;
    /// past the end is [`Filter::Accept`] (nothing blocked).
    pub inbound: Vec<Filter>,
    /// The regions, if any (no names: none).
    pub regions: Regions,
    /// Whether instances not behind a NAT have an IPv6 address too (dual
    /// stack; `instance-<seq>` then resolves to both). Off by default:
    /// Testground's network was IPv4 only, and a plan written for it — rules
    /// per IPv4 address, connects by name that expect a refusal — would see a
    /// second address family change its run. IPv6 sockets exist either way.
    pub ipv6: bool,
}

/// What is wrong with a topology.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    /// Two holders of one address.
    #[error("address {ip} is given twice: to {first} and to {second}")]
    Taken {
        /// The address.
        ip: IpAddr,
        /// Who had it first.
        first: Holder,
        /// Who was given it again.
        second: Holder,
    },
    /// An address an instance cannot have where it is.
    #[error("{holder}: {ip} is not {what}")]
    Unassignable {
        /// Who was given it.
        holder: Holder,
        /// The address.
        ip: Ipv4Addr,
        /// What it should have been.
        what: &'static str,
    },
    /// More per-instance entries than instances.
    #[error("the topology describes instance {node}, but the run has {instances}")]
    NoSuchInstance {
        /// The instance.
        node: u32,
        /// How many there are.
        instances: u32,
    },
    /// A NAT with nobody behind it.
    #[error("NAT #{0} has no instance behind it")]
    EmptyNat(usize),
    /// An instance behind two NATs.
    #[error("instance {node} is behind NAT #{first} and NAT #{second}")]
    TwoNats {
        /// The instance.
        node: u32,
        /// One NAT.
        first: usize,
        /// The other.
        second: usize,
    },
    /// A region description that cannot be used.
    #[error(transparent)]
    Region(#[from] RegionError),
    /// The network already carries traffic.
    #[error("the topology is set before anything happens on the network")]
    TooLate,
}

/// Who holds an address, in a [`TopologyError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holder {
    /// An instance.
    Instance(NodeId),
    /// The public side of NAT number `n`.
    Nat(usize),
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Holder::Instance(n) => write!(f, "instance {n}"),
            Holder::Nat(k) => write!(f, "NAT #{k}"),
        }
    }
}

/// What the description of a public address says it must be.
const PUBLIC: &str =
    "an address of the data network 16.0.0.0/4 (nor a block's x.y.0.0, gateway x.y.0.1 or x.y.255.255)";
/// What the description of an address behind a NAT says it must be.
const PRIVATE: &str = "a private address (10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16), as behind a NAT";

impl Topology {
    /// Whether this is the flat default: nothing to set up.
    pub fn is_flat(&self) -> bool {
        *self == Topology::default()
    }

    /// Checks the topology for a run of `instances` instances.
    pub fn check(&self, instances: u32) -> Result<(), TopologyError> {
        self.build(instances).map(|_| ())
    }

    /// The address table and each instance's NAT, or what is wrong.
    pub(crate) fn build(&self, instances: u32) -> Result<AddressTable, TopologyError> {
        let too_far = |len: usize| {
            (len > instances as usize).then_some(TopologyError::NoSuchInstance { node: instances, instances })
        };
        if let Some(e) = too_far(self.addresses.len()).or(too_far(self.inbound.len())) {
            return Err(e);
        }
        self.regions.check()?;
        let mut realm: Vec<Option<u32>> = vec![None; instances as usize];
        for (k, nat) in self.nats.iter().enumerate() {
            if nat.members.is_empty() {
                return Err(TopologyError::EmptyNat(k));
            }
            for &m in &nat.members {
                let slot = realm.get_mut(m.index()).ok_or(TopologyError::NoSuchInstance { node: m.0, instances })?;
                if let Some(first) = *slot {
                    return Err(TopologyError::TwoNats { node: m.0, first: first as usize, second: k });
                }
                *slot = Some(k as u32);
            }
        }
        let mut table = AddressTable::with_capacity(instances as usize);
        for n in 0..instances {
            let node = NodeId(n);
            let behind = realm[n as usize];
            let chosen = self.addresses.get(n as usize).copied().flatten();
            let v4 = match (chosen, behind) {
                (Some(ip), _) => ip,
                (None, None) => addr::addr_of(node),
                (None, Some(_)) => addr::inside_addr_of(node).ok_or(TopologyError::Unassignable {
                    holder: Holder::Instance(node),
                    ip: addr::addr_of(node),
                    what: "an instance the 10.0.0.0/8 inside network can number; give its group a subnet",
                })?,
            };
            let (ok, what) =
                if behind.is_some() { (addr::is_private(v4), PRIVATE) } else { (addr::assignable_public(v4), PUBLIC) };
            if !ok {
                return Err(TopologyError::Unassignable { holder: Holder::Instance(node), ip: v4, what });
            }
            let v6 = (self.ipv6 && behind.is_none()).then(|| addr::v6_of(v4));
            table.push(node, v4, v6, behind).map_err(|(ip, first)| TopologyError::Taken {
                ip,
                first: holder(first),
                second: Holder::Instance(node),
            })?;
        }
        for (k, nat) in self.nats.iter().enumerate() {
            let public = nat.public.unwrap_or_else(|| addr::addr_of(nat.members[0]));
            if !addr::assignable_public(public) {
                return Err(TopologyError::Unassignable { holder: Holder::Nat(k), ip: public, what: PUBLIC });
            }
            table.add_nat(k as u32, public).map_err(|first| TopologyError::Taken {
                ip: IpAddr::V4(public),
                first: holder(first),
                second: Holder::Nat(k),
            })?;
        }
        Ok(table)
    }
}

fn holder(owner: Owner) -> Holder {
    match owner {
        Owner::Node(n) => Holder::Instance(n),
        Owner::Nat(k) => Holder::Nat(k as usize),
    }
}

/// Hands out a group's addresses from `subnet`, in order, or says it is too small.
///
/// ```
/// use netsim::net::topology::subnet_addresses;
/// let ips = subnet_addresses(&"16.1.0.0/24".parse().unwrap(), 3).unwrap();
/// assert_eq!(ips[2].to_string(), "16.1.0.4");
/// assert!(subnet_addresses(&"16.1.0.0/30".parse().unwrap(), 2).is_none());
/// ```
pub fn subnet_addresses(subnet: &Subnet, count: u32) -> Option<Vec<Ipv4Addr>> {
    if !subnet.addr.is_ipv4() || subnet.hosts() < u64::from(count) {
        return None;
    }
    (0..u64::from(count))
        .map(|i| match subnet.host(i) {
            Some(IpAddr::V4(ip)) => Some(ip),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flat_default_is_the_address_plan() {
        let t = Topology::default().build(3).unwrap();
        assert_eq!(t.v4(NodeId(2)), Ipv4Addr::new(16, 0, 0, 4));
        assert_eq!(t.v6(NodeId(2)), None, "IPv6 is off unless asked for");
        let t = Topology { ipv6: true, ..Topology::default() }.build(3).unwrap();
        assert_eq!(t.v6(NodeId(2)).unwrap().to_string(), "fd00::1000:4");
        assert_eq!(t.owner("16.0.0.4".parse().unwrap()), Some(Owner::Node(NodeId(2))));
    }

    #[test]
    fn behind_a_nat_addresses_are_private_and_the_nat_has_the_public_one() {
        let topo = Topology {
            nats: vec![NatSpec {
                config: NatConfig::named("symmetric").unwrap(),
                public: None,
                members: vec![NodeId(1)],
            }],
            ipv6: true,
            ..Topology::default()
        };
        let t = topo.build(2).unwrap();
        assert_eq!(t.v4(NodeId(1)), Ipv4Addr::new(10, 0, 0, 3));
        assert_eq!(t.v6(NodeId(1)), None, "NATs translate IPv4 only");
        assert_eq!(t.owner("16.0.0.3".parse().unwrap()), Some(Owner::Nat(0)));
        assert_eq!(t.realm(NodeId(1)), Some(0));
    }

    #[test]
    fn refusals_name_who() {
        let taken = Topology { addresses: vec![Some(Ipv4Addr::new(16, 0, 0, 3))], ..Topology::default() };
        let err = taken.check(2).unwrap_err();
        assert_eq!(err.to_string(), "address 16.0.0.3 is given twice: to instance 0 and to instance 1");
        let outside = Topology { addresses: vec![Some(Ipv4Addr::new(8, 8, 8, 8))], ..Topology::default() };
        assert!(outside.check(1).unwrap_err().to_string().starts_with("instance 0: 8.8.8.8 is not an address of"));
        let gateway = Topology { addresses: vec![Some(Ipv4Addr::new(16, 3, 0, 1))], ..Topology::default() };
        assert!(gateway.check(1).is_err());
        let public_inside = Topology {
            addresses: vec![Some(Ipv4Addr::new(16, 0, 9, 9))],
            nats: vec![NatSpec {
                config: NatConfig::named("full-cone").unwrap(),
                public: None,
                members: vec![NodeId(0)],
            }],
            ..Topology::default()
        };
        assert!(public_inside.check(1).unwrap_err().to_string().contains("a private address"));
        let twice = Topology {
            nats: vec![
                NatSpec { config: NatConfig::named("full-cone").unwrap(), public: None, members: vec![NodeId(0)] },
                NatSpec {
                    config: NatConfig::named("full-cone").unwrap(),
                    public: Some(Ipv4Addr::new(16, 9, 0, 2)),
                    members: vec![NodeId(0)],
                },
            ],
            ..Topology::default()
        };
        assert_eq!(twice.check(1), Err(TopologyError::TwoNats { node: 0, first: 0, second: 1 }));
    }
}
