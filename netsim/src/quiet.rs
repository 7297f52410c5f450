//! When a run in which no instance has run for a while is checked for a
//! stall: only zero-window probes left, so nothing can ever move again.
//!
//! The check ([`crate::Sim::is_stalled`]) looks at every pending event, so
//! it is not made after every event: only at points a fixed quiet interval
//! apart, counted from the last time any instance ran. The points depend on
//! the simulation alone (when instances ran, when events are due), never on
//! how the run is divided: one thread stops at the same event as several
//! threads or workers, which make the check at the end of a window that ends
//! at the same point, so a stalled run gives one digest however it runs.
//!
//! What ends the run is the check; this module only says when to make it.

use crate::time::SimTime;
use std::time::Duration;

/// Virtual time with no instance running after which a run is checked for a
/// stall, and again after every further interval of it. Any interval gives
/// the same answer — the check says stalled only when nothing but probing is
/// left — so it is sized for the report: past the few minutes it takes
/// Linux's persist timer to back off to its 120 s ceiling, so that a stall is
/// reported a minute or so after its last real event, after a handful of
/// probes, instead of after hundreds of years of virtual time.
pub const STALL_CHECK_INTERVAL: Duration = Duration::from_secs(60);

/// The last time an instance ran and the next point to check at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuietCheck {
    last_run: SimTime,
    /// The next check is this many intervals after `last_run`.
    intervals: u64,
    /// That point, kept: it is compared before every event.
    due: SimTime,
}

impl Default for QuietCheck {
    fn default() -> Self {
        QuietCheck::after(SimTime::ZERO, 1)
    }
}

impl QuietCheck {
    fn after(last_run: SimTime, intervals: u64) -> QuietCheck {
        let interval = STALL_CHECK_INTERVAL.as_nanos() as u64;
        let due = last_run.saturating_add(Duration::from_nanos(interval.saturating_mul(intervals)));
        QuietCheck { last_run, intervals, due }
    }

    /// The last time an instance ran.
    pub fn last_run(&self) -> SimTime {
        self.last_run
    }

    /// Notes that an instance ran at `at`: the count of quiet time restarts.
    pub fn ran(&mut self, at: SimTime) {
        // An instance runs after a failed check only at a later event, so a
        // run at the last time already noted changes nothing.
        if at > self.last_run {
            *self = QuietCheck::after(at, 1);
        }
    }

    /// The point the next check is made at: after every event at or before
    /// it, before any later one.
    pub fn due(&self) -> SimTime {
        self.due
    }

    /// Whether the check is due before an event at `next` may happen, in a
    /// run that stops after `deadline` (a check after the deadline is never
    /// made: the run times out first).
    pub fn due_before(&self, next: SimTime, deadline: SimTime) -> bool {
        next > self.due && self.due <= deadline
    }

    /// The check found the run able to move; the next point is the first one
    /// at or after `next`, the event that comes after it, so that the event
    /// is not kept waiting for a check that would find the same.
    pub fn passed(&mut self, next: SimTime) {
        let interval = STALL_CHECK_INTERVAL.as_nanos() as u64;
        let quiet = next.as_nanos().saturating_sub(self.last_run.as_nanos());
        *self = QuietCheck::after(self.last_run, (self.intervals + 1).max(quiet.div_ceil(interval)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SimTime {
        SimTime::from_nanos(secs * 1_000_000_000)
    }

    #[test]
    fn checks_come_an_interval_apart_from_the_last_run_and_skip_to_the_next_event() {
        let mut q = QuietCheck::default();
        q.ran(at(5));
        assert_eq!(q.due(), at(65));
        assert!(!q.due_before(at(65), SimTime::LAST), "an event at the point itself comes first");
        assert!(q.due_before(at(66), SimTime::LAST));
        assert!(!q.due_before(at(66), at(64)), "past the deadline the run times out instead");
        q.passed(at(66));
        assert_eq!(q.due(), at(125));
        // A check that finds the run able to move while the next event is far off moves past it.
        q.passed(at(1000));
        assert_eq!(q.due(), at(1025));
        assert!(!q.due_before(at(1000), SimTime::LAST));
        // Any run restarts the count.
        q.ran(at(1000));
        assert_eq!(q.due(), at(1060));
    }
}
