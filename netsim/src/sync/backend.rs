//! Where a run's sync states and topics are stored.
//!
//! The [`crate::Sim`] decides *when* a sync operation takes effect (its event,
//! after the configured latency) and who waits on it; a [`SyncBackend`] only
//! stores the counters and logs and answers synchronously while that event is
//! processed. Because the Sim calls the backend in event order and nothing else
//! does, every backend sees the same calls in the same order, and a run gives
//! the same trace digest whichever backend holds its state.
//!
//! The embedded backend is [`super::SyncService`]; the host adds one that keeps
//! the state in a Redis server.

use super::Ticket;
use std::sync::Arc;

/// A backend could not complete an operation, after whatever retries it makes.
///
/// This is not an answer to the plan: the run cannot go on consistently and
/// ends, with this message in the reason of every instance still waiting.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BackendError(pub String);

/// Storage for sync states (counters) and topics (append-only logs).
///
/// Writes carry the [`Ticket`] of the operation that causes them: tickets are
/// unique within a run, so a backend that retries a write whose reply it lost
/// can use the ticket to apply the write exactly once.
pub trait SyncBackend: Send {
    /// Increments `state` (created at 0) and returns its new count.
    fn increment(&mut self, op: Ticket, state: &str) -> Result<u64, BackendError>;

    /// The current count of `state`, 0 if it was never incremented.
    fn count(&mut self, state: &str) -> Result<u64, BackendError>;

    /// Appends `payload` to `topic` and returns its 1-based position.
    fn append(&mut self, op: Ticket, topic: &str, payload: &Arc<[u8]>) -> Result<u64, BackendError>;

    /// The message at 0-based `index` of `topic`, `None` if there is none.
    fn message(&mut self, topic: &str, index: u64) -> Result<Option<Arc<[u8]>>, BackendError>;

    /// Releases whatever the backend holds for this run (keys in a server, for
    /// example). Called once when the run ends, successful or not.
    fn close(&mut self) -> Result<(), BackendError> {
        Ok(())
    }

    /// What and where the backend is, for messages (e.g. `embedded`).
    fn describe(&self) -> String;
}
