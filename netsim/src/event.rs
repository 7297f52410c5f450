//! The event queue: what happens next, in a total order that does not depend on
//! how the host happened to schedule its work.
//!
//! Events are keyed by `(time, source, sequence)` where `sequence` counts the
//! events each source has scheduled. A global insertion counter would make the
//! order depend on which instance the executor polled first; this key keeps the
//! same order if a run is later split across threads or processes. The queue
//! does not know what events mean: [`crate::Sim`] interprets them.

use crate::node::NodeId;
use crate::time::SimTime;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};

/// Where an event sits in the run's total order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct EventKey {
    /// When the event happens.
    pub time: SimTime,
    /// Who caused it.
    pub source: NodeId,
    /// How many events `source` had scheduled before this one.
    pub seq: u64,
}

struct Entry<E> {
    key: EventKey,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    // Reversed: BinaryHeap is a max-heap and we want the earliest key first.
    fn cmp(&self, other: &Self) -> Ordering {
        other.key.cmp(&self.key)
    }
}

/// A priority queue of events ordered by [`EventKey`].
///
/// ```
/// use netsim::{EventQueue, NodeId, SimTime};
/// let mut q = EventQueue::new();
/// q.schedule(SimTime::from_nanos(5), NodeId(1), "b");
/// q.schedule(SimTime::from_nanos(5), NodeId(0), "a");
/// q.schedule(SimTime::from_nanos(1), NodeId(9), "first");
/// let order: Vec<_> = std::iter::from_fn(|| q.pop()).map(|(_, e)| e).collect();
/// assert_eq!(order, ["first", "a", "b"]);
/// ```
pub struct EventQueue<E> {
    heap: BinaryHeap<Entry<E>>,
    next_seq: BTreeMap<NodeId, u64>,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    /// An empty queue.
    pub fn new() -> Self {
        EventQueue { heap: BinaryHeap::new(), next_seq: BTreeMap::new() }
    }

    /// Schedules `event` at `time` on behalf of `source` and returns its key.
    pub fn schedule(&mut self, time: SimTime, source: NodeId, event: E) -> EventKey {
        let key = self.allocate_key(time, source);
        self.heap.push(Entry { key, event });
        key
    }

    /// The key the next event `source` schedules at `time` gets, taken without
    /// queueing anything: for an event that another queue will hold.
    pub fn allocate_key(&mut self, time: SimTime, source: NodeId) -> EventKey {
        let seq = self.next_seq.entry(source).or_insert(0);
        let key = EventKey { time, source, seq: *seq };
        *seq += 1;
        key
    }

    /// Puts `event` in the queue under a key another queue gave it: an event
    /// a different shard of the run scheduled for one of this shard's nodes.
    /// The key keeps its place in the run's order; this queue's own sequence
    /// numbers are not touched, since `key.source` schedules elsewhere.
    pub fn insert(&mut self, key: EventKey, event: E) {
        self.heap.push(Entry { key, event });
    }

    /// Removes and returns the earliest event.
    pub fn pop(&mut self) -> Option<(EventKey, E)> {
        self.heap.pop().map(|e| (e.key, e.event))
    }

    /// The key of the earliest event, without removing it.
    pub fn peek_key(&self) -> Option<EventKey> {
        self.heap.peek().map(|e| e.key)
    }

    /// How many events are pending.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether no event is pending.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_ignores_insertion_order() {
        let mut a = EventQueue::new();
        let mut b = EventQueue::new();
        let evs = [(3, 2, "x"), (3, 1, "y"), (1, 5, "z"), (3, 1, "w")];
        for (t, s, e) in evs {
            a.schedule(SimTime::from_nanos(t), NodeId(s), e);
        }
        // Same per-source order, different interleaving across sources.
        for (t, s, e) in [(1, 5, "z"), (3, 1, "y"), (3, 1, "w"), (3, 2, "x")] {
            b.schedule(SimTime::from_nanos(t), NodeId(s), e);
        }
        fn drain(q: &mut EventQueue<&'static str>) -> Vec<&'static str> {
            std::iter::from_fn(|| q.pop()).map(|(_, e)| e).collect()
        }
        assert_eq!(drain(&mut a), drain(&mut b));
    }
}
