//! Watching a run while it executes.
//!
//! [`watch`] runs the executor on the calling thread and, beside it, a
//! sampler thread that every [`SAMPLE_INTERVAL`] takes a [`Snapshot`] — it
//! briefly locks the simulation to read the clock, the event count and the
//! last state reached — and hands it to an [`Observer`]. The sampler only
//! reads, and the executor never waits for it except on that lock, so a
//! watched run processes the same events in the same order as an unwatched
//! one; only wall time can differ. What an observer shows, and where, is the
//! report's (`crate::report::progress`); this module only samples.

use netsim::SimHandle;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How often the sampler looks at the run: a display refresh rate, not a load.
pub const SAMPLE_INTERVAL: Duration = Duration::from_millis(200);

/// The state of a run at one moment.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Instances whose test case ended.
    pub done: u32,
    /// Instances in the run.
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

/// Runs `f` (the executor loop) while sampling `sim` and `done` for `observer`.
/// With no observer, `f` simply runs.
pub fn watch<R>(
    sim: &SimHandle,
    done: &AtomicU32,
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
                    Snapshot {
                        done: done.load(Ordering::Relaxed),
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
