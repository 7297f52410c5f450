//! The event queue: what happens next, in a total order that does not depend on
//! how the host happened to schedule its work.
//!
//! Events are keyed by `(time, source, sequence)` where `sequence` counts the
//! events each source has scheduled. A global insertion counter would make the
//! order depend on which instance the executor polled first; this key keeps the
//! same order if a run is later split across threads or processes. The queue
//! does not know what events mean: [`crate::Sim`] interprets them.
//!
//! The queue is built for millions of events a second: the heap holds only
//! keys and slab indices (24 bytes an entry), four children a node so that a
//! pop touches few cache lines; the events themselves sit in a slab that reuses
//! its slots. An event scheduled with [`EventQueue::schedule_cancellable`] can
//! be taken back ([`EventQueue::cancel`]): it never pops, and the heap sheds
//! such entries when they are half of it, so a run of timers nobody waits for
//! costs neither events nor a heap that grows with them.

use crate::node::NodeId;
use crate::time::SimTime;

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

/// An event scheduled with [`EventQueue::schedule_cancellable`], to cancel it.
/// A handle outlives its event harmlessly: once the event has popped or been
/// cancelled, cancelling it again does nothing, even if its slot was reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventId {
    slot: u32,
    generation: u32,
}

/// One heap entry: the key, spelled out so that it packs with the slot index.
#[derive(Clone, Copy)]
struct Entry {
    time: SimTime,
    seq: u64,
    source: NodeId,
    slot: u32,
}

impl Entry {
    fn key(&self) -> EventKey {
        EventKey { time: self.time, source: self.source, seq: self.seq }
    }

    /// Whether this entry comes before `other` in the run's order.
    #[inline]
    fn before(&self, other: &Entry) -> bool {
        (self.time, self.source, self.seq) < (other.time, other.source, other.seq)
    }
}

/// Children per heap node. Four halves the depth of a binary heap and keeps
/// a node's children in one or two cache lines (24-byte entries), which is
/// where a pop spends its time once the heap outgrows the cache.
const ARITY: usize = 4;

/// Cancelled entries the heap tolerates before it is rebuilt without them,
/// as a share of its length (one half) and at least this many: below it a
/// rebuild costs more than the dead entries do.
const MIN_DEAD_TO_COMPACT: usize = 256;

enum Slot<E> {
    /// Holds a scheduled event.
    Live(E),
    /// Its event was cancelled; the heap entry still points here.
    Cancelled,
    /// Free for reuse.
    Free,
}

/// A priority queue of events ordered by [`EventKey`].
///
/// ```
/// use netsim::{EventQueue, NodeId, SimTime};
/// let mut q = EventQueue::new();
/// q.schedule(SimTime::from_nanos(5), NodeId(1), "b");
/// q.schedule(SimTime::from_nanos(5), NodeId(0), "a");
/// q.schedule(SimTime::from_nanos(1), NodeId(9), "first");
/// let late = q.schedule_cancellable(SimTime::from_nanos(9), NodeId(2), "never");
/// assert_eq!(q.cancel(late), Some("never"));
/// let order: Vec<_> = std::iter::from_fn(|| q.pop()).map(|(_, e)| e).collect();
/// assert_eq!(order, ["first", "a", "b"]);
/// ```
pub struct EventQueue<E> {
    /// A 4-ary min-heap; its root is never a cancelled entry.
    heap: Vec<Entry>,
    slots: Vec<Slot<E>>,
    /// Each slot's generation: bumped when the slot is freed, so stale handles miss.
    generations: Vec<u32>,
    free: Vec<u32>,
    /// Cancelled entries still in the heap.
    dead: usize,
    /// Per instance, the sequence number of its next event.
    next_seq: Vec<u64>,
    /// The simulation's own next sequence number.
    next_sim_seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    /// An empty queue.
    pub fn new() -> Self {
        EventQueue {
            heap: Vec::new(),
            slots: Vec::new(),
            generations: Vec::new(),
            free: Vec::new(),
            dead: 0,
            next_seq: Vec::new(),
            next_sim_seq: 0,
        }
    }

    /// Schedules `event` at `time` on behalf of `source` and returns its key.
    pub fn schedule(&mut self, time: SimTime, source: NodeId, event: E) -> EventKey {
        let key = self.allocate_key(time, source);
        self.insert(key, event);
        key
    }

