//! Running one shard of a split run, window by window.

use super::link::{ShardLink, ShardStatus, ShardStop};
use crate::executor::{Executor, RunEnd, RunLimits, Supervisor};
use crate::quiet::QuietCheck;
use crate::time::SimTime;
use std::time::Duration;

/// Runs the shard whose tasks `exec` holds until the whole run ends, trading
/// events with the other shards through `link` at the end of every window of
/// at most `lookahead`. Every shard returns the same [`RunEnd`] (but for wall
/// time limits and interrupts, which are not part of the simulation), and its
/// `Sim` is left as the whole run's would be for its instances: same records,
/// same clock.
///
/// A run that has been quiet for a while is checked for a stall at the same
/// point as in one process (see [`crate::quiet`]): the window before it ends
/// there, and an empty window follows in which every shard says whether it
/// is stalled; the run is a deadlock if all are.
///
/// `lookahead` must be positive and at most the sync latency; a packet that
/// would reach another shard sooner ends the run as [`RunEnd::SplitFailed`].
///
/// # Panics
/// If `lookahead` is zero: windows would never advance.
pub fn run_shard<T>(
    exec: &mut Executor<T>,
    link: &mut dyn ShardLink,
    lookahead: Duration,
    limits: &RunLimits,
    supervisor: &mut impl Supervisor<T>,
) -> RunEnd {
    assert!(!lookahead.is_zero(), "a split run needs a positive lookahead");
    let sim = exec.sim().clone();
    let layout = sim.lock().layout().expect("run_shard needs a split Sim (Sim::split)");
    let deadline = limits.deadline();
    let mut start = SimTime::ZERO;
    let mut end = SimTime::ZERO;
    let mut quiet = QuietCheck::default();
    // Whether this window is the empty one of a stall check.
    let mut checking = false;
    for window in 0u64.. {
        if !checking {
            // The deadline is at most `SimTime::LAST`, so a window ends no later
            // than `SimTime::MAX`, where nothing happens: every window moves on.
            // Nor does it pass the next check's point, where one process checks.
            let check_at = quiet.due().saturating_add(Duration::from_nanos(1));
            end = (start + lookahead).min(deadline + Duration::from_nanos(1)).min(check_at);
        }
        sim.lock().set_window_end(end);
        let local_end = exec.run_window(limits, end, supervisor);

        let (status, outgoing) = {
            let mut s = sim.lock();
            let outgoing = s.take_outgoing();
            let sent_first = outgoing.iter().flatten().map(|e| e.key.time).min();
            let stop = match local_end {
                Some(RunEnd::WallTimeout) => Some(ShardStop::WallTimeout),
                Some(RunEnd::Interrupted) => Some(ShardStop::Interrupted),
                Some(RunEnd::MemoryBudget) => Some(ShardStop::MemoryBudget),
                Some(RunEnd::SyncFailed(why) | RunEnd::SplitFailed(why)) => Some(ShardStop::Failed(why)),
                // A window ends only for the reasons above; the others are decided across shards below.
                Some(other) => Some(ShardStop::Failed(format!("a shard's window ended as {other:?}"))),
                None => s.split_violation().map(|v| ShardStop::Failed(v.to_string())),
            };
            let next = match (s.next_event_time(), sent_first) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let status = ShardStatus {
                shard: layout.index(),
                next,
                live: exec.live() as u64,
                last_done: exec.last_done(),
                now: s.now(),
                last_run: exec.last_run(),
                stalled: checking.then(|| s.is_stalled()),
                stop,
            };
            (status, outgoing)
        };
        // A run of one shard has nobody to trade with.
        let traded = if layout.count() == 1 { Ok(Vec::new()) } else { link.exchange(window, &status, outgoing) };
        let reports = match traded {
            Ok(r) => r,
            Err(e) => {
                sim.lock().commit_window(None);
                // Ctrl-C ends a transport's wait too; it is the interrupt that ended the run.
                if limits.interrupt.as_ref().is_some_and(|f| f.load(std::sync::atomic::Ordering::Relaxed)) {
                    return RunEnd::Interrupted;
                }
                if e.store_lost {
                    return RunEnd::SyncFailed(e.message);
                }
                return RunEnd::SplitFailed(e.message);
            }
        };

        let mut statuses = vec![status];
        let mut s = sim.lock();
        for report in reports {
            for envelope in report.events {
                s.deliver(envelope);
            }
            statuses.push(report.status);
        }
        statuses.sort_by_key(|st| st.shard);
        let latest_now = statuses.iter().map(|st| st.now).max().unwrap_or(SimTime::ZERO);
        // The first stop in shard order, so that every shard reports the same one.
        if let Some(stop) = statuses.iter().find_map(|st| st.stop.clone()) {
            s.commit_window(None);
            s.settle_clock(latest_now);
            return match stop {
                ShardStop::WallTimeout => RunEnd::WallTimeout,
                ShardStop::Interrupted => RunEnd::Interrupted,
                ShardStop::MemoryBudget => RunEnd::MemoryBudget,
                ShardStop::Failed(why) => RunEnd::SplitFailed(why),
            };
        }
        let live: u64 = statuses.iter().map(|st| st.live).sum();
        if live == 0 && !s.restarts_pending() {
            // The whole run ended right after the latest ending of any shard:
            // what happened after it in this window never happened in one process.
            let upto = statuses.iter().filter_map(|st| st.last_done).max().unwrap_or(None);
            s.commit_window(Some(upto));
            s.settle_clock(upto.map_or(SimTime::ZERO, |k| k.time));
            return RunEnd::Completed;
        }
        s.commit_window(None);
        if let Some(last_run) = statuses.iter().map(|st| st.last_run).max() {
            quiet.ran(last_run);
        }
        let next = statuses.iter().filter_map(|st| st.next).min();
        if checking {
            checking = false;
            if statuses.iter().all(|st| st.stalled == Some(true)) {
                s.settle_clock(latest_now);
                return RunEnd::Deadlock;
            }
            if let Some(t) = next {
                quiet.passed(t);
            }
        }
        match next {
            None => {
                s.settle_clock(latest_now);
                return RunEnd::Deadlock;
            }
            Some(t) if quiet.due_before(t, deadline) => {
                // Every event up to the check's point has happened, none after it:
                // the next window, empty, checks.
                checking = true;
            }
            Some(t) if t > deadline => {
                s.settle_clock(latest_now);
                return RunEnd::VirtualTimeout;
            }
            Some(t) => start = t,
        }
    }
    unreachable!("windows are numbered without end")
}
