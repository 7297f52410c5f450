//! When sync states were reached: a compact record of signals and barrier
//! passes over virtual time, for reports.
//!
//! The record is an observation only: nothing in the simulation reads it, so
//! keeping it cannot change a run. It is appended in event order, which is
//! deterministic, and marks of the same state, kind and instant are merged
//! into one so that a thousand instances signalling at the same moment cost one
//! entry, not a thousand. It does not know about waiters or tickets; the sync
//! service and [`crate::Sim`] decide what to record.

use crate::time::SimTime;

/// What a [`StateMark`] counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum StateMarkKind {
    /// `signal-entry` calls; the mark's `count` is the state's count after them.
    Signal,
    /// Barriers released; the mark's `count` is how many passed at that instant.
    BarrierPass,
}

impl StateMarkKind {
    /// `signal` or `barrier-pass`.
    pub fn as_str(self) -> &'static str {
        match self {
            StateMarkKind::Signal => "signal",
            StateMarkKind::BarrierPass => "barrier-pass",
        }
    }
}

/// One point of the timeline.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StateMark {
    /// Virtual time.
    pub at: SimTime,
    /// The sync state.
    pub state: String,
    /// Signal or barrier pass.
    pub kind: StateMarkKind,
    /// See [`StateMarkKind`].
    pub count: u64,
}

/// Every mark of one run, in event order.
#[derive(Default, Debug)]
pub struct StateTimeline {
    marks: Vec<StateMark>,
}

impl StateTimeline {
    /// Notes that `state` reached `count` signals at `at`.
    pub fn signal(&mut self, at: SimTime, state: &str, count: u64) {
        if let Some(last) = self.last_matching(at, state, StateMarkKind::Signal) {
            last.count = count;
            return;
        }
        self.marks.push(StateMark { at, state: state.to_string(), kind: StateMarkKind::Signal, count });
    }

    /// Notes that one barrier on `state` passed at `at`.
    pub fn barrier_pass(&mut self, at: SimTime, state: &str) {
        if let Some(last) = self.last_matching(at, state, StateMarkKind::BarrierPass) {
            last.count += 1;
            return;
        }
        self.marks.push(StateMark { at, state: state.to_string(), kind: StateMarkKind::BarrierPass, count: 1 });
    }

    /// The marks so far.
    pub fn marks(&self) -> &[StateMark] {
        &self.marks
    }

    /// Takes the marks, leaving the timeline empty.
    pub fn take(&mut self) -> Vec<StateMark> {
        std::mem::take(&mut self.marks)
    }

    /// The most recent mark of `state` and `kind` if it is at `at`. Looks back
    /// only past marks of the same instant, so that the cost stays bounded by
    /// the number of states active at one moment.
    fn last_matching(&mut self, at: SimTime, state: &str, kind: StateMarkKind) -> Option<&mut StateMark> {
        self.marks.iter_mut().rev().take_while(|m| m.at == at).take(16).find(|m| m.kind == kind && m.state == state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_of_one_instant_merge() {
        let mut t = StateTimeline::default();
        let t0 = SimTime::ZERO;
        let t1 = SimTime::from_nanos(5);
        t.signal(t0, "ready", 1);
        t.signal(t0, "ready", 2);
        t.barrier_pass(t0, "ready");
        t.barrier_pass(t0, "ready");
        t.signal(t1, "ready", 3);
        t.signal(t1, "done", 1);
        let got: Vec<(u64, &str, &str, u64)> =
            t.marks().iter().map(|m| (m.at.as_nanos(), m.state.as_str(), m.kind.as_str(), m.count)).collect();
        assert_eq!(
            got,
            vec![
                (0, "ready", "signal", 2),
                (0, "ready", "barrier-pass", 2),
                (5, "ready", "signal", 3),
                (5, "done", "signal", 1)
            ]
        );
    }
}
