//! The data network's address plan and name resolution.
//!
//! Testground gives every instance one IPv4 address on a data network carved
//! from `16.0.0.0`–`31.255.255.255`, in `/16` blocks whose `x.y.0.1` is the
//! gateway. We keep that convention and make the mapping a pure function of the
//! instance number, so an address never depends on start-up order:
//!
//! - the data network is `16.0.0.0/4` (the sixteen `/8`s Testground draws from);
//! - it is cut into `/16` blocks `16.0/16, 16.1/16, …, 31.255/16` (4096 blocks);
//! - in each block the offsets `.0.0` (network), `.0.1` (gateway) and
//!   `.255.255` (broadcast) are never assigned, leaving [`HOSTS_PER_BLOCK`] = 65533 hosts;
//! - instance `n` lives in block `n / 65533` at offset `n % 65533 + 2`.
//!
//! So instance 0 is `16.0.0.2`, instance 65532 is `16.0.255.254`, instance
//! 65533 is `16.1.0.2`: 268 million instances fit. This module knows nothing of
//! sockets or links.

use crate::node::NodeId;
use std::net::Ipv4Addr;

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

/// The data-network address of instance `node`.
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

/// The instance whose data-network address is `ip`, if the address follows the plan.
/// Whether that instance exists in a given run is for the caller to check.
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

/// Whether `ip` lies in `net/prefix`.
pub fn in_prefix(ip: Ipv4Addr, net: Ipv4Addr, prefix: u8) -> bool {
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix.min(32))) };
    u32::from(ip) & mask == u32::from(net) & mask
}

/// Resolves a host name among `instances` instances.
///
/// `instance-<seq>` and `instance-<seq>.tg` name instance `seq`; a dotted IPv4
/// literal resolves to itself (as `wasi:sockets` `resolve-addresses` requires);
/// `localhost` is `127.0.0.1`. Names are case-insensitive, as DNS names are
/// (RFC 4343). Everything else is not found: there is no DNS beyond the run.
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
    let name = name.to_ascii_lowercase();
    if name == "localhost" {
        return Some(Ipv4Addr::LOCALHOST);
    }
    let name = name.strip_suffix(".tg").unwrap_or(&name);
    let digits = name.strip_prefix("instance-")?;
    // Leading zeros or signs would give one instance several names; accept only canonical numbers.
    if digits.is_empty() || (digits.len() > 1 && digits.starts_with('0')) || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let seq: u32 = digits.parse().ok()?;
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
        }
        assert_eq!(addr_of(NodeId(100_000)), Ipv4Addr::new(16, 1, 134, 165));
        assert_eq!(node_of(Ipv4Addr::new(16, 0, 0, 1)), None);
        assert_eq!(node_of(Ipv4Addr::new(16, 0, 255, 255)), None);
        assert_eq!(node_of(Ipv4Addr::new(10, 0, 0, 2)), None);
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
}
