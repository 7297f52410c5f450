//! The event queue: what happens next, in a total order that does not depend on
//! how the host happened to schedule its work.
//!
//! Events are keyed by `(time, source, sequence)` where `sequence` counts the
//! events each source has scheduled. A global insertion counter would make the
//! order depend on which instance the executor polled first; this key keeps the
//! same order if a run is later split across threads or processes. The queue
//! does not know what events mean: [`crate::Sim`] interprets them.
//!
//! The queue is built for millions of events a second with hundreds of
//! thousands pending. Events wait, unsorted, in buckets of [`BUCKET_NANOS`]
//! of virtual time; when the nearest bucket's turn comes it is sorted once
//! into a run that is then read in order, which costs less per event than a
//! heap (a busy bucket holds thousands of events, and a heap of them is
//! several cache lines deep) and tells the queue which events come next, so
//! that their slots are fetched well ahead. Events scheduled into the bucket
//! being read (a timer due now, a packet over a link without latency) go
//! into a small heap beside the run; each pop takes the earlier of the two.
//! Runs, buckets and heap hold only times, sources and slot indices (16 bytes
//! an entry), the heap four children a node, each node's children in one
//! cache line; the events themselves, and their sequence numbers (needed
//! only to break a tie of time and source), sit in a slab that reuses its
//! slots. An event scheduled with
//! [`EventQueue::schedule_cancellable`] can be taken back
//! ([`EventQueue::cancel`]): it never pops, and the queue sheds such entries
//! when they are half of it, so a run of timers nobody waits for costs
//! neither events nor a queue that grows with them.

use crate::node::NodeId;
use crate::prefetch::{prefetch, prefetch_write};
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

/// One heap entry: the key without its sequence number, which is in the
/// slab beside the event, and the event's slot. Source and slot share one
/// word, so that an entry's place in the run's order, but for ties of time
/// and source, is one 128-bit comparison, without branches.
#[derive(Clone, Copy, Debug)]
struct Entry {
    time: SimTime,
    /// The source in the high half, the slot in the low one.
    source_slot: u64,
}

impl Entry {
    fn new(time: SimTime, source: NodeId, slot: u32) -> Entry {
        Entry { time, source_slot: (u64::from(source.0) << 32) | u64::from(slot) }
    }

    fn source(self) -> NodeId {
        NodeId((self.source_slot >> 32) as u32)
    }

    fn slot(self) -> usize {
        self.source_slot as u32 as usize
    }

    /// Time, then source, then slot: the run's order where time or source differ.
    #[inline]
    fn rank(self) -> u128 {
        (u128::from(self.time.as_nanos()) << 64) | u128::from(self.source_slot)
    }
}

/// Whether `a` comes before `b` in the run's order. Time and source decide
/// nearly always; only a tie of both reads the sequence numbers in `slots`.
#[inline]
fn before<E>(slots: &[Held<E>], a: Entry, b: Entry) -> bool {
    let (x, y) = (a.rank(), b.rank());
    if (x ^ y) >> 32 == 0 {
        // The same time and source: their sequence numbers decide.
        return slots[a.slot()].seq < slots[b.slot()].seq;
    }
    x < y
}

/// The run's order of `a` and `b`, as [`before`] decides it (and by slot
/// for an entry against itself, which a sort may ask).
fn order<E>(slots: &[Held<E>], a: Entry, b: Entry) -> std::cmp::Ordering {
    let (x, y) = (a.rank(), b.rank());
    if (x ^ y) >> 32 == 0 {
        return slots[a.slot()].seq.cmp(&slots[b.slot()].seq).then(x.cmp(&y));
    }
    x.cmp(&y)
}

/// Children per heap node. Four 16-byte entries fill one cache line, so a
/// level of a pop is one line, and four halve the depth of a binary heap.
const ARITY: usize = 4;

/// Where heap node 0 (the root) sits in the heap's array: three places in, so
/// that the children of node `k`, nodes `4k + 1 ..= 4k + 4`, sit at `4k + 4 ..=
/// 4k + 7`, one whole [`Line`].
const ROOT_AT: usize = ARITY - 1;

/// One cache line of the heap: the children of one node.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
struct Line([Entry; ARITY]);

impl Line {
    /// A line before entries are put in it.
    const EMPTY: Line = Line([Entry { time: SimTime::ZERO, source_slot: 0 }; ARITY]);
}

