//! A sync state: a counter and the barriers waiting on it.

use super::Ticket;

/// A barrier waiting for a state's count to reach `target`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BarrierWaiter {
    /// The waiting operation.
    pub ticket: Ticket,
    /// The count it waits for.
    pub target: u64,
}

/// A named counter with the barriers that wait on it.
#[derive(Default, Debug)]
pub struct StateCounter {
    count: u64,
    waiters: Vec<BarrierWaiter>,
    released: Vec<BarrierWaiter>,
}

impl StateCounter {
    /// The number of `signal-entry` calls so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Barriers still waiting, in the order they started waiting.
    pub fn waiters(&self) -> &[BarrierWaiter] {
        &self.waiters
    }

    pub(super) fn increment(&mut self) -> u64 {
        self.count += 1;
        let count = self.count;
        // Keep waiting order among both the released and the remaining barriers.
        let (done, still): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.waiters).into_iter().partition(|w| w.target <= count);
        self.waiters = still;
        self.released = done;
        count
    }

    pub(super) fn take_released(&mut self) -> Vec<BarrierWaiter> {
        std::mem::take(&mut self.released)
    }

    pub(super) fn wait(&mut self, waiter: BarrierWaiter) {
        self.waiters.push(waiter);
    }
}
