//! The one decision every packet goes through: may it leave, and with what shape?
//!
//! (The other decisions on a packet's path — its route, NATs, firewalls,
//! region paths — are taken around this one, in the order [`super::fabric`]
//! lists; each drop has a [`DropReason`] here.)
//!
//! A packet from `src` to `dst` is judged by layers, most specific first, and
//! the first layer with an opinion wins:
//!
//! 1. a **path override** for the ordered pair `(src, dst)` — the hook fault
//!    injection uses (a one-way partition is one override, a two-way partition
//!    two; a clog holds the pair's packets instead, see [`PathOverrides::clog`]);
//! 2. the sender's **rules**, longest matching prefix first;
//! 3. the sender's **routing policy** (`DenyAll` drops);
//! 4. the sender's **default shape**.
//!
//! This module only decides; it does not delay, count or deliver packets.

use super::addr::in_subnet;
use super::config::{Filter, LinkShape, NetworkConfig, RoutingPolicy};
use crate::node::NodeId;
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

/// What the egress path does with one packet.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Verdict<'a> {
    /// Send it over a link with this shape.
    Send(&'a LinkShape),
    /// Refuse it at the sender (see [`Filter::Reject`]).
    Reject,
    /// Drop it silently, for this reason.
    Drop(DropReason),
}

/// Why a packet did not arrive; its short name goes into the trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// The link shape's random loss.
    Loss,
    /// A `Drop` or `Reject` filter in a rule.
    Filter,
    /// The sender's `DenyAll` routing policy.
    Policy,
    /// A path override (a partition).
    Partition,
    /// The sender's egress queue was full.
    QueueFull,
    /// No instance has the destination address.
    NoRoute,
    /// Nothing listens on the destination port.
    NoPort,
    /// The receiving socket's queue was full.
    RecvQueueFull,
    /// A listener's backlog was full, so its SYN was ignored.
    Backlog,
    /// A corrupted TCP segment, discarded by its checksum.
    Corrupt,
    /// A NAT refused it: no live mapping, filtered, hairpinning off, or IPv6.
    Nat,
    /// The receiver's firewall blocks unsolicited traffic.
    Firewall,
    /// It left from an address the sender no longer has.
    NoAddress,
}

impl DropReason {
    /// The reason's name in the trace; short because it is hashed per packet.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::Loss => "loss",
            DropReason::Filter => "filter",
            DropReason::Policy => "policy",
            DropReason::Partition => "partition",
            DropReason::QueueFull => "qfull",
            DropReason::NoRoute => "noroute",
            DropReason::NoPort => "noport",
            DropReason::RecvQueueFull => "rcvq",
            DropReason::Backlog => "backlog",
            DropReason::Corrupt => "corrupt",
            DropReason::Nat => "nat",
            DropReason::Firewall => "firewall",
            DropReason::NoAddress => "noaddr",
        }
    }
}

/// Per ordered pair of instances, a filter that overrides every rule.
#[derive(Clone, Debug, Default)]
pub struct PathOverrides {
    // BTreeMap, not HashMap: it is only looked up, but keeping every map in the
    // crate ordered means nobody has to prove that one is never iterated.
    by_pair: BTreeMap<(NodeId, NodeId), Filter>,
    clogged: BTreeSet<(NodeId, NodeId)>,
}

impl PathOverrides {
    /// Sets (or with `None` clears) the filter for packets from `src` to `dst`.
    pub fn set(&mut self, src: NodeId, dst: NodeId, filter: Option<Filter>) {
        match filter {
            Some(f) => self.by_pair.insert((src, dst), f),
            None => self.by_pair.remove(&(src, dst)),
        };
    }

    /// Clogs (or unclogs) the path from `src` to `dst`: packets that would be
    /// sent are held until the path is unclogged, then leave in order.
    pub fn clog(&mut self, src: NodeId, dst: NodeId, clogged: bool) {
        if clogged {
            self.clogged.insert((src, dst));
        } else {
            self.clogged.remove(&(src, dst));
        }
    }

