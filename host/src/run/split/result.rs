//! What a worker sends back when its shard ends, and how the coordinator
//! merges the shards' results into the whole run's.

use crate::instance::Placement;
use crate::plan::metrics::MetricPoint;
use crate::run::{Execution, InstanceOutcome, InstanceOutput};
use netsim::shard::ShardLayout;
use netsim::{BlockedInstance, NodeDigest, RunEnd, SimTime, StateMark, TraceRecord};
use std::time::Duration;

/// A worker's last word: its shard's results, or why it could not run it.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub enum WorkerReport {
    /// The shard ran (successfully or not: see its outcomes).
    Ran(Box<ShardResult>),
    /// The shard could not run.
    Failed {
        /// Which shard.
        shard: u32,
        /// Why, as the worker would have printed it.
        error: String,
        /// Whether the inputs were at fault (exit code 2) rather than the worker.
        bad_input: bool,
    },
}

/// Everything one shard's run produced, for its instances only.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct ShardResult {
    /// Which shard, of how many, over how many instances.
    pub layout: ShardLayout,
    /// How each of its instances ended, in node order.
    pub outcomes: Vec<InstanceOutcome>,
    /// What each of its instances printed and recorded, in node order.
    pub outputs: Vec<InstanceOutput>,
    /// Why the run stopped (the same on every shard).
    pub end: RunEnd,
    /// What its unfinished instances waited on.
    pub blocked: Vec<BlockedInstance>,
    /// Its nodes' digests (and, on shard 0, the simulation's).
    pub node_digests: Vec<NodeDigest>,
    /// Records it counted.
    pub trace_events: u64,
    /// Its records, if kept.
    pub trace: Option<Vec<TraceRecord>>,
    /// Virtual time at the end (the same on every shard).
    pub virtual_time: SimTime,
    /// Its wall time.
    pub wall_time: Duration,
    /// Events it counted.
    pub events: u64,
    /// Task polls.
    pub polls: u64,
    /// Its instances' metric points, in recording order.
    pub metrics: Vec<MetricPoint>,
    /// The sync timeline (replicated: every shard's is the same; shard 0 sends it).
    pub states: Vec<StateMark>,
}

impl ShardResult {
    /// The part of `execution` (a shard's) that belongs to `layout`'s instances.
    pub fn of(execution: Execution, layout: ShardLayout) -> ShardResult {
        let nodes = layout.nodes();
        let local = nodes.start as usize..nodes.end as usize;
        let mut outcomes = execution.outcomes;
        let mut outputs = execution.records;
        ShardResult {
            layout,
            outcomes: outcomes.drain(local.clone()).collect(),
            outputs: outputs.drain(local).collect(),
            end: execution.end,
            blocked: execution.blocked,
            node_digests: execution.node_digests,
            trace_events: execution.trace_events,
            trace: execution.trace,
            virtual_time: execution.virtual_time,
            wall_time: execution.wall_time,
            events: execution.events,
            polls: execution.polls,
            metrics: execution.metrics,
            states: if layout.index() == 0 { execution.states } else { Vec::new() },
        }
    }
}

/// The whole run's [`Execution`] from every shard's result, in shard order.
///
/// # Panics
/// If `results` is not one result per shard, in order.
pub fn merge(placements: Vec<Placement>, results: Vec<ShardResult>) -> Execution {
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r.layout.index() as usize, i, "results are in shard order");
    }
    let first = &results[0];
    // Every shard agrees on these but wall-time stops; the first's is as good as any.
    let (end, virtual_time) = (first.end.clone(), first.virtual_time);
    let wall_time = results.iter().map(|r| r.wall_time).max().unwrap_or_default();
    let keep_trace = results.iter().all(|r| r.trace.is_some());
    let mut execution = Execution {
        placements,
        outcomes: Vec::new(),
        records: Vec::new(),
        end,
        blocked: Vec::new(),
        digest: String::new(),
        node_digests: Vec::new(),
        trace_events: 0,
        trace: keep_trace.then(Vec::new),
        virtual_time,
        wall_time,
        events: 0,
        polls: 0,
        metrics: Vec::new(),
        states: Vec::new(),
    };
    for r in results {
        execution.outcomes.extend(r.outcomes);
        execution.records.extend(r.outputs);
        execution.blocked.extend(r.blocked);
        execution.node_digests.extend(r.node_digests);
        execution.trace_events += r.trace_events;
        if let (Some(all), Some(mine)) = (&mut execution.trace, r.trace) {
            all.extend(mine);
        }
        execution.events += r.events;
        execution.polls += r.polls;
        execution.metrics.extend(r.metrics);
        execution.states.extend(r.states);
    }
    // Each shard's list is in node order and the simulation's digest comes from shard 0:
    // sorting puts that one last, where a whole run has it.
    execution.node_digests.sort_by_key(|d| d.node);
    execution.digest = netsim::combine_digests(&execution.node_digests);
    if let Some(trace) = &mut execution.trace {
        netsim::trace::sort_records(trace);
    }
    // One order for points recorded at the same instant by instances on different shards.
    execution.metrics.sort_by_key(|p| (p.at, p.node));
    execution
}
