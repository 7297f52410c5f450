//! Watching a run while it executes.
//!
//! [`watch`] runs the executor on the calling thread and, beside it, a
//! sampler thread that every [`SAMPLE_INTERVAL`] takes a [`Snapshot`] — it
//! briefly locks the simulation to read the clock, the event count and the
//! last state reached, and reads the [`Tally`] of outcomes so far — and hands
//! it to an [`Observer`]. The sampler only
//! reads, and the executor never waits for it except on that lock, so a
//! watched run processes the same events in the same order as an unwatched
//! one; only wall time can differ. What an observer shows, and where, is the
//! report's (`crate::report::progress`); this module only samples.

use super::outcome::Outcome;
use netsim::SimHandle;
use std::sync::atomic::{AtomicU32, Ordering};
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

/// Runs `f` (the executor loop) while sampling `sim` and `tally` for `observer`.
/// With no observer, `f` simply runs.
pub fn watch<R>(
    sim: &SimHandle,
    tally: &Tally,
    total: u32,
    observer: Option<&dyn Observer>,
    f: impl FnOnce() -> R,
) -> R {
    let Some(observer) = observer else { return f() };
    let started = Instant::now();
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let result = std::thread::scope(|scope| {
        scope.spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(SAMPLE_INTERVAL) {
                let snapshot = {
                    let sim = sim.lock();
                    let last_state = sim.state_timeline().marks().last().map(|m| (m.state.clone(), m.count));
                    let (ok, failed, crashed) = tally.read();
                    Snapshot {
                        ok,
                        failed,
                        crashed,
                        total,
                        virtual_ns: sim.now().as_nanos(),
                        events: sim.events_processed(),
                        last_state,
                        wall: started.elapsed(),
                    }
                };
                observer.update(&snapshot);
            }
        });
        let result = f();
        drop(stop);
        result
    });
    observer.finish();
    result
}
