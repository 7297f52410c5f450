//! A run's network layout: group subnets, NATs, inbound filters, regions and
//! IPv6, as a composition gives them and `run.json` records them.
//!
//! [`NetworkSpec`] is per group (as compositions speak), with every value
//! already parsed (durations in nanoseconds, rates in bits per second), so
//! that `run.json` replays it without the composition. [`NetworkSpec::topology`]
//! lays it onto the run's instances as a netsim [`Topology`] and refuses, with
//! the group named, what cannot be: overlapping or malformed subnets, a group
//! too large for its subnet, an address two holders would share, a NAT in a run
//! split across workers. How packets meet it is netsim's business.

use super::spec::GroupRequest;
use crate::error::InputError;
use netsim::NodeId;
use netsim::net::nat::{Dependence, NatConfig};
use netsim::net::topology::{Holder, TopologyError, subnet_addresses};
use netsim::net::{Filter, NatSpec, RegionPath, Regions, Subnet, Topology};
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;
use std::time::Duration;

/// The network a run lays out; [`Default`] is Testground's flat network.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkSpec {
    /// Whether instances not behind a NAT have an IPv6 address too.
    #[serde(default)]
    pub ipv6: bool,
    /// The regions, in matrix order.
    #[serde(default)]
    pub regions: Vec<RegionSpec>,
    /// Per group, what differs from the defaults; groups not listed have none.
    #[serde(default)]
    pub groups: Vec<GroupNetworkSpec>,
}

/// One region and its paths to every region, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RegionSpec {
    /// Its name, which groups are placed by.
    pub name: String,
    /// One path per region, in the regions' order.
    pub paths: Vec<PathSpec>,
}

/// A path from one region to another.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PathSpec {
    /// One-way latency in nanoseconds.
    pub latency_ns: u64,
    /// Rate in bits per second; 0 is unlimited.
    #[serde(default)]
    pub bandwidth_bps: u64,
    /// Loss probability.
    #[serde(default)]
    pub loss: f64,
}

/// One group's network settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupNetworkSpec {
    /// The group.
    pub id: String,
    /// Where its instances' addresses come from (behind a NAT: its inside addresses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
    /// The region it is in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// What its instances do with unsolicited traffic: `accept`, `drop` or `reject`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inbound: Option<String>,
    /// The NAT its instances sit behind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat: Option<NatGroupSpec>,
}

/// A group's NAT.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NatGroupSpec {
    /// Mapping behaviour: `endpoint-independent`, `address-dependent` or `address-and-port-dependent`.
    pub mapping: String,
    /// Filtering behaviour, in the same terms.
    pub filtering: String,
    /// Whether it hairpins.
    pub hairpinning: bool,
    /// Idle lifetime of a UDP mapping, in nanoseconds.
    pub udp_timeout_ns: u64,
    /// Idle lifetime of a TCP mapping, in nanoseconds.
    pub tcp_timeout_ns: u64,
    /// One NAT for the whole group (a corporate or carrier-grade NAT), or
    /// one per instance (home routers, the default).
    pub shared: bool,
    /// The shared NAT's public address; by default the address plan's address of its first instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public: Option<String>,
}

/// The names of inbound filters, as compositions spell them.
pub fn parse_filter(text: &str) -> Option<Filter> {
    match text {
        "accept" => Some(Filter::Accept),
        "drop" => Some(Filter::Drop),
        "reject" => Some(Filter::Reject),
        _ => None,
    }
}

impl NatGroupSpec {
    /// The NAT's behaviour, or why its names are wrong.
    pub fn config(&self) -> Result<NatConfig, InputError> {
        let dependence = |what: &str, name: &str| {
            Dependence::from_name(name).ok_or_else(|| {
                InputError::new(format!(
                    "nat.{what} {name:?} is not a behaviour; behaviours are endpoint-independent, address-dependent, \
                     address-and-port-dependent"
                ))
            })
        };
        Ok(NatConfig {
            mapping: dependence("mapping", &self.mapping)?,
            filtering: dependence("filtering", &self.filtering)?,
            hairpinning: self.hairpinning,
            udp_timeout: Duration::from_nanos(self.udp_timeout_ns),
            tcp_timeout: Duration::from_nanos(self.tcp_timeout_ns),
        })
    }
}

impl NetworkSpec {
    /// The subnet group `id`'s data addresses come from, as Testground's
    /// `TEST_SUBNET` gives it: its own if it has one, else the whole data network.
    pub fn subnet_of(&self, id: &str) -> String {
        self.groups
            .iter()
            .find(|g| g.id == id)
            .and_then(|g| g.subnet.clone())
            .unwrap_or_else(|| format!("{}/{}", netsim::net::addr::DATA_NETWORK, netsim::net::addr::DATA_PREFIX))
    }

    /// Whether nothing differs from the flat default.
    pub fn is_flat(&self) -> bool {
        *self == NetworkSpec::default()
    }

