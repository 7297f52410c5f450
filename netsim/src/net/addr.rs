//! The data network's address plan, subnets, and name resolution.
//!
//! Testground gives every instance one IPv4 address on a data network carved
//! from `16.0.0.0`–`31.255.255.255`, in `/16` blocks whose `x.y.0.1` is the
//! gateway. We keep that convention and make the default mapping a pure
//! function of the instance number, so an address never depends on start-up
//! order:
//!
//! - the data network is `16.0.0.0/4` (the sixteen `/8`s Testground draws from);
//! - it is cut into `/16` blocks `16.0/16, 16.1/16, …, 31.255/16` (4096 blocks);
//! - in each block the offsets `.0.0` (network), `.0.1` (gateway) and
//!   `.255.255` (broadcast) are never assigned, leaving [`HOSTS_PER_BLOCK`] = 65533 hosts;
//! - instance `n` lives in block `n / 65533` at offset `n % 65533 + 2`.
//!
//! So instance 0 is `16.0.0.2`, instance 65532 is `16.0.255.254`, instance
//! 65533 is `16.1.0.2`: 268 million instances fit.
//!
//! Beside it, two more conventions:
//!
//! - **IPv6**: in a run with IPv6 on ([`super::Topology::ipv6`]), every
//!   instance not behind a NAT also has an IPv6 address, in the unique local
//!   range (RFC 4193): `fd00::` followed by the IPv4 address it starts with
//!   ([`v6_of`]), so `16.0.0.2` is also `fd00::1000:2`.
//! - **Behind a NAT** an instance has a private address (RFC 1918). Unless
//!   its group chooses a subnet it is [`inside_addr_of`]: the `10.0.0.0/8`
//!   address at the same offset its public one would have (instance 0 is
//!   `10.0.0.2`).
//!
//! These are the defaults only: who has which address *now* (plans may choose
//! theirs, groups may have subnets) is [`super::table`]'s business. This module
//! knows nothing of sockets, links or tables.

use crate::node::NodeId;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// First address of the data network: Testground's `16.0.0.0`.
pub const DATA_NETWORK: Ipv4Addr = Ipv4Addr::new(16, 0, 0, 0);
/// Prefix length of the whole data network (`16.0.0.0`–`31.255.255.255`).
pub const DATA_PREFIX: u8 = 4;
/// Usable hosts per `/16` block: 65536 minus network, gateway and broadcast.
pub const HOSTS_PER_BLOCK: u32 = 65_533;
/// Offset of the first host in a block, after the network (`.0.0`) and gateway (`.0.1`) addresses.
const FIRST_HOST_OFFSET: u32 = 2;
/// How many `/16` blocks the data network holds.
const BLOCKS: u32 = 1 << (16 - DATA_PREFIX);

/// The IPv6 data network: the unique local range `fd00::/8` (RFC 4193).
pub const DATA_NETWORK_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0);
/// Prefix length of the IPv6 data network.
pub const DATA_PREFIX_V6: u8 = 8;

/// Where addresses behind a NAT come from by default: `10.0.0.0/8`.
pub const INSIDE_NETWORK: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 0);

/// The private IPv4 ranges of RFC 1918, where addresses behind a NAT must lie.
pub const PRIVATE_RANGES: [(Ipv4Addr, u8); 3] =
    [(Ipv4Addr::new(10, 0, 0, 0), 8), (Ipv4Addr::new(172, 16, 0, 0), 12), (Ipv4Addr::new(192, 168, 0, 0), 16)];

/// The data-network address of instance `node` under the default plan.
///
/// ```
/// use netsim::net::addr_of;
/// use netsim::NodeId;
/// use std::net::Ipv4Addr;
/// assert_eq!(addr_of(NodeId(0)), Ipv4Addr::new(16, 0, 0, 2));
/// assert_eq!(addr_of(NodeId(65_533)), Ipv4Addr::new(16, 1, 0, 2));
/// ```
///
/// # Panics
/// If `node` is beyond the 268,435,456 instances the plan can number, which includes [`NodeId::SIM`].
pub fn addr_of(node: NodeId) -> Ipv4Addr {
    let block = node.0 / HOSTS_PER_BLOCK;
    assert!(block < BLOCKS, "instance {node} does not fit the data network");
    let offset = node.0 % HOSTS_PER_BLOCK + FIRST_HOST_OFFSET;
    Ipv4Addr::from(u32::from(DATA_NETWORK) + (block << 16) + offset)
}