    /// Whether the path from `src` to `dst` is clogged.
    pub fn is_clogged(&self, src: NodeId, dst: NodeId) -> bool {
        !self.clogged.is_empty() && self.clogged.contains(&(src, dst))
    }

    /// The override for `src → dst`, if any.
    pub fn get(&self, src: NodeId, dst: NodeId) -> Option<Filter> {
        if self.by_pair.is_empty() {
            return None;
        }
        self.by_pair.get(&(src, dst)).copied()
    }
}

/// Sorts rules so that the first match is the most specific one. The sort is
/// stable, so equally specific rules keep the order they were given in.
pub(crate) fn sort_rules(config: &mut NetworkConfig) {
    config.rules.sort_by_key(|r| std::cmp::Reverse(r.prefix));
}

/// Judges a packet from an instance with `config` to instance `dst_node` at `dst`.
/// `config.rules` must be sorted by [`sort_rules`].
pub(crate) fn decide<'a>(
    config: &'a NetworkConfig,
    overrides: &PathOverrides,
    src_node: NodeId,
    dst_node: NodeId,
    dst: IpAddr,
) -> Verdict<'a> {
    match overrides.get(src_node, dst_node) {
        Some(Filter::Accept) | None => {}
        Some(Filter::Reject) => return Verdict::Reject,
        Some(Filter::Drop) => return Verdict::Drop(DropReason::Partition),
    }
    if let Some(rule) = config.rules.iter().find(|r| in_subnet(dst, r.subnet, r.prefix)) {
        return match rule.filter {
            Filter::Accept => Verdict::Send(&rule.shape),
            Filter::Reject => Verdict::Reject,
            Filter::Drop => Verdict::Drop(DropReason::Filter),
        };
    }
    match config.routing {
        RoutingPolicy::AllowAll => Verdict::Send(&config.default),
        RoutingPolicy::DenyAll => Verdict::Drop(DropReason::Policy),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::config::LinkRule;
    use std::time::Duration;

    fn rule(subnet: [u8; 4], prefix: u8, ms: u64, filter: Filter) -> LinkRule {
        LinkRule {
            subnet: IpAddr::from(subnet),
            prefix,
            shape: LinkShape::with_latency(Duration::from_millis(ms)),
            filter,
        }
    }

    #[test]
    fn longest_prefix_wins_and_policy_is_the_fallback() {
        let mut cfg = NetworkConfig {
            rules: vec![rule([16, 0, 0, 0], 16, 5, Filter::Accept), rule([16, 0, 0, 4], 32, 9, Filter::Drop)],
            routing: RoutingPolicy::DenyAll,
            ..NetworkConfig::default()
        };
        sort_rules(&mut cfg);
        let ov = PathOverrides::default();
        let v = |ip: [u8; 4]| decide(&cfg, &ov, NodeId(0), NodeId(1), IpAddr::from(ip));
        assert_eq!(v([16, 0, 0, 4]), Verdict::Drop(DropReason::Filter));
        assert_eq!(v([16, 0, 0, 3]), Verdict::Send(&cfg.rules[1].shape));
        assert_eq!(v([16, 1, 0, 3]), Verdict::Drop(DropReason::Policy));
    }

    #[test]
    fn a_path_override_beats_every_rule() {
        let cfg = NetworkConfig::default();
        let mut ov = PathOverrides::default();
        ov.set(NodeId(0), NodeId(1), Some(Filter::Drop));
        let dst = IpAddr::from([16, 0, 0, 3]);
        assert_eq!(decide(&cfg, &ov, NodeId(0), NodeId(1), dst), Verdict::Drop(DropReason::Partition));
        assert_eq!(decide(&cfg, &ov, NodeId(1), NodeId(0), dst), Verdict::Send(&cfg.default));
        ov.set(NodeId(0), NodeId(1), None);
        assert_eq!(decide(&cfg, &ov, NodeId(0), NodeId(1), dst), Verdict::Send(&cfg.default));
    }
}
