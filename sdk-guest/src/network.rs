//! The data network as a plan sees it: this instance's address, and the shape
//! of what it sends — Testground's `network.Client` with its `LinkShape`,
//! per-subnet rules and routing policy — plus an address of the plan's
//! choosing ([`Network::set_address`], Testground's `Config.IPv4`) and
//! stateful inbound filtering ([`Network::set_inbound_filter`]).
//!
//! Traffic itself goes through plain `std::net` sockets; this module only
//! decides what the simulated links do to it. Shapes apply to what an instance
//! sends (egress), as Testground's sidecar did, so a round trip between two
//! instances with 100 ms latency each takes 200 ms.
//!
//! ```no_run
//! use std::time::Duration;
//! use tg_sdk::prelude::*;
//!
//! fn case(env: &RunEnv) -> tg_sdk::Result<()> {
//!     let net = env.network();
//!     net.wait_initialized();
//!     let n = u64::from(env.test_instance_count());
//!     net.configure(&NetworkConfig {
//!         default: LinkShape { bandwidth: 10_000_000, ..LinkShape::with_latency(Duration::from_millis(50)) },
//!         callback_state: Some("shaped".into()),
//!         ..NetworkConfig::default()
//!     })?;
//!     env.sync().barrier("shaped", n)?;
//!     env.record_message(format!("my address is {}", net.data_address()));
//!     Ok(())
//! }
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use crate::bindings::tg::plan::network as host;

/// How the traffic an instance sends is shaped. [`Default`] is a perfect link:
/// no latency, unlimited bandwidth, nothing lost.
///
/// Probabilities are in `[0, 1]`. A correlation is the probability that a
/// decision repeats the previous one, so losses (etc.) come in bursts while
/// their long-run rate stays the configured probability.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LinkShape {
    /// One-way delay added to every packet.
    pub latency: Duration,
    /// Largest deviation from `latency`, uniformly distributed; drawn from the run's seed.
    pub jitter: Duration,
    /// Link rate in bits per second; 0 means unlimited. It is serialization
    /// delay and queueing on the sender's link, not a cap on averages.
    pub bandwidth: u64,
    /// Probability that a packet is lost.
    pub loss: f64,
    /// Probability that a loss decision repeats the previous one.
    pub loss_correlation: f64,
    /// Probability that a packet is delivered twice.
    pub duplicate: f64,
    /// Probability that a duplicate decision repeats the previous one.
    pub duplicate_correlation: f64,
    /// Probability that a packet has one bit flipped.
    pub corrupt: f64,
    /// Probability that a corrupt decision repeats the previous one.
    pub corrupt_correlation: f64,
    /// Probability that a packet is held back so later ones overtake it.
    pub reorder: f64,
    /// Probability that a reorder decision repeats the previous one.
    pub reorder_correlation: f64,
}

impl LinkShape {
    /// A perfect link with only `latency`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tg_sdk::network::LinkShape;
    /// let lossy = LinkShape { loss: 0.05, ..LinkShape::with_latency(Duration::from_millis(10)) };
    /// assert_eq!(lossy.latency, Duration::from_millis(10));
    /// assert_eq!(lossy.bandwidth, 0);
    /// ```
    pub fn with_latency(latency: Duration) -> LinkShape {
        LinkShape { latency, ..LinkShape::default() }
    }
}

/// What happens to traffic a rule or path filter matches.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Filter {
    /// Delivered, shaped by the rule's shape.
    #[default]
    Accept,
    /// Refused at once, as by an ICMP reject: a TCP connect fails immediately
    /// with "connection refused".
    Reject,
    /// Silently dropped: a TCP connect times out.
    Drop,
}

/// Overrides the default shape for traffic to one destination subnet. When
/// several rules match, the longest prefix wins.
#[derive(Clone, Debug, PartialEq)]
pub struct LinkRule {
    /// Destination subnet in CIDR form, e.g. `"16.0.0.0/24"` or `"fd00::/8"`; a
    /// bare address means that one host. IPv4 rules match IPv4 traffic only.
    pub subnet: String,
    /// The shape traffic to the subnet gets when `filter` is [`Filter::Accept`].
    pub shape: LinkShape,
    /// Whether traffic to the subnet passes.
    pub filter: Filter,
}

/// Whether traffic to other instances flows when no rule matches it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RoutingPolicy {
    /// Everything not filtered by a rule is sent with the default shape.
    #[default]
    AllowAll,
    /// Traffic to other instances is dropped unless an accepting rule matches
    /// its destination; loopback still works.
    DenyAll,
}