/// The default address of instance `node` behind a NAT: its [`addr_of`]
/// moved from `16.0.0.0/4` into `10.0.0.0/8`, for the first 16.7 million instances.
///
/// ```
/// use netsim::net::addr::inside_addr_of;
/// use netsim::NodeId;
/// use std::net::Ipv4Addr;
/// assert_eq!(inside_addr_of(NodeId(0)), Some(Ipv4Addr::new(10, 0, 0, 2)));
/// ```
pub fn inside_addr_of(node: NodeId) -> Option<Ipv4Addr> {
    let rel = u32::from(addr_of(node)) - u32::from(DATA_NETWORK);
    (rel < 1 << 24).then(|| Ipv4Addr::from(u32::from(INSIDE_NETWORK) + rel))
}

/// The IPv6 address that goes with IPv4 address `v4`: `fd00::` and the IPv4 address in the last 32 bits.
///
/// ```
/// use netsim::net::addr::v6_of;
/// use std::net::{Ipv4Addr, Ipv6Addr};
/// assert_eq!(v6_of(Ipv4Addr::new(16, 0, 0, 2)), "fd00::1000:2".parse::<Ipv6Addr>().unwrap());
/// ```
pub fn v6_of(v4: Ipv4Addr) -> Ipv6Addr {
    Ipv6Addr::from(u128::from(DATA_NETWORK_V6) | u128::from(u32::from(v4)))
}

/// The instance whose default data-network address is `ip`, if the address follows the plan.
/// Whether that instance exists in a given run, or still has that address, is for the caller to check.
pub fn node_of(ip: Ipv4Addr) -> Option<NodeId> {
    let bits = u32::from(ip);
    if !in_prefix(ip, DATA_NETWORK, DATA_PREFIX) {
        return None;
    }
    let rel = bits - u32::from(DATA_NETWORK);
    let (block, offset) = (rel >> 16, rel & 0xffff);
    if !(FIRST_HOST_OFFSET..FIRST_HOST_OFFSET + HOSTS_PER_BLOCK).contains(&offset) {
        return None;
    }
    Some(NodeId(block * HOSTS_PER_BLOCK + offset - FIRST_HOST_OFFSET))
}

/// Whether `ip` lies in the data network at all (assigned or not).
pub fn in_data_network(ip: Ipv4Addr) -> bool {
    in_prefix(ip, DATA_NETWORK, DATA_PREFIX)
}

/// Whether `ip` lies in one of the private ranges of RFC 1918.
pub fn is_private(ip: Ipv4Addr) -> bool {
    PRIVATE_RANGES.iter().any(|&(net, prefix)| in_prefix(ip, net, prefix))
}

/// Whether `ip` is one a data-network host may have: in the data network,
/// and not a block's network, gateway or broadcast address (`x.y.0.0`,
/// `x.y.0.1`, `x.y.255.255`), which Testground reserves.
pub fn assignable_public(ip: Ipv4Addr) -> bool {
    let [_, _, c, d] = ip.octets();
    in_data_network(ip) && !(c == 0 && d < 2) && !(c == 255 && d == 255)
}

/// Whether `ip` lies in `net/prefix`.
pub fn in_prefix(ip: Ipv4Addr, net: Ipv4Addr, prefix: u8) -> bool {
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix.min(32))) };
    u32::from(ip) & mask == u32::from(net) & mask
}

/// Whether `ip` lies in `net/prefix`; an address of the other family never does.
pub fn in_subnet(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => in_prefix(ip, net, prefix),
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = if prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(prefix.min(128))) };
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// An IPv4 or IPv6 subnet in CIDR form, host bits cleared (as Go's
/// `net.ParseCIDR` gives the network Testground used).
///
/// ```
/// use netsim::net::addr::Subnet;
/// let s: Subnet = "16.1.0.9/24".parse().unwrap();
/// assert_eq!(s.to_string(), "16.1.0.0/24");
/// assert_eq!(s.host(0).unwrap().to_string(), "16.1.0.2");
/// assert_eq!(s.hosts(), 253);
/// assert!("16.1.0.0/33".parse::<Subnet>().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Subnet {
    /// The network address.
    pub addr: IpAddr,
    /// The prefix length.
    pub prefix: u8,
}

/// Why a subnet does not parse; the message quotes the text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SubnetError(String);

impl FromStr for Subnet {
    type Err = SubnetError;

