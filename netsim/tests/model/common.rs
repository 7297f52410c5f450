//! Pieces shared by the network world models (the fuzz targets and
//! `tests/oracle.rs`): link shapes and configurations from generated input,
//! and driving the simulation's clock.

// Each target compiles this module on its own and uses a different part of it.
#![allow(dead_code)]

use arbitrary::Arbitrary;
use netsim::net::{Filter, LinkRule, LinkShape, NetworkConfig, RoutingPolicy, addr_of};
use netsim::{NodeId, Sim, SimTime};
use std::net::Ipv4Addr;
use std::task::Waker;
use std::time::Duration;

/// A delay: usually milliseconds, sometimes any number of nanoseconds (so
/// that sums of delays reach the end of time).
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Delay {
    Millis(u16),
    Nanos(u64),
}

impl Delay {
    pub fn get(self) -> Duration {
        match self {
            Delay::Millis(ms) => Duration::from_millis(u64::from(ms)),
            Delay::Nanos(n) => Duration::from_nanos(n),
        }
    }
}

/// A probability: `n / 255`, so 0 and 1 are both reachable.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct Prob(pub u8);

impl Prob {
    pub fn get(self) -> f64 {
        f64::from(self.0) / 255.0
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub struct Shape {
    pub latency: Delay,
    pub jitter: Option<Delay>,
    /// Bits per second; 0 is unlimited.
    pub bandwidth: u32,
    pub loss: Prob,
    pub loss_correlation: Prob,
    pub duplicate: Prob,
    pub duplicate_correlation: Prob,
    pub corrupt: Prob,
    pub corrupt_correlation: Prob,
    pub reorder: Prob,
    pub reorder_correlation: Prob,
}

impl Shape {
    pub fn get(&self) -> LinkShape {
        LinkShape {
            latency: self.latency.get(),
            jitter: self.jitter.map_or(Duration::ZERO, Delay::get),
            bandwidth: u64::from(self.bandwidth),
            loss: self.loss.get(),
            loss_correlation: self.loss_correlation.get(),
            duplicate: self.duplicate.get(),
            duplicate_correlation: self.duplicate_correlation.get(),
            corrupt: self.corrupt.get(),
            corrupt_correlation: self.corrupt_correlation.get(),
            reorder: self.reorder.get(),
            reorder_correlation: self.reorder_correlation.get(),
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum FilterIn {
    Accept,
    Reject,
    Drop,
}

impl FilterIn {
    pub fn get(self) -> Filter {
        match self {
            FilterIn::Accept => Filter::Accept,
            FilterIn::Reject => Filter::Reject,
            FilterIn::Drop => Filter::Drop,
        }
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub struct Rule {
    /// The subnet is this node's address (which may be past the last node).
    pub node: u8,
    /// Any prefix length, including ones over 32.
    pub prefix: u8,
    pub shape: Shape,
    pub filter: FilterIn,
}

#[derive(Arbitrary, Debug, Clone)]
pub struct Config {
    pub default: Shape,
    pub rules: Vec<Rule>,
    pub deny_all: bool,
}

impl Config {
    pub fn get(&self) -> NetworkConfig {
        NetworkConfig {
            default: self.default.get(),
            rules: self
                .rules
                .iter()
                .take(4)
                .map(|r| LinkRule {
                    subnet: addr_of(NodeId(u32::from(r.node % 8))).into(),
                    prefix: r.prefix,
                    shape: r.shape.get(),
                    filter: r.filter.get(),
                })
                .collect(),
            routing: if self.deny_all { RoutingPolicy::DenyAll } else { RoutingPolicy::AllowAll },
        }
    }

    /// Whether any shape in it corrupts packets.
    pub fn corrupts(&self) -> bool {
        self.default.corrupt.0 > 0 || self.rules.iter().take(4).any(|r| r.shape.corrupt.0 > 0)
    }

    /// Whether any shape in it duplicates packets.
    pub fn duplicates(&self) -> bool {
        self.default.duplicate.0 > 0 || self.rules.iter().take(4).any(|r| r.shape.duplicate.0 > 0)
    }
}

/// Where a socket operation may be aimed.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Target {
    /// An instance (possibly one past the last, which nobody has).
    Node(u8),
    Loopback,
    /// Outside the data network.
    Outside,
    Unspecified,
}

impl Target {
    pub fn ip(self, nodes: u32) -> Ipv4Addr {
        match self {
            Target::Node(n) => addr_of(NodeId(u32::from(n) % (nodes + 1))),
            Target::Loopback => Ipv4Addr::LOCALHOST,
            Target::Outside => Ipv4Addr::new(10, 0, 0, 1),
            Target::Unspecified => Ipv4Addr::UNSPECIFIED,
        }
    }
}

/// A small set of ports, so that sockets actually meet; 0 asks for an ephemeral one.
pub fn port(p: u8) -> u16 {
    [0, 80, 81, 7000][usize::from(p) % 4]
}

/// Drives `sim`'s clock and checks that it never runs backwards.
pub struct Clock {
    pub budget: u32,
}

impl Clock {
    /// Processes one event; false when nothing is scheduled or the budget is spent.
    pub fn step(&mut self, sim: &mut Sim) -> bool {
        if self.budget == 0 {
            return false;
        }
        let before = sim.now();
        match sim.step() {
            Some(key) => {
                self.budget -= 1;
                assert!(key.time >= before, "event at {} processed at {before}", key.time);
                assert_eq!(sim.now(), key.time);
                true
            }
            None => false,
        }
    }

    /// Processes every event up to `now + d`, then moves the clock there.
    pub fn advance(&mut self, sim: &mut Sim, d: Duration) {
        let until = sim.now() + d;
        // A timer event at `until`, so the clock gets there even if nothing else happens.
        sim.wake_at(NodeId(0), until, Waker::noop().clone());
        while sim.next_event_time().is_some_and(|t| t <= until) {
            if !self.step(sim) {
                return;
            }
        }
        assert!(sim.now() <= until.max(SimTime::ZERO));
    }
}

/// The byte at `offset` of the stream or datagram identified by `key`, so that
/// a receiver can check what it got without seeing what was sent.
pub fn pattern_byte(key: u64, offset: u64) -> u8 {
    let mut x = key ^ offset.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    x ^= x >> 29;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 32;
    x as u8
}
