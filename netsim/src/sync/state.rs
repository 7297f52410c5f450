//! Barriers waiting on sync states.
//!
//! Waiters are kept by the [`crate::Sim`], not by the backend: who waits is
//! part of the simulation (it decides who is woken, and when), while the count
//! a barrier waits for is stored wherever the backend keeps it.

use super::Ticket;
use std::collections::BTreeMap;

/// A barrier waiting for a state's count to reach `target`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BarrierWaiter {
    /// The waiting operation.
    pub ticket: Ticket,
    /// The count it waits for.
    pub target: u64,
}

/// Every barrier still waiting, by state, in the order they started waiting.
#[derive(Default, Debug)]
pub struct BarrierWaiters {
    by_state: BTreeMap<String, Vec<BarrierWaiter>>,
}

impl BarrierWaiters {
    /// Adds a waiter on `state`.
    pub fn wait(&mut self, state: &str, waiter: BarrierWaiter) {
        self.by_state.entry(state.to_string()).or_default().push(waiter);
    }

    /// Removes and returns the waiters on `state` whose target `count` reaches,
    /// in the order they started waiting.
    pub fn release(&mut self, state: &str, count: u64) -> Vec<BarrierWaiter> {
        let Some(waiters) = self.by_state.get_mut(state) else { return Vec::new() };
        // Keep waiting order among both the released and the remaining barriers.
        let (done, still): (Vec<_>, Vec<_>) = std::mem::take(waiters).into_iter().partition(|w| w.target <= count);
        if still.is_empty() {
            self.by_state.remove(state);
        } else {
            *waiters = still;
        }
        done
    }

    /// The waiters on `state`, in the order they started waiting.
    pub fn waiting(&self, state: &str) -> &[BarrierWaiter] {
        self.by_state.get(state).map_or(&[], Vec::as_slice)
    }
}