    /// `a.b.c.d/p`, `x:y::/p`, or a bare address (a single host: `/32` or `/128`).
    fn from_str(text: &str) -> Result<Subnet, SubnetError> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| SubnetError(format!("{text:?}: {addr:?} is not an IP address")))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p.parse::<u8>().map_err(|_| SubnetError(format!("{text:?}: prefix {p:?} is not a number")))?,
        };
        if prefix > max {
            return Err(SubnetError(format!("{text:?}: prefix /{prefix} is longer than {max}")));
        }
        Ok(Subnet::new(addr, prefix))
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Subnet {
    /// `addr/prefix` with the host bits of `addr` cleared.
    pub fn new(addr: IpAddr, prefix: u8) -> Subnet {
        let addr = match addr {
            IpAddr::V4(a) => {
                let prefix = prefix.min(32);
                let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix)) };
                IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
            }
            IpAddr::V6(a) => {
                let prefix = prefix.min(128);
                let mask = if prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(prefix)) };
                IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
            }
        };
        Subnet { addr, prefix }
    }

    /// Whether `ip` lies in the subnet.
    pub fn contains(&self, ip: IpAddr) -> bool {
        in_subnet(ip, self.addr, self.prefix)
    }

    /// Whether the two subnets share an address.
    pub fn overlaps(&self, other: &Subnet) -> bool {
        self.contains(other.addr) || other.contains(self.addr)
    }

    /// How many addresses [`Subnet::host`] hands out: for IPv4 all but the
    /// network address, the gateway (`.1`, as in Testground) and the broadcast
    /// address; a `/32` is its one address. Saturates for huge IPv6 subnets.
    pub fn hosts(&self) -> u64 {
        match self.addr {
            IpAddr::V4(_) if self.prefix >= 31 => 1 << (32 - u32::from(self.prefix)),
            IpAddr::V4(_) => (1u64 << (32 - u32::from(self.prefix))) - 3,
            IpAddr::V6(_) if self.prefix == 128 => 1,
            IpAddr::V6(_) => (1u64.checked_shl(128 - u32::from(self.prefix)).unwrap_or(u64::MAX)).saturating_sub(2),
        }
    }

    /// The `i`-th assignable address (0-based): from `.2` up, as Testground
    /// left `.1` to the gateway; a `/31` or `/32` hands out its addresses as they are.
    pub fn host(&self, i: u64) -> Option<IpAddr> {
        if i >= self.hosts() {
            return None;
        }
        let skip = if self.hosts_are_whole() { 0 } else { 2 };
        Some(match self.addr {
            IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(u32::from(a) + skip + i as u32)),
            IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) + u128::from(skip) + u128::from(i))),
        })
    }

    fn hosts_are_whole(&self) -> bool {
        match self.addr {
            IpAddr::V4(_) => self.prefix >= 31,
            IpAddr::V6(_) => self.prefix == 128,
        }
    }
}

/// The instance a host name names, if it is `instance-<seq>` or
/// `instance-<seq>.tg` (case-insensitive, as DNS names are, RFC 4343) with a
/// canonical number. Whether that instance exists is for the caller to check.
pub fn instance_named(name: &str) -> Option<u32> {
    let name = name.to_ascii_lowercase();
    let name = name.strip_suffix(".tg").unwrap_or(&name);
    let digits = name.strip_prefix("instance-")?;
    // Leading zeros or signs would give one instance several names; accept only canonical numbers.
    if digits.is_empty() || (digits.len() > 1 && digits.starts_with('0')) || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    digits.parse().ok()
}