    /// Why this network cannot be split across workers, if it cannot: a NAT
    /// shared by a group keeps one mapping table for instances that may live
    /// on different workers. Everything else works split: per-instance NATs and
    /// filters belong to their instance's worker, and addresses and regions
    /// are fixed before the run starts.
    pub fn split_refusal(&self) -> Option<String> {
        self.groups.iter().find(|g| g.nat.as_ref().is_some_and(|n| n.shared)).map(|g| {
            format!(
                "group {:?}: a NAT shared by a group cannot be split across workers (--workers), as its mappings \
                 would live on one worker only; give each instance its own NAT (nat.shared = false) or run in one process",
                g.id
            )
        })
    }

    /// The netsim topology for `groups`, in order, or what is wrong with the group named.
    pub fn topology(&self, groups: &[GroupRequest]) -> Result<Topology, InputError> {
        let total: u32 = groups.iter().map(|g| g.instances).sum();
        let mut first = Vec::with_capacity(groups.len());
        let mut start = 0u32;
        for g in groups {
            first.push(start);
            start += g.instances;
        }
        let group_of = |node: u32| {
            let i = first.partition_point(|&f| f <= node) - 1;
            &groups[i].id
        };
        let mut topology = Topology {
            addresses: Vec::new(),
            nats: Vec::new(),
            inbound: Vec::new(),
            regions: Regions::default(),
            ipv6: self.ipv6,
        };
        let names: Vec<&str> = self.regions.iter().map(|r| r.name.as_str()).collect();
        if !self.regions.is_empty() {
            topology.regions = Regions {
                names: names.iter().map(|n| n.to_string()).collect(),
                paths: self
                    .regions
                    .iter()
                    .map(|r| {
                        r.paths
                            .iter()
                            .map(|p| RegionPath {
                                latency: Duration::from_nanos(p.latency_ns),
                                bandwidth: p.bandwidth_bps,
                                loss: p.loss,
                            })
                            .collect()
                    })
                    .collect(),
                of_node: vec![None; total as usize],
            };
        }
        let mut subnets: Vec<(Subnet, &str)> = Vec::new();
        for spec in &self.groups {
            let place = format!("group {:?}", spec.id);
            let Some(index) = groups.iter().position(|g| g.id == spec.id) else {
                return Err(InputError::new(format!("network settings for {place}, which does not exist")));
            };
            let (from, count) = (first[index], groups[index].instances);
            let nodes = from..from + count;
            if let Some(region) = &spec.region {
                let Some(r) = names.iter().position(|n| n == region) else {
                    let known = if names.is_empty() { "none are defined".to_string() } else { names.join(", ") };
                    return Err(InputError::new(format!(
                        "{place}: region {region:?} is not one of [[network.regions]] ({known})"
                    )));
                };
                for n in nodes.clone() {
                    topology.regions.of_node[n as usize] = Some(r as u16);
                }
            }
            if let Some(inbound) = &spec.inbound {
                let filter = parse_filter(inbound).ok_or_else(|| {
                    InputError::new(format!("{place}: inbound {inbound:?} is not accept, drop or reject"))
                })?;
                if topology.inbound.len() < nodes.end as usize {
                    topology.inbound.resize(nodes.end as usize, Filter::Accept);
                }
                for n in nodes.clone() {
                    topology.inbound[n as usize] = filter;
                }
            }
            if let Some(text) = &spec.subnet {
                let subnet: Subnet =
                    text.parse().map_err(|e| InputError::new(format!("{place}: network.subnet {e}")))?;
                if !subnet.addr.is_ipv4() {
                    return Err(InputError::new(format!(
                        "{place}: network.subnet {text:?} is IPv6; a group's subnet is IPv4 (its IPv6 addresses follow)"
                    )));
                }
                if let Some((other, id)) = subnets.iter().find(|(s, _)| s.overlaps(&subnet)) {
                    return Err(InputError::new(format!(
                        "{place}: network.subnet {subnet} overlaps group {id:?}'s {other}"
                    )));
                }
                subnets.push((subnet, &spec.id));
                let addresses = subnet_addresses(&subnet, count).ok_or_else(|| {
                    InputError::new(format!(
                        "{place}: network.subnet {subnet} has {} addresses for instances (less network, gateway .1 \
                         and broadcast), not the {count} the group needs",
                        subnet.hosts()
                    ))
                })?;
                if topology.addresses.len() < nodes.end as usize {
                    topology.addresses.resize(nodes.end as usize, None);
                }
                for (n, ip) in nodes.clone().zip(addresses) {
                    topology.addresses[n as usize] = Some(ip);
                }
            }
            if let Some(nat) = &spec.nat {
                let config = nat.config().map_err(|e| InputError::new(format!("{place}: {}", e.message())))?;
                let public = match &nat.public {
                    None => None,
                    Some(_) if !nat.shared => {
                        return Err(InputError::new(format!(
                            "{place}: nat.public needs nat.shared = true (each instance's own NAT takes the address \
                             plan's address of its instance)"
                        )));
                    }
                    Some(text) => Some(text.parse::<Ipv4Addr>().map_err(|_| {
                        InputError::new(format!("{place}: nat.public {text:?} is not an IPv4 address"))
                    })?),
                };
                if nat.shared {
                    let members = nodes.clone().map(NodeId).collect();
                    topology.nats.push(NatSpec { config, public, members });
                } else {
                    for n in nodes.clone() {
                        topology.nats.push(NatSpec { config: config.clone(), public: None, members: vec![NodeId(n)] });
                    }
                }
            }
        }
        let nat_group = |k: usize| {
            topology.nats.get(k).and_then(|n| n.members.first()).map_or("?".to_string(), |m| group_of(m.0).clone())
        };
        topology.check(total).map_err(|e| {
            let who = |h: Holder| match h {
                Holder::Instance(n) => format!("group {:?} (instance {n})", group_of(n.0)),
                Holder::Nat(k) => format!("the NAT of group {:?}", nat_group(k)),
            };
            InputError::new(match e {
                TopologyError::Taken { ip, first, second } => {
                    format!(
                        "network: address {ip} would be both {}'s and {}'s; choose subnets apart",
                        who(first),
                        who(second)
                    )
                }
                TopologyError::Unassignable { holder, ip, what } => {
                    format!("network: {}: {ip} is not {what}", who(holder))
                }
                TopologyError::Region(e) => format!("[[network.regions]]: {e}"),
                other => format!("network: {other}"),
            })
        })?;
        Ok(topology)
    }
}