/// How much virtual time one bucket of parked events spans: 2^16 ns (65.5
/// µs). Packets a millisecond or more ahead wait in buckets; the events of
/// a bucket are a heap's worth in the busiest runs.
pub const BUCKET_NANOS: u64 = 1 << BUCKET_SHIFT;
const BUCKET_SHIFT: u32 = 16;

/// The bucket an event at `time` waits in.
fn bucket_of(time: SimTime) -> u64 {
    time.as_nanos() >> BUCKET_SHIFT
}

/// Cancelled entries the queue tolerates before it is rebuilt without them,
/// as a share of its length (one half) and at least this many: below it a
/// rebuild costs more than the dead entries do.
const MIN_DEAD_TO_COMPACT: usize = 256;

/// How many inserts ahead a slot is prefetched for writing.
const WRITE_AHEAD: usize = 4;

/// How many events ahead in a sorted run a slot is prefetched for reading:
/// far enough for the line to arrive while the events before it are handled.
const READ_AHEAD: usize = 4;

/// One place in the slab: an event (or what became of it), its sequence
/// number, and the slot's generation, bumped when the slot is freed so that
/// stale handles miss.
struct Held<E> {
    seq: u64,
    generation: u32,
    slot: Slot<E>,
}

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
    /// The events of bucket `heaped`, sorted when its turn came; those from
    /// `run_at` on are pending. Its head (`run[run_at]`) is never a cancelled
    /// entry.
    run: Vec<Entry>,
    run_at: usize,
    /// A 4-ary min-heap of `len` entries laid out from [`ROOT_AT`]: events
    /// scheduled for buckets up to `heaped` after that bucket was sorted. Its
    /// root is never a cancelled entry. The heap and the run are both empty
    /// only if `parked` is too.
    heap: Vec<Line>,
    len: usize,
    /// The bucket being read: later events are parked, the others are in
    /// the run or the heap.
    heaped: u64,
    /// Events of later buckets than `heaped`, by bucket, unordered.
    parked: std::collections::BTreeMap<u64, Vec<Entry>>,
    /// How many entries `parked` holds.
    parked_len: usize,
    /// Emptied bucket vectors, to park events in without allocating.
    spare: Vec<Vec<Entry>>,
    slots: Vec<Held<E>>,
    free: Vec<u32>,
    /// Cancelled entries still in the heap or parked.
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
            run: Vec::new(),
            run_at: 0,
            heap: Vec::new(),
            len: 0,
            heaped: 0,
            parked: std::collections::BTreeMap::new(),
            parked_len: 0,
            spare: Vec::new(),
            slots: Vec::new(),
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
        EventId { slot, generation: self.slots[slot as usize].generation }
    }

    /// Takes back an event scheduled with [`EventQueue::schedule_cancellable`]:
    /// it will not pop. Returns it, or `None` if it already popped or was
    /// cancelled. Its key stays used: the source's later events keep theirs.
    pub fn cancel(&mut self, id: EventId) -> Option<E> {
        let i = id.slot as usize;
        if self.slots.get(i).is_none_or(|held| held.generation != id.generation) {
            return None;
        }
        let Slot::Live(event) = std::mem::replace(&mut self.slots[i].slot, Slot::Cancelled) else {
            // Not live: put back what was there (a cancelled slot stays cancelled).
            return None;
        };
        self.dead += 1;
        self.shed_dead_root();
        if self.dead >= MIN_DEAD_TO_COMPACT && self.dead * 2 > self.len + self.run_len() + self.parked_len {
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
                let held = &mut self.slots[slot as usize];
                held.seq = key.seq;
                held.slot = Slot::Live(event);
                // The slots the next inserts take were freed a burst of events
                // ago: ask for one a few inserts ahead, to write it.
                if let Some(&next) = self.free.len().checked_sub(WRITE_AHEAD).map(|i| &self.free[i]) {
                    prefetch_write(&self.slots[next as usize]);
                }
                slot
            }
            None => {
                let slot = u32::try_from(self.slots.len()).expect("fewer than 2^32 pending events");
                self.slots.push(Held { seq: key.seq, generation: 0, slot: Slot::Live(event) });
                slot
            }
        };
        let entry = Entry::new(key.time, key.source, slot);
        let bucket = bucket_of(key.time);
        if self.len == 0 && self.run_len() == 0 {
            // Nothing is pending (an empty heap and run mean nothing is
            // parked): this event's bucket is the one being read now.
            self.heaped = bucket;
        }
        if bucket <= self.heaped {
            self.push(entry);
        } else {
            let spare = &mut self.spare;
            self.parked.entry(bucket).or_insert_with(|| spare.pop().unwrap_or_default()).push(entry);
            self.parked_len += 1;
        }
        slot
    }

    /// Puts `entry` in the heap.
    fn push(&mut self, entry: Entry) {
        let at = self.len;
        self.len += 1;
        if (at + ROOT_AT) / ARITY >= self.heap.len() {
            self.heap.push(Line::EMPTY);
        }
        self.sift_up(at, entry);
    }

    /// Events of the run not yet popped.
    #[inline]
    fn run_len(&self) -> usize {
        self.run.len() - self.run_at
    }

    /// Sorts the earliest parked bucket into the run, if the run and the heap ran dry.
    fn refill(&mut self) {
        if self.len > 0 || self.run_len() > 0 {
            return;
        }
        let Some((bucket, mut entries)) = self.parked.pop_first() else { return };
        self.heaped = bucket;
        self.parked_len -= entries.len();
        let slots = &self.slots;
        entries.sort_unstable_by(|&a, &b| order(slots, a, b));
        let mut old = std::mem::replace(&mut self.run, entries);
        old.clear();
        self.spare.push(old);
        self.run_at = 0;
        for entry in self.run.iter().take(READ_AHEAD) {
            prefetch(&self.slots[entry.slot()]);
        }
    }

    /// Whether the next event is the run's head (rather than the heap's root).
    #[inline]
    fn next_in_run(&self) -> bool {
        self.run_at < self.run.len() && (self.len == 0 || self.before(self.run[self.run_at], self.at(0)))
    }

    /// Removes and returns the earliest event.
    pub fn pop(&mut self) -> Option<(EventKey, E)> {
        let entry = if self.next_in_run() {
            let entry = self.run[self.run_at];
            self.run_at += 1;
            // Slots were written long ago, by a bucket's worth of events:
            // ask for one a few events ahead, so that it has arrived by the
            // time it is the next event and looked at ahead ([`EventQueue::peek`]).
            if let Some(ahead) = self.run.get(self.run_at + READ_AHEAD - 1) {
                prefetch(&self.slots[ahead.slot()]);
            }
            entry
        } else {
            let entry = self.remove_root()?;
            // As for the run, the heap's next but one: one of the root's children.
            if self.len > 1 {
                let second = self.least_child(1, self.len);
                prefetch(&self.slots[self.at(second).slot()]);
            }
            entry
        };
        self.refill();
        let key = self.key(entry);
        let event = match self.release(entry.slot()) {
            Slot::Live(event) => event,
            // The heads are never cancelled (see `shed_dead_root`), nor free.
            Slot::Cancelled | Slot::Free => unreachable!("a cancelled or free slot at the queue's head"),
        };
        self.shed_dead_root();
        Some((key, event))
    }

    /// The entry of the earliest event, if any.
    #[inline]
    fn head(&self) -> Option<Entry> {
        if self.next_in_run() { Some(self.run[self.run_at]) } else { (self.len > 0).then(|| self.at(0)) }
    }

    /// The earliest event, without removing it: what the next
    /// [`EventQueue::pop`] returns, for a caller that prepares for it.
    pub fn peek(&self) -> Option<&E> {
        match &self.slots[self.head()?.slot()].slot {
            Slot::Live(event) => Some(event),
            Slot::Cancelled | Slot::Free => unreachable!("a cancelled or free slot at the queue's head"),
        }
    }

    /// Most likely the event after the next one: the sorted run's second
    /// pending event, unless the heap has an earlier one. A hint for a caller
    /// that prepares two events ahead, not a promise.
    pub fn peek_later(&self) -> Option<&E> {
        let entry = self.run.get(self.run_at + 1)?;
        match &self.slots[entry.slot()].slot {
            Slot::Live(event) => Some(event),
            Slot::Cancelled | Slot::Free => None,
        }
    }

    /// The key of the earliest event, without removing it.
    pub fn peek_key(&self) -> Option<EventKey> {
        self.head().map(|entry| self.key(entry))
    }

    /// How many events are pending (cancelled ones not counted).
    pub fn len(&self) -> usize {
        self.len + self.run_len() + self.parked_len - self.dead
    }

    /// Whether no event is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every pending event, in no particular order: for questions about all
    /// of them at once, whose answer must not depend on the order.
    pub fn pending(&self) -> impl Iterator<Item = &E> {
        self.slots.iter().filter_map(|held| match &held.slot {
            Slot::Live(event) => Some(event),
            Slot::Cancelled | Slot::Free => None,
        })
    }

    fn key(&self, entry: Entry) -> EventKey {
        EventKey { time: entry.time, source: entry.source(), seq: self.slots[entry.slot()].seq }
    }

    /// Whether `a` comes before `b` in the run's order. Time and source
    /// decide nearly always; only a tie of both reads the sequence numbers.
    #[inline]
    fn before(&self, a: Entry, b: Entry) -> bool {
        before(&self.slots, a, b)
    }

    /// Heap node `k`.
    #[inline]
    fn at(&self, k: usize) -> Entry {
        let p = k + ROOT_AT;
        self.heap[p / ARITY].0[p % ARITY]
    }

    #[inline]
    fn set(&mut self, k: usize, entry: Entry) {
        let p = k + ROOT_AT;
        self.heap[p / ARITY].0[p % ARITY] = entry;
    }

    /// Frees `slot`, returning what it held.
    fn release(&mut self, i: usize) -> Slot<E> {
        let held = &mut self.slots[i];
        held.generation = held.generation.wrapping_add(1);
        self.free.push(i as u32);
        std::mem::replace(&mut held.slot, Slot::Free)
    }

    /// Drops cancelled entries off the heap's root and the run's head until
    /// both are live (or empty).
    fn shed_dead_root(&mut self) {
        // Nothing cancelled is pending: the heads are live, and their slots
        // (cache misses in a big queue) need not be looked at.
        if self.dead == 0 {
            return;
        }
        loop {
            if let Some(&head) = self.run.get(self.run_at)
                && matches!(self.slots[head.slot()].slot, Slot::Cancelled)
            {
                self.run_at += 1;
                self.release(head.slot());
                self.dead -= 1;
            } else if self.len > 0 && matches!(self.slots[self.at(0).slot()].slot, Slot::Cancelled) {
                let entry = self.remove_root().expect("the heap has a root");
                self.release(entry.slot());
                self.dead -= 1;
            } else if self.len == 0 && self.run_len() == 0 && !self.parked.is_empty() {
                self.refill();
            } else {
                return;
            }
        }
    }

    /// Rebuilds the heap and the buckets without their cancelled entries.
    fn compact(&mut self) {
        let mut parked = std::mem::take(&mut self.parked);
        for entries in parked.values_mut() {
            entries.retain(|entry| {
                if matches!(self.slots[entry.slot()].slot, Slot::Cancelled) {
                    self.release(entry.slot());
                    false
                } else {
                    true
                }
            });
        }
        parked.retain(|_, entries| !entries.is_empty());
        self.parked_len = parked.values().map(Vec::len).sum();
        self.parked = parked;
        let mut run = std::mem::take(&mut self.run);
        let mut kept = 0;
        for k in self.run_at..run.len() {
            let entry = run[k];
            if matches!(self.slots[entry.slot()].slot, Slot::Cancelled) {
                self.release(entry.slot());
            } else {
                run[kept] = entry;
                kept += 1;
            }
        }
        run.truncate(kept);
        self.run = run;
        self.run_at = 0;
        let mut live = Vec::with_capacity(self.len);
        for k in 0..self.len {
            let entry = self.at(k);
            if matches!(self.slots[entry.slot()].slot, Slot::Cancelled) {
                self.release(entry.slot());
            } else {
                live.push(entry);
            }
        }
        self.dead = 0;
        self.len = live.len();
        for (k, &entry) in live.iter().enumerate() {
            self.set(k, entry);
        }
        self.heap.truncate((self.len + ROOT_AT) / ARITY + 1);
        for k in (0..self.len.div_ceil(ARITY)).rev() {
            self.sift_down(k);
        }
        self.refill();
    }

    /// Takes the root out. The hole it leaves goes down to a leaf along the
    /// lesser children, and the last entry fills it from there: it came from
    /// the bottom and nearly always belongs near it, so this compares less
    /// than sifting the last entry down from the root would.
    fn remove_root(&mut self) -> Option<Entry> {
        if self.len == 0 {
            return None;
        }
        let root = self.at(0);
        self.len -= 1;
        let len = self.len;
        if len == 0 {
            return Some(root);
        }
        let last = self.at(len);
        let mut hole = 0;
        loop {
            let first = ARITY * hole + 1;
            if first >= len {
                break;
            }
            let best = self.least_child(first, len);
            self.set(hole, self.at(best));
            hole = best;
        }
        self.sift_up(hole, last);
        Some(root)
    }

    /// The least of the children `first..` (at most [`ARITY`] of them, fewer
    /// at the end of a heap of `len`).
    #[inline(always)]
    fn least_child(&self, first: usize, len: usize) -> usize {
        if first + ARITY <= len {
            // All four: one line, and a tournament without branches on the keys.
            let line = &self.heap[(first + ROOT_AT) / ARITY].0;
            let a = usize::from(self.before(line[1], line[0]));
            let b = 2 + usize::from(self.before(line[3], line[2]));
            let best = if self.before(line[b], line[a]) { b } else { a };
            return first + best;
        }
        let mut best = first;
        let mut least = self.at(first);
        for child in first + 1..(first + ARITY).min(len) {
            let e = self.at(child);
            if self.before(e, least) {
                best = child;
                least = e;
            }
        }
        best
    }

    /// Puts `entry` at node `k` or above, where it belongs.
    fn sift_up(&mut self, mut k: usize, entry: Entry) {
        while k > 0 {
            let parent = (k - 1) / ARITY;
            let above = self.at(parent);
            if !self.before(entry, above) {
                break;
            }
            self.set(k, above);
            k = parent;
        }
        self.set(k, entry);
    }

    fn sift_down(&mut self, mut k: usize) {
        let len = self.len;
        let entry = self.at(k);
        loop {
            let first = ARITY * k + 1;
            if first >= len {
                break;
            }
            let best = self.least_child(first, len);
            let child = self.at(best);
            if !self.before(child, entry) {
                break;
            }
            self.set(k, child);
            k = best;
        }
        self.set(k, entry);
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
        check_against_model(1000);
    }

    /// The same, with a quarter of the events up to 40 buckets ahead: parked,
    /// heaped when their bucket comes, cancelled while parked.
    #[test]
    fn pops_the_least_pending_key_across_buckets() {
        check_against_model(40 * BUCKET_NANOS);
    }

    /// Schedules, cancels and pops at random, events up to `1000` ns ahead
    /// and a quarter of them up to `far`, checking every pop against a model.
    fn check_against_model(far: u64) {
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
            let time = SimTime::from_nanos(now + if r % 4 == 0 { r % far } else { r % 1000 });
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

    /// Events scheduled into the bucket being read, after it was sorted,
    /// pop among its sorted events where they belong, and cancelling the
    /// next event of the sorted run leaves the rest in order.
    #[test]
    fn late_events_interleave_with_a_sorted_bucket() {
        let mut q = EventQueue::new();
        let mut model = Vec::new();
        let at = |i: u64| SimTime::from_nanos(BUCKET_NANOS + i);
        q.schedule(SimTime::ZERO, NodeId(0), u64::MAX);
        let mut ids = Vec::new();
        // Parked: bucket 1, in scrambled time order, ties of time and source included.
        for i in 0..100u64 {
            let t = at((i * 37) % 50 * 10);
            let source = NodeId((i % 3) as u32);
            ids.push(q.schedule_cancellable(t, source, i));
            model.push((t, source, i));
        }
        assert_eq!(q.pop().map(|(_, e)| e), Some(u64::MAX));
        // Bucket 1 is being read now: these go beside its sorted run.
        for i in 100..150u64 {
            let t = at((i * 13) % 50 * 10 + 5 * (i % 2));
            let source = NodeId((i % 3) as u32);
            q.schedule(t, source, i);
            model.push((t, source, i));
        }
        // The run's head and a few behind it.
        model.sort();
        for _ in 0..3 {
            let pos = model.iter().position(|&(_, _, i)| i < 100).expect("a sorted event left");
            let (_, _, first) = model.remove(pos);
            assert_eq!(q.cancel(ids[first as usize]), Some(first));
        }
        for &(t, source, i) in &model {
            let (key, e) = q.pop().expect("an event per model entry");
            assert_eq!((key.time, key.source, e), (t, source, i));
        }
        assert!(q.is_empty());
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
