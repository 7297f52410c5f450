//! The sync service: states, barriers and topics.
//!
//! Testground's sync service has two primitives: *states*, counters that
//! instances increment (`signal-entry`) and wait on (`barrier`), and *topics*,
//! append-only logs that every subscriber reads from the first message in
//! publish order. Where the counters and logs live is a [`SyncBackend`];
//! [`SyncService`] is the embedded one, in memory. It knows nothing of time,
//! wakers or wasm: [`crate::Sim`] turns each operation into events with the
//! configured latency, keeps the barrier waiters and wakes whoever waits.

mod backend;
mod op;
mod state;
mod timeline;
mod topic;

pub use backend::{BackendError, SyncBackend};
pub use op::SyncOp;
pub use state::{BarrierWaiter, BarrierWaiters};
pub use timeline::{StateMark, StateMarkKind, StateTimeline};
pub use topic::Topic;

use crate::node::NodeId;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Largest payload one `publish` accepts. Bounded so that one misbehaving
/// instance cannot grow the host's memory without limit.
pub const MAX_PAYLOAD_BYTES: usize = 4 << 20;

/// Longest state or topic name accepted, in bytes.
pub const MAX_NAME_BYTES: usize = 1024;

/// Why the sync service refused an operation.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
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
    /// The operation would pass one of the run's [`crate::Limits`].
    #[error("{0}")]
    LimitReached(crate::LimitReached),
}

/// Identifies one pending operation of one instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Ticket {
    /// The instance that issued the operation.
    pub node: NodeId,
    /// How many operations that instance issued before.
    pub n: u64,
}

/// The embedded backend: states and topics of one run, in memory.
#[derive(Default)]
pub struct SyncService {
    states: BTreeMap<String, u64>,
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

    /// Increments `state` and returns its new count (1-based).
    pub fn signal_entry(&mut self, state: &str) -> u64 {
        let count = self.states.entry(state.to_string()).or_default();
        *count += 1;
        *count
    }

    /// The current count of `state` (0 if never signalled).
    pub fn count(&self, state: &str) -> u64 {
        self.states.get(state).copied().unwrap_or(0)
    }

    /// Appends a message to `topic` and returns its 1-based position.
    pub fn publish(&mut self, topic: &str, payload: Arc<[u8]>) -> u64 {
        self.topics.entry(topic.to_string()).or_default().append(payload)
    }

    /// The topic, if anything was ever published on it.
    pub fn topic(&self, topic: &str) -> Option<&Topic> {
        self.topics.get(topic)
    }

    /// All states with their counts, in name order.
    pub fn states(&self) -> impl Iterator<Item = (&str, u64)> {
        self.states.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// All topics, in name order.
    pub fn topics(&self) -> impl Iterator<Item = (&str, &Topic)> {
        self.topics.iter().map(|(k, v)| (k.as_str(), v))
    }
}

impl SyncBackend for SyncService {
    fn increment(&mut self, _op: Ticket, state: &str) -> Result<u64, BackendError> {
        Ok(self.signal_entry(state))
    }

    fn count(&mut self, state: &str) -> Result<u64, BackendError> {
        Ok(SyncService::count(self, state))
    }

    fn append(&mut self, _op: Ticket, topic: &str, payload: &Arc<[u8]>) -> Result<u64, BackendError> {
        Ok(self.publish(topic, payload.clone()))
    }

    fn message(&mut self, topic: &str, index: u64) -> Result<Option<Arc<[u8]>>, BackendError> {
        let index = usize::try_from(index).unwrap_or(usize::MAX);
        Ok(self.topic(topic).and_then(|t| t.get(index)).cloned())
    }

    fn describe(&self) -> String {
        "embedded".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(node: u32, n: u64) -> Ticket {
        Ticket { node: NodeId(node), n }
    }

    #[test]
    fn barrier_waiters_release_exactly_at_target() {
        let mut w = BarrierWaiters::default();
        w.wait("ready", BarrierWaiter { ticket: t(0, 0), target: 3 });
        w.wait("ready", BarrierWaiter { ticket: t(1, 0), target: 2 });
        assert!(w.release("ready", 1).is_empty());
        let released = w.release("ready", 2);
        assert_eq!(released.iter().map(|w| w.ticket).collect::<Vec<_>>(), vec![t(1, 0)]);
        let released = w.release("ready", 3);
        assert_eq!(released.iter().map(|w| w.ticket).collect::<Vec<_>>(), vec![t(0, 0)]);
        assert!(w.waiting("ready").is_empty());
    }

    #[test]
    fn counts_start_at_zero_and_increment() {
        let mut s = SyncService::new();
        assert_eq!(SyncBackend::count(&mut s, "ready"), Ok(0));
        for i in 1..=3 {
            assert_eq!(s.increment(t(0, i), "ready"), Ok(i));
        }
        assert_eq!(s.states().collect::<Vec<_>>(), vec![("ready", 3)]);
    }

    #[test]
    fn topics_keep_publish_order() {
        let mut s = SyncService::new();
        for i in 0..5u8 {
            let seq = s.append(t(u32::from(i), 0), "t", &Arc::from(vec![i])).unwrap();
            assert_eq!(seq, u64::from(i) + 1);
        }
        let got: Vec<u8> = (0..5).map(|i| s.message("t", i).unwrap().unwrap()[0]).collect();
        assert_eq!(got, vec![0, 1, 2, 3, 4]);
        assert_eq!(s.message("t", 5), Ok(None));
        assert_eq!(s.message("none", 0), Ok(None));
    }

    #[test]
    fn names_are_validated() {
        assert!(validate_name("state", "").is_err());
        assert!(validate_name("state", &"x".repeat(MAX_NAME_BYTES + 1)).is_err());
        assert!(validate_name("state", "ok").is_ok());
    }
}
