//! The embedded sync service, as a state machine.
//!
//! Testground's sync service has two primitives: *states*, counters that
//! instances increment (`signal-entry`) and wait on (`barrier`), and *topics*,
//! append-only logs that every subscriber reads from the first message in
//! publish order. [`SyncService`] holds both and answers operations
//! immediately; it knows nothing of time, wakers or wasm. [`crate::Sim`] turns
//! each operation into events with the configured latency and wakes whoever
//! waits.

mod state;
mod timeline;
mod topic;

pub use state::{BarrierWaiter, StateCounter};
pub use timeline::{StateMark, StateMarkKind, StateTimeline};
pub use topic::{Message, Topic};

use crate::node::NodeId;
use crate::time::SimTime;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Largest payload one `publish` accepts. Bounded so that one misbehaving
/// instance cannot grow the host's memory without limit.
pub const MAX_PAYLOAD_BYTES: usize = 4 << 20;

/// Longest state or topic name accepted, in bytes.
pub const MAX_NAME_BYTES: usize = 1024;

/// Why the sync service refused an operation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// An argument is out of range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The payload exceeds [`MAX_PAYLOAD_BYTES`].
    #[error("payload too large: the limit is {0} bytes")]
    PayloadTooLarge(u64),
    /// The run is ending.
    #[error("the sync service is closed")]
    Closed,
}

/// Identifies one pending operation of one instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ticket {
    /// The instance that issued the operation.
    pub node: NodeId,
    /// How many operations that instance issued before.
    pub n: u64,
}

/// States and topics of one run.
#[derive(Default)]
pub struct SyncService {
    states: BTreeMap<String, StateCounter>,
    topics: BTreeMap<String, Topic>,
}

/// Checks a state or topic name.
pub fn validate_name(what: &str, name: &str) -> Result<(), SyncError> {
    if name.is_empty() {
        return Err(SyncError::InvalidArgument(format!("{what} name is empty")));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(SyncError::InvalidArgument(format!(
            "{what} name is {} bytes; the limit is {MAX_NAME_BYTES}",
            name.len()
        )));
    }
    Ok(())
}

impl SyncService {
    /// An empty service.
    pub fn new() -> SyncService {
        SyncService::default()
    }

    /// Increments `state` and returns its new count (1-based) and the barrier
    /// waiters this released, in the order they started waiting.
    pub fn signal_entry(&mut self, state: &str) -> (u64, Vec<BarrierWaiter>) {
        let counter = self.states.entry(state.to_string()).or_default();
        let count = counter.increment();
        (count, counter.take_released())
    }

    /// Registers a barrier on `state` for `target`. Returns `true` if it is already
    /// satisfied; otherwise `waiter` is kept until a signal reaches the target.
    pub fn barrier(&mut self, state: &str, target: u64, waiter: Ticket) -> bool {
        let counter = self.states.entry(state.to_string()).or_default();
        if counter.count() >= target {
            return true;
        }
        counter.wait(BarrierWaiter { ticket: waiter, target });
        false
    }

    /// The current count of `state` (0 if never signalled).
    pub fn count(&self, state: &str) -> u64 {
        self.states.get(state).map_or(0, StateCounter::count)
    }

    /// Appends a message to `topic`, visible to subscribers from `visible_at`.
    /// Returns its 1-based position.
    pub fn publish(&mut self, topic: &str, payload: Arc<[u8]>, publisher: NodeId, visible_at: SimTime) -> u64 {
        self.topics.entry(topic.to_string()).or_default().append(Message { payload, publisher, visible_at })
    }

    /// The topic, if anything was ever published on it.
    pub fn topic(&self, topic: &str) -> Option<&Topic> {
        self.topics.get(topic)
    }

    /// All states with their counts and waiters, in name order.
    pub fn states(&self) -> impl Iterator<Item = (&str, &StateCounter)> {
        self.states.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// All topics, in name order.
    pub fn topics(&self) -> impl Iterator<Item = (&str, &Topic)> {
        self.topics.iter().map(|(k, v)| (k.as_str(), v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(node: u32, n: u64) -> Ticket {
        Ticket { node: NodeId(node), n }
    }

    #[test]
    fn barrier_releases_exactly_at_target() {
        let mut s = SyncService::new();
        assert!(!s.barrier("ready", 3, t(0, 0)));
        assert!(!s.barrier("ready", 2, t(1, 0)));
        assert_eq!(s.signal_entry("ready"), (1, vec![]));
        let (count, released) = s.signal_entry("ready");
        assert_eq!(count, 2);
        assert_eq!(released.iter().map(|w| w.ticket).collect::<Vec<_>>(), vec![t(1, 0)]);
        let (_, released) = s.signal_entry("ready");
        assert_eq!(released.iter().map(|w| w.ticket).collect::<Vec<_>>(), vec![t(0, 0)]);
        assert!(s.barrier("ready", 3, t(2, 0)), "an already reached target passes at once");
        assert!(s.barrier("other", 0, t(2, 1)), "target 0 passes at once");
    }

    #[test]
    fn barrier_never_reached_keeps_waiting() {
        let mut s = SyncService::new();
        assert!(!s.barrier("never", 5, t(0, 0)));
        for _ in 0..4 {
            assert!(s.signal_entry("never").1.is_empty());
        }
        let (_, counter) = s.states().next().unwrap();
        assert_eq!(counter.waiters().len(), 1);
    }

    #[test]
    fn topics_keep_publish_order() {
        let mut s = SyncService::new();
        for i in 0..5u8 {
            let seq = s.publish("t", Arc::from(vec![i]), NodeId(u32::from(i)), SimTime::ZERO);
            assert_eq!(seq, u64::from(i) + 1);
        }
        let topic = s.topic("t").unwrap();
        let got: Vec<u8> = (0..5).map(|i| topic.get(i).unwrap().payload[0]).collect();
        assert_eq!(got, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn names_are_validated() {
        assert!(validate_name("state", "").is_err());
        assert!(validate_name("state", &"x".repeat(MAX_NAME_BYTES + 1)).is_err());
        assert!(validate_name("state", "ok").is_ok());
    }
}