/// A whole network configuration for this instance. [`Default`] is the
/// network every instance starts with: a perfect link, no rules, allow-all.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NetworkConfig {
    /// Shape of traffic no rule matches.
    pub default: LinkShape,
    /// Per-subnet overrides.
    pub rules: Vec<LinkRule>,
    /// What happens to traffic no rule matches.
    pub routing: RoutingPolicy,
    /// A sync state to signal once the configuration is in effect
    /// (Testground's callback state), so others can wait for it with a barrier.
    pub callback_state: Option<String>,
}

/// Why the host refused a network configuration or path filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkError {
    /// What is wrong and where, e.g. `rules[0].subnet: "16.0.0.0/40": prefix /40 is longer than 32`.
    pub message: String,
}

impl fmt::Display for NetworkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid network configuration: {}", self.message)
    }
}

impl std::error::Error for NetworkError {}

impl From<host::NetworkError> for NetworkError {
    fn from(err: host::NetworkError) -> Self {
        match err {
            host::NetworkError::InvalidConfig(message) => NetworkError { message },
        }
    }
}

/// A handle on this instance's data network; get one with [`RunEnv::network`](crate::RunEnv::network).
#[derive(Debug, Clone, Copy, Default)]
pub struct Network {
    _private: (),
}

impl Network {
    pub(crate) fn new() -> Self {
        Network { _private: () }
    }

    /// This instance's IPv4 address on the data network now: by default
    /// instance `seq` is `16.0.0.(seq + 2)` for the first 253 (behind a NAT, a
    /// private `10.…` address), unless its group has a subnet or the plan chose
    /// another ([`Network::set_address`]). Its host name is `instance-<seq>`.
    pub fn data_address(&self) -> Ipv4Addr {
        let text = host::data_address();
        text.parse().unwrap_or_else(|_| panic!("host gave a malformed data address {text:?}"))
    }

    /// This instance's IPv6 address, `fd00::` and its IPv4 address (e.g.
    /// `fd00::1000:2`), when the run has IPv6 on (`tg-wasm run --ipv6`, or a
    /// composition's `[network] ipv6 = true`); `None` otherwise, and behind a NAT.
    pub fn data_address_v6(&self) -> Option<Ipv6Addr> {
        host::data_address_v6()
            .map(|text| text.parse().unwrap_or_else(|_| panic!("host gave a malformed IPv6 address {text:?}")))
    }

    /// The public IPv4 address of the NAT this instance sits behind, if it
    /// does. Which *port* a flow gets on it is the NAT's to choose; learn it
    /// as on the Internet, from a peer that sees it (a STUN-like observer).
    pub fn nat_address(&self) -> Option<Ipv4Addr> {
        host::nat_address()
            .map(|text| text.parse().unwrap_or_else(|_| panic!("host gave a malformed NAT address {text:?}")))
    }

    /// Takes `address` as this instance's address of its family
    /// (Testground's `network.Config.IPv4`). It must be free and in the data
    /// network (16.0.0.0/4, less each /16's `x.y.0.0`, gateway `x.y.0.1` and
    /// `x.y.255.255`; behind a NAT, a private address; IPv6: `fd00::/8`).
    /// `instance-<seq>` resolves to it from then on. Sockets on the old address
    /// keep it, as on Linux when an address is removed: what they send is
    /// dropped and what is sent to them finds no host, so their connections
    /// time out. With a sync latency (`--sync-latency`) the move reaches the
    /// network that long after the call, as a fault does (see
    /// [`Network::set_path_filter`]), and the call returns once it has; with
    /// none, at once.
    ///
    /// ```no_run
    /// # fn case(env: &tg_sdk::RunEnv) -> tg_sdk::Result<()> {
    /// env.network().set_address(std::net::Ipv4Addr::new(16, 0, 7, 7))?;
    /// # Ok(()) }
    /// ```
    pub fn set_address(&self, address: impl Into<IpAddr>) -> Result<(), NetworkError> {
        Ok(host::set_address(&address.into().to_string())?)
    }

    /// Stateful inbound filtering, as a host firewall with connection tracking:
    /// with [`Filter::Drop`] or [`Filter::Reject`], what this instance did not
    /// ask for — a TCP connection attempt, a UDP datagram from an endpoint it
    /// has not sent to — is dropped (a connect to it times out), or refused (a
    /// connect to it is refused); replies to flows it opened pass.
    /// [`Filter::Accept`], the default, lets everything in.
    pub fn set_inbound_filter(&self, filter: Filter) -> Result<(), NetworkError> {
        Ok(host::set_inbound_filter(to_host_filter(filter))?)
    }

