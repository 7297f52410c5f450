//! What a worker sends back when its shard ends, and how the coordinator
//! merges the shards' results into the whole run's.

use crate::instance::Placement;
use crate::run::{Execution, InstanceOutcome, InstanceOutput};
use netsim::shard::ShardLayout;

/// A worker's last word: its shard's results, or why it could not run it.
#[derive(serde::Serialize, serde::Deserialize)]
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

/// One shard's [`Execution`], restricted to its own instances: their
/// outcomes and outputs, in node order, with the digests, records, metrics
/// and counts the shard made. The run's end and virtual time are the same on
/// every shard; the sync timeline is replicated, so only shard 0 sends it.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct ShardResult {
    /// Which shard, of how many, over how many instances.
    pub layout: ShardLayout,
    /// What it produced, for its instances only.
    pub execution: Execution,
}

impl ShardResult {
    /// The part of `execution` (a shard's) that belongs to `layout`'s instances.
    pub fn of(mut execution: Execution, layout: ShardLayout) -> ShardResult {
        let nodes = layout.nodes();
        let local = nodes.start as usize..nodes.end as usize;
        execution.outcomes = execution.outcomes.drain(local.clone()).collect();
        execution.records = execution.records.drain(local).collect();
        execution.placements.clear();
        if layout.index() != 0 {
            execution.states.clear();
        }
        ShardResult { layout, execution }
    }
}

impl ShardResult {
    /// Stands in for a shard whose results never came (see `why`): each of
    /// its instances crashed at `ended` for that reason, with no output, no
    /// metric and no digest, and the run failed saying so.
    pub fn lost(layout: ShardLayout, ended: netsim::SimTime, why: &str) -> ShardResult {
        let nodes = layout.nodes().len();
        let reason = format!("what it did is unknown: {why}");
        let execution = Execution {
            placements: Vec::new(),
            outcomes: vec![InstanceOutcome::crashed(reason).at(ended); nodes],
            records: vec![InstanceOutput::default(); nodes],
            end: netsim::RunEnd::SplitFailed(why.to_string()),
            blocked: Vec::new(),
            digest: String::new(),
            node_digests: Vec::new(),
            trace_events: 0,
            trace: None,
            virtual_time: ended,
            wall_time: std::time::Duration::ZERO,
            events: 0,
            polls: 0,
            metrics: Vec::new(),
            states: Vec::new(),
        };
        ShardResult { layout, execution }
    }
}

/// The whole run's [`Execution`] from every shard's result, in shard order.
///
/// # Panics
/// If `results` is not one result per shard, in order, or is empty.
pub fn merge(placements: Vec<Placement>, results: Vec<ShardResult>) -> Execution {
    let mut shards = results.into_iter().enumerate().map(|(i, r)| {
        assert_eq!(r.layout.index() as usize, i, "results are in shard order");
        r.execution
    });
    // Every shard agrees on the end and the clock (but for wall-time stops); shard 0 starts the merge.
    let mut whole = shards.next().expect("a run has at least one shard");
    whole.placements = placements;
    for part in shards {
        // Shards that lost their transport near the end may disagree: one that
        // failed names what the run lost.
        if whole.end == netsim::RunEnd::Completed {
            whole.end = part.end;
        }
        whole.outcomes.extend(part.outcomes);
        whole.records.extend(part.records);
        whole.blocked.extend(part.blocked);
        whole.node_digests.extend(part.node_digests);
        whole.trace_events += part.trace_events;
        whole.trace = whole.trace.zip(part.trace).map(|(mut all, mine)| {
            all.append(mine);
            all
        });
        whole.wall_time = whole.wall_time.max(part.wall_time);
        whole.events += part.events;
        whole.polls += part.polls;
        whole.metrics.extend(part.metrics);
    }
    // Shard 0's list ends with the simulation's digest: sorting puts it last, where a whole run has it.
    whole.node_digests.sort_by_key(|d| d.node);
    whole.digest = netsim::combine_digests(&whole.node_digests);
    if let Some(trace) = &mut whole.trace {
        trace.sort();
    }
    // One order for points recorded at the same instant by instances on different shards.
    whole.metrics.sort_by_key(|p| (p.at, p.node));
    whole
}

#[cfg(test)]
mod tests {
    use super::*;
    use netsim::{RunEnd, SimTime};
    use std::time::Duration;

    fn shard(index: u32, end: RunEnd) -> ShardResult {
        let execution = Execution {
            placements: Vec::new(),
            outcomes: Vec::new(),
            records: Vec::new(),
            end,
            blocked: Vec::new(),
            digest: String::new(),
            node_digests: Vec::new(),
            trace_events: 0,
            trace: None,
            virtual_time: SimTime::ZERO,
            wall_time: Duration::ZERO,
            events: 0,
            polls: 0,
            metrics: Vec::new(),
            states: Vec::new(),
        };
        ShardResult { layout: ShardLayout::new(index, 2, 2).unwrap(), execution }
    }

    #[test]
    fn the_merged_run_ends_as_a_shard_that_failed_whichever_it_is() {
        let lost = RunEnd::SplitFailed("Redis was lost".into());
        for ends in [[RunEnd::Completed, lost.clone()], [lost.clone(), RunEnd::Completed]] {
            let results = ends.into_iter().enumerate().map(|(i, end)| shard(i as u32, end)).collect();
            assert_eq!(merge(Vec::new(), results).end, lost);
        }
        let results = vec![shard(0, RunEnd::Completed), shard(1, RunEnd::Completed)];
        assert_eq!(merge(Vec::new(), results).end, RunEnd::Completed);
    }

    #[test]
    fn a_lost_shard_stands_as_its_instances_crashed_for_the_reason_and_the_run_failed() {
        let ended = SimTime::from_nanos(7);
        for lost_index in [0, 1] {
            let layout = ShardLayout::new(lost_index, 2, 5).unwrap();
            let mut results = vec![shard(0, RunEnd::Completed), shard(1, RunEnd::Completed)];
            for (i, r) in results.iter_mut().enumerate() {
                let nodes = ShardLayout::new(i as u32, 2, 5).unwrap().nodes().len();
                r.layout = ShardLayout::new(i as u32, 2, 5).unwrap();
                r.execution.outcomes = vec![InstanceOutcome::ok(); nodes];
                r.execution.records = vec![InstanceOutput::default(); nodes];
            }
            results[lost_index as usize] = ShardResult::lost(layout, ended, "gone with the server");
            let whole = merge(Vec::new(), results);
            assert_eq!(whole.end, RunEnd::SplitFailed("gone with the server".into()));
            assert_eq!((whole.outcomes.len(), whole.records.len()), (5, 5));
            for (node, o) in whole.outcomes.iter().enumerate() {
                if layout.nodes().contains(&(node as u32)) {
                    assert_eq!(o.outcome, crate::run::Outcome::Crashed);
                    assert_eq!(o.reason.as_deref(), Some("what it did is unknown: gone with the server"));
                    assert_eq!(o.at_ns, 7);
                } else {
                    assert_eq!(o, &InstanceOutcome::ok(), "instance {node} is the shard's own account");
                }
            }
        }
    }
}
