//! Watching a run while it executes.
//!
//! [`watch`] runs the executor (or the threads of a run on several) on the
//! calling thread and, beside it, a sampler thread that every
//! [`SAMPLE_INTERVAL`] takes a [`Snapshot`] of the run's [`Progress`] — it
//! briefly locks each simulation to read the clock, the event count and the
//! last state reached, and reads the [`Tally`] of outcomes so far — and
//! hands it to an [`Observer`]. The sampler only
//! reads, and the executor never waits for it except on that lock, so a
//! watched run processes the same events in the same order as an unwatched
//! one; only wall time can differ. What an observer shows, and where, is the
//! report's (`crate::report::progress`); this module only samples.

use super::outcome::Outcome;
use netsim::{RunStatus, SimHandle};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often the sampler looks at the run: a display refresh rate, not a load.
pub const SAMPLE_INTERVAL: Duration = Duration::from_millis(200);

/// How many instances have ended so far, by outcome: updated by the run as
/// each instance ends (and undone when an injected restart runs it again),
/// read by the sampler. `stalled` has no count: only the run's end makes an
/// instance so.
#[derive(Debug, Default)]
pub struct Tally {
    ok: AtomicU32,
    failed: AtomicU32,
    crashed: AtomicU32,
}

impl Tally {
    fn counter(&self, outcome: Outcome) -> Option<&AtomicU32> {
        match outcome {
            Outcome::Ok => Some(&self.ok),
            Outcome::Failed => Some(&self.failed),
            Outcome::Crashed => Some(&self.crashed),
            Outcome::Stalled => None,
        }
    }

    /// An instance ended with `outcome`.
    pub fn add(&self, outcome: Outcome) {
        if let Some(c) = self.counter(outcome) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// An instance that ended with `outcome` runs again.
    pub fn remove(&self, outcome: Outcome) {
        if let Some(c) = self.counter(outcome) {
            c.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// (ok, failed, crashed) now.
    pub fn read(&self) -> (u32, u32, u32) {
        (self.ok.load(Ordering::Relaxed), self.failed.load(Ordering::Relaxed), self.crashed.load(Ordering::Relaxed))
    }
}

/// What a run shows of itself while it executes: its simulations (one, or one
/// per shard of a run on several threads, registered as each starts) and the
/// tally of instances that have ended.
pub struct Progress {
    /// Each simulation's published progress: the thread driving a run holds
    /// its lock throughout, so its state is not read directly.
    sims: Mutex<Vec<Arc<RunStatus>>>,
    tally: Tally,
    total: u32,
}

impl Progress {
    /// The progress of a run of `total` instances, before anything started.
    pub fn new(total: u32) -> Progress {
        Progress { sims: Mutex::new(Vec::new()), tally: Tally::default(), total }
    }

    /// A simulation of the run started (a shard's, in shard order).
    pub fn add_sim(&self, sim: &SimHandle) {
        let status = sim.lock().status();
        self.sims.lock().unwrap_or_else(|e| e.into_inner()).push(status);
    }

    /// An instance ended with `outcome`.
    pub fn instance_done(&self, outcome: Outcome) {
        self.tally.add(outcome);
    }

    /// An instance that ended with `outcome` runs again (an injected restart).
    pub fn instance_restarted(&self, outcome: Outcome) {
        self.tally.remove(outcome);
    }

    /// The run now. Shards are each at their own time within a window: the
    /// run is where its slowest shard is. Replicated events count once (see
    /// [`netsim::Sim::events_processed`]), and the sync timeline is the same in
    /// every shard, so the first one's is read.
    fn snapshot(&self, started: Instant) -> Snapshot {
        let sims = self.sims.lock().unwrap_or_else(|e| e.into_inner());
        let (ok, failed, crashed) = self.tally.read();
        let mut snapshot = Snapshot {
            ok,
            failed,
            crashed,
            total: self.total,
            wall: started.elapsed(),
            virtual_ns: if sims.is_empty() { 0 } else { u64::MAX },
            ..Snapshot::default()
        };
        for (i, status) in sims.iter().enumerate() {
            snapshot.virtual_ns = snapshot.virtual_ns.min(status.now().as_nanos());
            snapshot.events += status.events();
            if i == 0 {
                snapshot.last_state = status.last_state();
            }
        }
        snapshot
    }
}

/// The state of a run at one moment.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Instances whose test case ended `ok` so far.
    pub ok: u32,
    /// Instances that failed so far.
    pub failed: u32,
    /// Instances that crashed so far.
    pub crashed: u32,
    /// Instances in the run (in this process).
    pub total: u32,
    /// Virtual time, ns.
    pub virtual_ns: u64,
    /// Simulation events processed.
    pub events: u64,
    /// The most recent sync state reached and its count, if any.
    pub last_state: Option<(String, u64)>,
    /// Wall time since the instances started.
    pub wall: Duration,
}

/// Receives snapshots of a running run.
pub trait Observer: Sync {
    /// A new snapshot, every [`SAMPLE_INTERVAL`].
    fn update(&self, snapshot: &Snapshot);
    /// The run's execution ended (outputs are still to be written).
    fn finish(&self);
}

impl Snapshot {
    /// Instances that have ended, however.
    pub fn done(&self) -> u32 {
        self.ok + self.failed + self.crashed
    }

    /// Instances still running or waiting.
    pub fn running(&self) -> u32 {
        self.total.saturating_sub(self.done())
    }
}

/// Runs `f` (the executor loop, or the threads of the run) while sampling
/// `progress` for `observer`. With no observer, `f` simply runs.
pub fn watch<R>(progress: &Progress, observer: Option<&dyn Observer>, f: impl FnOnce() -> R) -> R {
    let Some(observer) = observer else { return f() };
    let started = Instant::now();
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let result = std::thread::scope(|scope| {
        scope.spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(SAMPLE_INTERVAL) {
                observer.update(&progress.snapshot(started));
            }
        });
        let result = f();
        drop(stop);
        result
    });
    observer.finish();
    result
}
