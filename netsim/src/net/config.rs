//! What an instance's network looks like: link shape, per-subnet rules and
//! routing policy, as Testground's `network.Config` describes them.
//!
//! These are plain values. How a packet is judged against them lives in
//! [`super::rule`]; how a shape turns into delays and losses lives in
//! [`super::link`].

use std::net::IpAddr;
use std::time::Duration;

/// The shape of an instance's egress link, applied to what it sends (like
/// Testground's `LinkShape`, which configured netem on the sender's side).
///
/// What is modelled, per packet, in this order: `loss` (the packet still
/// occupies the link, as if lost on the wire), `duplicate` (a second copy
/// arrives with the first, not charged to the link), `corrupt` (one bit of the
/// payload flipped; TCP's checksum then discards the segment at the receiver,
/// UDP delivers it damaged as if sent without a checksum), `reorder` (the packet
/// is held back an extra `max(latency, 1 ms)`, so later ones overtake it), and
/// `jitter` (uniform in `[-jitter, +jitter]` around `latency`, never negative;
/// like netem, jitter alone can reorder). Bandwidth is serialization delay plus
/// FIFO queueing on the link, not an average cap.
///
/// Correlations are modelled as "repeat the previous decision with probability
/// `corr`, otherwise draw afresh": the long-run rate stays exactly the configured
/// probability while losses (etc.) come in bursts. netem's own correlation
/// formula skews the rate, so it is deliberately not copied.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LinkShape {
    /// One-way delay added to every packet.
    pub latency: Duration,
    /// Maximum deviation from `latency`, uniformly distributed.
    pub jitter: Duration,
    /// Link rate in bits per second; 0 means unlimited (no serialization delay).
    pub bandwidth: u64,
    /// Probability in `[0, 1]` that a packet is lost.
    pub loss: f64,
    /// Probability that a lost-or-not decision repeats the previous one.
    pub loss_correlation: f64,
    /// Probability that a packet is delivered twice.
    pub duplicate: f64,
    /// Correlation of duplicate decisions.
    pub duplicate_correlation: f64,
    /// Probability that a packet has one bit flipped.
    pub corrupt: f64,
    /// Correlation of corrupt decisions.
    pub corrupt_correlation: f64,
    /// Probability that a packet is held back so later packets overtake it.
    pub reorder: f64,
    /// Correlation of reorder decisions.
    pub reorder_correlation: f64,
}

impl LinkShape {
    /// A perfect link with only `latency`.
    pub fn with_latency(latency: Duration) -> LinkShape {
        LinkShape { latency, ..LinkShape::default() }
    }
}

/// What a rule does with matching traffic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Filter {
    /// Send it, shaped by the rule's [`LinkShape`].
    #[default]
    Accept,
    /// Refuse it at the sender: a TCP connect fails at once with
    /// [`super::NetError::ConnectionRefused`] (what Linux reports for an
    /// iptables `REJECT`, whose default ICMP port-unreachable maps to
    /// `ECONNREFUSED`); any other packet is dropped, which is what an ICMP error
    /// does to an established connection (a soft error) or unconnected UDP.
    Reject,
    /// Drop it silently: a TCP connect retransmits its SYN and times out.
    Drop,
}

impl Filter {
    /// `"accept"`, `"reject"` or `"drop"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Filter::Accept => "accept",
            Filter::Reject => "reject",
            Filter::Drop => "drop",
        }
    }
}

/// A destination subnet with its own shape or filter; overrides the default shape.
/// An IPv4 rule matches IPv4 destinations only, an IPv6 rule IPv6 ones.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkRule {
    /// Network address of the subnet.
    pub subnet: IpAddr,
    /// Prefix length, 0–32 (0–128 for IPv6). When several rules match, the longest prefix wins.
    pub prefix: u8,
    /// The shape traffic to the subnet gets, when `filter` is [`Filter::Accept`].
    pub shape: LinkShape,
    /// Whether traffic to the subnet passes.
    pub filter: Filter,
}

/// Whether an instance may reach other instances when no rule says otherwise.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RoutingPolicy {
    /// Everything not filtered by a rule is sent with the default shape.
    #[default]
    AllowAll,
    /// Traffic to other instances is dropped unless an `Accept` rule matches
    /// its destination; loopback still works.
    DenyAll,
}

/// One instance's network configuration (Testground's `network.Config`, minus
/// what only mattered to Docker).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NetworkConfig {
    /// Shape of traffic no rule matches.
    pub default: LinkShape,
    /// Per-subnet overrides; order does not matter, specificity does.
    pub rules: Vec<LinkRule>,
    /// Fallback for traffic no rule matches.
    pub routing: RoutingPolicy,
}
