//! What a run shows of itself to other threads while it runs: its virtual
//! time, its event count and its latest sync state, published every few
//! steps by the thread that drives it.
//!
//! The driving thread holds the simulation's lock for as long as it drives
//! (see [`super::cell`]), so a progress display on another thread cannot
//! look inside; it reads this instead. Nothing in the run reads it back.

use super::Sim;
use crate::time::SimTime;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// A run's progress as last published ([`Sim::publish_status`]).
#[derive(Debug, Default)]
pub struct RunStatus {
    now_ns: AtomicU64,
    events: AtomicU64,
    /// The latest sync state reached and its count.
    last_state: Mutex<Option<(String, u64)>>,
}

impl RunStatus {
    /// The virtual time.
    pub fn now(&self) -> SimTime {
        SimTime::from_nanos(self.now_ns.load(Ordering::Relaxed))
    }

    /// Events processed ([`Sim::events_processed`]).
    pub fn events(&self) -> u64 {
        self.events.load(Ordering::Relaxed)
    }

    /// The latest sync state reached and its count, if any.
    pub fn last_state(&self) -> Option<(String, u64)> {
        self.last_state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Sim {
    /// Publishes the run's progress for other threads ([`Sim::status`]):
    /// cheap enough for every few steps (two stores, and a lock only when a
    /// sync state was reached since).
    pub fn publish_status(&mut self) {
        self.status.now_ns.store(self.now.as_nanos(), Ordering::Relaxed);
        self.status.events.store(self.events_processed, Ordering::Relaxed);
        let marks = self.timeline.marks();
        if marks.len() != self.status_marks {
            self.status_marks = marks.len();
            let last = marks.last().map(|m| (m.state.clone(), m.count));
            *self.status.last_state.lock().unwrap_or_else(|e| e.into_inner()) = last;
        }
    }

    /// The run's progress as last published, readable from any thread.
    pub fn status(&self) -> std::sync::Arc<RunStatus> {
        self.status.clone()
    }
}