    /// Schedules `event` like [`EventQueue::schedule`], and returns the
    /// handle that cancels it.
    pub fn schedule_cancellable(&mut self, time: SimTime, source: NodeId, event: E) -> EventId {
        let key = self.allocate_key(time, source);
        let slot = self.insert(key, event);
        EventId { slot, generation: self.generations[slot as usize] }
    }

    /// Takes back an event scheduled with [`EventQueue::schedule_cancellable`]:
    /// it will not pop. Returns it, or `None` if it already popped or was
    /// cancelled. Its key stays used: the source's later events keep theirs.
    pub fn cancel(&mut self, id: EventId) -> Option<E> {
        let i = id.slot as usize;
        if self.generations.get(i) != Some(&id.generation) {
            return None;
        }
        let Slot::Live(event) = std::mem::replace(&mut self.slots[i], Slot::Cancelled) else {
            // Not live: put back what was there (a cancelled slot stays cancelled).
            return None;
        };
        self.dead += 1;
        self.shed_dead_root();
        if self.dead >= MIN_DEAD_TO_COMPACT && self.dead * 2 > self.heap.len() {
            self.compact();
        }
        Some(event)
    }

    /// The key the next event `source` schedules at `time` gets, taken without
    /// queueing anything: for an event that another queue will hold.
    pub fn allocate_key(&mut self, time: SimTime, source: NodeId) -> EventKey {
        let counter = if source == NodeId::SIM {
            &mut self.next_sim_seq
        } else {
            let i = source.index();
            if self.next_seq.len() <= i {
                self.next_seq.resize(i + 1, 0);
            }
            &mut self.next_seq[i]
        };
        let key = EventKey { time, source, seq: *counter };
        *counter += 1;
        key
    }

