//! Fault injection: what can be done to a running simulation, at a virtual time.
//!
//! Beyond Testground, in the spirit of FoundationDB's and TigerBeetle's
//! simulators: partition instances from each other (one way or both) and heal
//! them, clog a path (hold its packets) and release it, crash an instance and
//! restart it. A [`Fault`] is scheduled as an event of the [`crate::Sim`], so it
//! happens at the same point of every run and is part of the trace; network
//! faults use the network's path overrides (the same mechanism as filters), and
//! crashes and restarts are handed to the executor as [`InstanceControl`]s,
//! because only the executor owns instances' tasks. A fault at virtual time t
//! takes effect after the instances runnable at t have run, and after other
//! events at t (faults are the simulation's own events, which order last).
//!
//! A fault a plan asks for ([`crate::Sim::request_fault`]) travels as a sync
//! operation does: it takes effect the sync latency after the request, keyed
//! by the instance that asked, so that every shard of a split run applies it
//! at the same point of the run's order (with no sync latency, at once).

use crate::net::Filter;
use crate::node::NodeId;
use std::fmt;
use std::net::IpAddr;

/// What a path fault does to the paths it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PathAction {
    /// Drop every packet on the path.
    Partition,
    /// Undo a partition.
    Heal,
    /// Hold every packet on the path until released.
    Clog,
    /// Send the held packets and stop holding.
    Release,
}

impl PathAction {
    /// The action's name, as compositions spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            PathAction::Partition => "partition",
            PathAction::Heal => "heal",
            PathAction::Clog => "clog",
            PathAction::Release => "release",
        }
    }
}

/// One fault to inject.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Fault {
    /// Acts on every path from a node of `from` to a node of `to`, and back if `both_ways`.
    Paths {
        /// What to do.
        action: PathAction,
        /// Sending side.
        from: Vec<NodeId>,
        /// Receiving side.
        to: Vec<NodeId>,
        /// Also the paths from `to` back to `from`.
        both_ways: bool,
    },
    /// Sets the filter of the one path from `from` to `to` (`None` lifts it),
    /// as a plan's `set-path-filter` does.
    PathFilter {
        /// Sending side.
        from: NodeId,
        /// Receiving side.
        to: NodeId,
        /// What the path does with packets from now on; `None`: what the rules say.
        filter: Option<Filter>,
    },
    /// Gives `node` the address `to`, as a plan's `set-address` does; the
    /// instance learns how it went through [`crate::Sim::poll_address_move`].
    MoveAddress {
        /// Whose address.
        node: NodeId,
        /// The address it takes.
        to: IpAddr,
        /// Which of the instance's requests it answers (not part of the run's trace).
        request: u64,
    },
    /// Stops these instances at once: their tasks end and their sockets vanish.
    Crash(Vec<NodeId>),
    /// Starts these instances' test case again from scratch (fresh memory),
    /// if they are not running.
    Restart(Vec<NodeId>),
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |nodes: &[NodeId]| nodes.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(",");
        match self {
            Fault::Paths { action, from, to, both_ways } => {
                let arrow = if *both_ways { "<->" } else { "->" };
                write!(f, "{} [{}] {arrow} [{}]", action.as_str(), list(from), list(to))
            }
            Fault::PathFilter { from, to, filter } => {
                let filter = filter.map_or("none", Filter::as_str);
                write!(f, "path-filter [{from}] -> [{to}] {filter}")
            }
            Fault::MoveAddress { node, to, .. } => write!(f, "move-address [{node}] {to}"),
            Fault::Crash(nodes) => write!(f, "crash [{}]", list(nodes)),
            Fault::Restart(nodes) => write!(f, "restart [{}]", list(nodes)),
        }
    }
}

/// What the executor must do to an instance's task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstanceControl {
    /// End the task now.
    Crash,
    /// Start a new task if none is running.
    Restart,
}