    /// Applies `config` to what this instance sends, from the current virtual
    /// time on, and returns once it is in effect; then signals
    /// `config.callback_state` if set. A refused configuration changes nothing.
    pub fn configure(&self, config: &NetworkConfig) -> Result<(), NetworkError> {
        let wit = host::Config {
            default: to_host_shape(&config.default),
            rules: config
                .rules
                .iter()
                .map(|r| host::LinkRule {
                    subnet: r.subnet.clone(),
                    shape: to_host_shape(&r.shape),
                    filter: to_host_filter(r.filter),
                })
                .collect(),
            routing: match config.routing {
                RoutingPolicy::AllowAll => host::RoutingPolicy::AllowAll,
                RoutingPolicy::DenyAll => host::RoutingPolicy::DenyAll,
            },
            callback_state: config.callback_state.clone(),
        };
        Ok(host::configure(&wit)?)
    }

    /// Returns once the data network is ready. In tg-wasm it is ready from
    /// the start; this keeps plans ported from Testground unchanged.
    pub fn wait_initialized(&self) {
        host::wait_network_initialized()
    }

    /// Fault injection: sets `filter` on the path from instance `src` to
    /// instance `dst` (global sequence numbers), overriding rules and routing
    /// policy; `None` heals the path. Dropping both directions partitions two
    /// instances.
    ///
    /// Every fault a plan injects reaches the network as a sync operation
    /// does: the run's sync latency (`--sync-latency`) after the call, which
    /// is what lets the shards of a run on threads or workers all apply it at
    /// the same point. With no sync latency, a path filter applies before
    /// the call returns.
    ///
    /// ```no_run
    /// use tg_sdk::network::Filter;
    /// # fn case(env: &tg_sdk::RunEnv) -> tg_sdk::Result<()> {
    /// let net = env.network();
    /// net.set_path_filter(0, 1, Some(Filter::Drop))?;
    /// net.set_path_filter(1, 0, Some(Filter::Drop))?;
    /// // … instances 0 and 1 cannot talk …
    /// net.set_path_filter(0, 1, None)?;
    /// net.set_path_filter(1, 0, None)?;
    /// # Ok(()) }
    /// ```
    pub fn set_path_filter(&self, src: u32, dst: u32, filter: Option<Filter>) -> Result<(), NetworkError> {
        Ok(host::set_path_filter(src, dst, filter.map(to_host_filter))?)
    }

    /// Fault injection: clogs the path from instance `src` to instance `dst`
    /// (its packets are held), or with `clogged` false releases what it held,
    /// in order; the sync latency from now (see [`Network::set_path_filter`]),
    /// or, with none, as the next event of this instant.
    pub fn clog_path(&self, src: u32, dst: u32, clogged: bool) -> Result<(), NetworkError> {
        Ok(host::clog_path(src, dst, clogged)?)
    }

    /// Fault injection: crashes instance `seq` (its test case stops and its
    /// sockets vanish) the sync latency from now (see
    /// [`Network::set_path_filter`]) and, given `restart_after`, runs its test
    /// case again from scratch that much after the crash. With no sync
    /// latency the crash is due now and, like every event at the current
    /// instant, lands once the instances that can run now have run: a plan
    /// that crashes itself goes on until it next waits (a sleep, a read, a
    /// barrier).
    pub fn crash_instance(&self, seq: u32, restart_after: Option<Duration>) -> Result<(), NetworkError> {
        let after = restart_after.map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        Ok(host::crash_instance(seq, after)?)
    }
}

fn to_host_filter(filter: Filter) -> host::Filter {
    match filter {
        Filter::Accept => host::Filter::Accept,
        Filter::Reject => host::Filter::Reject,
        Filter::Drop => host::Filter::Drop,
    }
}

fn to_host_shape(shape: &LinkShape) -> host::LinkShape {
    // Durations beyond u64 nanoseconds (584 years) are saturated: no run lasts that long.
    let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    host::LinkShape {
        latency_ns: ns(shape.latency),
        jitter_ns: ns(shape.jitter),
        bandwidth_bps: shape.bandwidth,
        loss: shape.loss,
        loss_correlation: shape.loss_correlation,
        duplicate: shape.duplicate,
        duplicate_correlation: shape.duplicate_correlation,
        corrupt: shape.corrupt,
        corrupt_correlation: shape.corrupt_correlation,
        reorder: shape.reorder,
        reorder_correlation: shape.reorder_correlation,
    }
}