    /// Puts `event` in the queue under a key another queue gave it: an event
    /// a different shard of the run scheduled for one of this shard's nodes.
    /// The key keeps its place in the run's order; this queue's own sequence
    /// numbers are not touched, since `key.source` schedules elsewhere.
    /// Returns the slot the event took.
    pub fn insert(&mut self, key: EventKey, event: E) -> u32 {
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Slot::Live(event);
                slot
            }
            None => {
                let slot = u32::try_from(self.slots.len()).expect("fewer than 2^32 pending events");
                self.slots.push(Slot::Live(event));
                self.generations.push(0);
                slot
            }
        };
        self.heap.push(Entry { time: key.time, seq: key.seq, source: key.source, slot });
        self.sift_up(self.heap.len() - 1);
        slot
    }

    /// Removes and returns the earliest event.
    pub fn pop(&mut self) -> Option<(EventKey, E)> {
        let entry = self.remove_root()?;
        let event = match self.release(entry.slot) {
            Slot::Live(event) => event,
            // The root is never cancelled (see `shed_dead_root`), nor free.
            Slot::Cancelled | Slot::Free => unreachable!("a cancelled or free slot at the heap's root"),
        };
        self.shed_dead_root();
        Some((entry.key(), event))
    }

    /// The key of the earliest event, without removing it.
    pub fn peek_key(&self) -> Option<EventKey> {
        self.heap.first().map(Entry::key)
    }

    /// How many events are pending (cancelled ones not counted).
    pub fn len(&self) -> usize {
        self.heap.len() - self.dead
    }

    /// Whether no event is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Frees `slot`, returning what it held.
    fn release(&mut self, slot: u32) -> Slot<E> {
        let i = slot as usize;
        self.generations[i] = self.generations[i].wrapping_add(1);
        self.free.push(slot);
        std::mem::replace(&mut self.slots[i], Slot::Free)
    }

    /// Pops cancelled entries off the root until a live one (or nothing) is there.
    fn shed_dead_root(&mut self) {
        while let Some(root) = self.heap.first() {
            if !matches!(self.slots[root.slot as usize], Slot::Cancelled) {
                return;
            }
            let entry = self.remove_root().expect("the heap has a root");
            self.release(entry.slot);
            self.dead -= 1;
        }
    }

    /// Rebuilds the heap without its cancelled entries.
    fn compact(&mut self) {
        let mut heap = std::mem::take(&mut self.heap);
        heap.retain(|entry| {
            if matches!(self.slots[entry.slot as usize], Slot::Cancelled) {
                self.release(entry.slot);
                false
            } else {
                true
            }
        });
        self.heap = heap;
        self.dead = 0;
        for i in (0..self.heap.len().div_ceil(ARITY)).rev() {
            self.sift_down(i);
        }
    }

    fn remove_root(&mut self) -> Option<Entry> {
        let last = self.heap.pop()?;
        let Some(root) = self.heap.first_mut() else { return Some(last) };
        let root = std::mem::replace(root, last);
        self.sift_down(0);
        Some(root)
    }

    fn sift_up(&mut self, mut i: usize) {
        let entry = self.heap[i];
        while i > 0 {
            let parent = (i - 1) / ARITY;
            if !entry.before(&self.heap[parent]) {
                break;
            }
            self.heap[i] = self.heap[parent];
            i = parent;
        }
        self.heap[i] = entry;
    }

    fn sift_down(&mut self, mut i: usize) {
        let len = self.heap.len();
        let entry = self.heap[i];
        loop {
            let first = ARITY * i + 1;
            if first >= len {
                break;
            }
            let mut best = first;
            for child in first + 1..(first + ARITY).min(len) {
                if self.heap[child].before(&self.heap[best]) {
                    best = child;
                }
            }
            if !self.heap[best].before(&entry) {
                break;
            }
            self.heap[i] = self.heap[best];
            i = best;
        }
        self.heap[i] = entry;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain<E>(q: &mut EventQueue<E>) -> Vec<E> {
        std::iter::from_fn(|| q.pop()).map(|(_, e)| e).collect()
    }

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
        assert_eq!(drain(&mut a), drain(&mut b));
    }

    /// A reference model: every pending event with its key; each pop must be its least.
    #[test]
    fn pops_the_least_pending_key_through_cancels_compactions_and_reuse() {
        let mut q = EventQueue::new();
        let mut model: Vec<(EventKey, u32)> = Vec::new();
        let mut ids = Vec::new();
        let mut seqs = std::collections::BTreeMap::new();
        // A deterministic scramble of times and sources.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut now = 0u64;
        let check_pop = |q: &mut EventQueue<u32>, model: &mut Vec<(EventKey, u32)>| {
            let least = model.iter().min().copied();
            let popped = q.pop();
            assert_eq!(popped, least);
            if let Some((key, _)) = popped {
                model.retain(|&(k, _)| k != key);
            }
            popped.map(|(k, _)| k.time.as_nanos())
        };
        for i in 0..20_000u32 {
            let r = next();
            let time = SimTime::from_nanos(now + r % 1000);
            let source = if r % 17 == 0 { NodeId::SIM } else { NodeId((r >> 20) as u32 % 50) };
            let seq = seqs.entry(source).or_insert(0u64);
            let key = EventKey { time, source, seq: *seq };
            *seq += 1;
            ids.push((q.schedule_cancellable(time, source, i), i));
            model.push((key, i));
            if r % 3 == 0 {
                // Cancel one of those scheduled so far: pending, popped or already cancelled.
                let (id, v) = ids[(r >> 8) as usize % ids.len()];
                let was = q.cancel(id);
                match model.iter().position(|&(_, w)| w == v) {
                    Some(pos) => {
                        assert_eq!(was, Some(v));
                        model.remove(pos);
                    }
                    None => assert_eq!(was, None),
                }
            }
            if r % 5 < 2
                && let Some(t) = check_pop(&mut q, &mut model)
            {
                now = t;
            }
            assert_eq!(q.len(), model.len());
            assert_eq!(q.peek_key(), model.iter().min().map(|&(k, _)| k));
        }
        while check_pop(&mut q, &mut model).is_some() {}
        assert!(model.is_empty() && q.is_empty());
    }

    #[test]
    fn a_drained_queue_pops_everything_in_order() {
        let mut q = EventQueue::new();
        let mut cancelled = Vec::new();
        for i in 0..5000u64 {
            let t = SimTime::from_nanos((i * 7919) % 1000);
            let id = q.schedule_cancellable(t, NodeId((i % 13) as u32), i);
            if i % 4 != 0 {
                cancelled.push(id);
            }
        }
        for id in cancelled {
            assert!(q.cancel(id).is_some());
        }
        assert_eq!(q.len(), 1250);
        let keys: Vec<EventKey> = std::iter::from_fn(|| q.pop()).map(|(k, _)| k).collect();
        assert_eq!(keys.len(), 1250);
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        assert!(q.is_empty() && q.peek_key().is_none());
    }
}