/// Parses a rate in bits per second: a plain number, or one with `bps`,
/// `kbps`, `Mbps` or `Gbps` (decimal, as network rates are quoted).
pub fn parse_rate(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match unit.trim() {
        "" | "bps" => 1.0,
        "kbps" => 1e3,
        "Mbps" => 1e6,
        "Gbps" => 1e9,
        _ => return None,
    };
    let bps = number * scale;
    (bps.is_finite() && bps >= 0.0 && bps <= u64::MAX as f64).then_some(bps.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(sizes: &[(&str, u32)]) -> Vec<GroupRequest> {
        sizes.iter().map(|&(id, n)| GroupRequest::new(id, n)).collect()
    }

    fn group(id: &str) -> GroupNetworkSpec {
        GroupNetworkSpec { id: id.into(), ..GroupNetworkSpec::default() }
    }

    #[test]
    fn subnets_give_addresses_in_order() {
        let spec = NetworkSpec {
            groups: vec![GroupNetworkSpec { subnet: Some("16.1.0.0/24".into()), ..group("b") }],
            ..NetworkSpec::default()
        };
        let t = spec.topology(&groups(&[("a", 2), ("b", 2)])).unwrap();
        assert_eq!(t.addresses, vec![None, None, Some(Ipv4Addr::new(16, 1, 0, 2)), Some(Ipv4Addr::new(16, 1, 0, 3))]);
    }

    #[test]
    fn refusals_name_the_group() {
        let with = |g: GroupNetworkSpec| NetworkSpec { groups: vec![g], ..NetworkSpec::default() };
        let gs = groups(&[("a", 3), ("b", 2)]);
        let err = |spec: NetworkSpec| spec.topology(&gs).unwrap_err().message().to_string();
        let e = err(with(GroupNetworkSpec { subnet: Some("16.0.0.0/30".into()), ..group("b") }));
        assert!(e.starts_with("group \"b\": network.subnet 16.0.0.0/30 has 1 addresses"), "{e}");
        let e = err(with(GroupNetworkSpec { subnet: Some("16.0.0.0/24".into()), ..group("b") }));
        assert!(e.contains("address 16.0.0.2 would be both group \"a\" (instance 0)'s and group \"b\""), "{e}");
        let e = err(with(GroupNetworkSpec { subnet: Some("16.1.0.0/33".into()), ..group("b") }));
        assert!(e.starts_with("group \"b\": network.subnet \"16.1.0.0/33\": prefix /33"), "{e}");
        let overlap = NetworkSpec {
            groups: vec![
                GroupNetworkSpec { subnet: Some("16.1.0.0/16".into()), ..group("a") },
                GroupNetworkSpec { subnet: Some("16.1.4.0/24".into()), ..group("b") },
            ],
            ..NetworkSpec::default()
        };
        assert_eq!(err(overlap), "group \"b\": network.subnet 16.1.4.0/24 overlaps group \"a\"'s 16.1.0.0/16");
        let e = err(with(GroupNetworkSpec { region: Some("mars".into()), ..group("a") }));
        assert_eq!(e, "group \"a\": region \"mars\" is not one of [[network.regions]] (none are defined)");
        let e = err(with(GroupNetworkSpec { inbound: Some("maybe".into()), ..group("a") }));
        assert_eq!(e, "group \"a\": inbound \"maybe\" is not accept, drop or reject");
    }

    #[test]
    fn rates() {
        assert_eq!(parse_rate("100Mbps"), Some(100_000_000));
        assert_eq!(parse_rate("1.5Gbps"), Some(1_500_000_000));
        assert_eq!(parse_rate("64000"), Some(64_000));
        assert_eq!(parse_rate("fast"), None);
        assert_eq!(parse_rate("-5Mbps"), None);
    }
}
