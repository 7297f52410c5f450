//! A run's fault schedule: what to inject, when, to whom.
//!
//! [`ScheduledFault`] is the serializable form that compositions produce and
//! `run.json` records (so a replay injects the same faults); it turns into a
//! netsim [`Fault`] scheduled on the simulation before the run starts.

use netsim::{Fault, NodeId, PathAction, SimTime};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One fault at one virtual time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledFault {
    /// Virtual time of the fault, in nanoseconds since the start of the run.
    pub at_ns: u64,
    /// What happens.
    #[serde(flatten)]
    pub what: FaultKind,
}

/// What a scheduled fault does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum FaultKind {
    /// Drop traffic between the instances.
    Partition(Paths),
    /// Undo a partition.
    Heal(Paths),
    /// Hold traffic between the instances.
    Clog(Paths),
    /// Send held traffic and stop holding.
    Release(Paths),
    /// Stop instances.
    Crash {
        /// Global seqs.
        instances: Vec<u32>,
    },
    /// Start stopped instances' test case again.
    Restart {
        /// Global seqs.
        instances: Vec<u32>,
    },
}

/// The paths a network fault acts on: from every instance of `from` to every instance of `to`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paths {
    /// Sending instances (global seqs).
    pub from: Vec<u32>,
    /// Receiving instances (global seqs).
    pub to: Vec<u32>,
    /// Also the paths back.
    pub both_ways: bool,
}

fn nodes(seqs: &[u32]) -> Vec<NodeId> {
    seqs.iter().map(|&s| NodeId(s)).collect()
}

impl ScheduledFault {
    /// When the fault happens.
    pub fn at(&self) -> SimTime {
        SimTime::ZERO + Duration::from_nanos(self.at_ns)
    }

    /// The netsim fault to schedule.
    pub fn to_fault(&self) -> Fault {
        let paths =
            |action, p: &Paths| Fault::Paths { action, from: nodes(&p.from), to: nodes(&p.to), both_ways: p.both_ways };
        match &self.what {
            FaultKind::Partition(p) => paths(PathAction::Partition, p),
            FaultKind::Heal(p) => paths(PathAction::Heal, p),
            FaultKind::Clog(p) => paths(PathAction::Clog, p),
            FaultKind::Release(p) => paths(PathAction::Release, p),
            FaultKind::Crash { instances } => Fault::Crash(nodes(instances)),
            FaultKind::Restart { instances } => Fault::Restart(nodes(instances)),
        }
    }

    /// Every instance the fault names.
    pub fn instances(&self) -> impl Iterator<Item = u32> + '_ {
        let (a, b): (&[u32], &[u32]) = match &self.what {
            FaultKind::Partition(p) | FaultKind::Heal(p) | FaultKind::Clog(p) | FaultKind::Release(p) => {
                (&p.from, &p.to)
            }
            FaultKind::Crash { instances } | FaultKind::Restart { instances } => (instances, &[]),
        };
        a.iter().chain(b).copied()
    }
}