/// Resolves a host name among `instances` instances under the default address plan.
///
/// `instance-<seq>` and `instance-<seq>.tg` name instance `seq`; a dotted IPv4
/// literal resolves to itself (as `wasi:sockets` `resolve-addresses` requires);
/// `localhost` is `127.0.0.1`. Names are case-insensitive, as DNS names are
/// (RFC 4343). Everything else is not found: there is no DNS beyond the run.
/// [`super::Network::resolve`] answers with the run's current addresses, IPv6 included.
///
/// ```
/// use netsim::net::resolve;
/// use std::net::Ipv4Addr;
/// assert_eq!(resolve("instance-1.tg", 4), Some(Ipv4Addr::new(16, 0, 0, 3)));
/// assert_eq!(resolve("Instance-1.TG", 4), Some(Ipv4Addr::new(16, 0, 0, 3)));
/// assert_eq!(resolve("instance-4", 4), None);
/// assert_eq!(resolve("example.com", 4), None);
/// ```
pub fn resolve(name: &str, instances: u32) -> Option<Ipv4Addr> {
    if let Ok(ip) = name.parse::<Ipv4Addr>() {
        return Some(ip);
    }
    if name.eq_ignore_ascii_case("localhost") {
        return Some(Ipv4Addr::LOCALHOST);
    }
    let seq = instance_named(name)?;
    (seq < instances).then(|| addr_of(NodeId(seq)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping_round_trips_across_blocks() {
        for n in [0, 1, 65_532, 65_533, 65_534, 100_000, 1_000_000, BLOCKS * HOSTS_PER_BLOCK - 1] {
            let ip = addr_of(NodeId(n));
            assert_eq!(node_of(ip), Some(NodeId(n)), "{ip}");
            let o = ip.octets();
            assert!((16..32).contains(&o[0]));
            let reserved = (o[2] == 0 && o[3] < 2) || (o[2] == 255 && o[3] == 255);
            assert!(!reserved, "{ip}");
            assert!(assignable_public(ip), "{ip}");
        }
        assert_eq!(addr_of(NodeId(100_000)), Ipv4Addr::new(16, 1, 134, 165));
        assert_eq!(node_of(Ipv4Addr::new(16, 0, 0, 1)), None);
        assert_eq!(node_of(Ipv4Addr::new(16, 0, 255, 255)), None);
        assert_eq!(node_of(Ipv4Addr::new(10, 0, 0, 2)), None);
        assert!(!assignable_public(Ipv4Addr::new(16, 0, 0, 1)));
        assert!(!assignable_public(Ipv4Addr::new(32, 0, 0, 9)));
    }

    #[test]
    fn names_are_canonical() {
        assert_eq!(resolve("instance-0", 1), Some(Ipv4Addr::new(16, 0, 0, 2)));
        assert_eq!(resolve("instance-01", 5), None);
        assert_eq!(resolve("instance-", 5), None);
        assert_eq!(resolve("instance-+1", 5), None);
        assert_eq!(resolve("16.0.0.9", 1), Some(Ipv4Addr::new(16, 0, 0, 9)));
    }

    #[test]
    fn names_are_case_insensitive() {
        for name in ["INSTANCE-2", "Instance-2.Tg", "instance-2.TG"] {
            assert_eq!(resolve(name, 3), Some(Ipv4Addr::new(16, 0, 0, 4)), "{name}");
        }
        assert_eq!(resolve("LocalHost", 1), Some(Ipv4Addr::LOCALHOST));
        assert_eq!(resolve("INSTANCE-02", 3), None, "still canonical numbers only");
    }

    #[test]
    fn subnets_parse_and_hand_out_hosts() {
        let s: Subnet = "16.0.7.0/30".parse().unwrap();
        assert_eq!(s.hosts(), 1);
        assert_eq!(s.host(0), Some("16.0.7.2".parse().unwrap()));
        assert_eq!(s.host(1), None);
        let one: Subnet = "16.0.7.7".parse().unwrap();
        assert_eq!((one.prefix, one.hosts(), one.host(0)), (32, 1, Some("16.0.7.7".parse().unwrap())));
        let v6: Subnet = "fd00:1::/64".parse().unwrap();
        assert!(v6.contains("fd00:1::5".parse().unwrap()));
        assert!(!v6.contains("16.0.0.2".parse().unwrap()));
        assert_eq!(v6.host(0), Some("fd00:1::2".parse().unwrap()));
        let a: Subnet = "16.1.0.0/16".parse().unwrap();
        let b: Subnet = "16.1.4.0/24".parse().unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&"16.2.0.0/16".parse().unwrap()));
        for bad in ["16.0.0/8", "16.0.0.0/x", "16.0.0.0/33", "::/129", "x"] {
            assert!(bad.parse::<Subnet>().is_err(), "{bad}");
        }
    }

    #[test]
    fn inside_and_v6_addresses_mirror_the_public_plan() {
        assert_eq!(inside_addr_of(NodeId(5)), Some(Ipv4Addr::new(10, 0, 0, 7)));
        assert!(is_private(inside_addr_of(NodeId(70_000)).unwrap()));
        assert_eq!(v6_of(Ipv4Addr::new(16, 0, 7, 7)).to_string(), "fd00::1000:707");
    }
}
