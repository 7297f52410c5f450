//! The operations instances ask of the sync service.

use std::sync::Arc;

/// An operation on the sync service.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum SyncOp {
    /// Increment a state; replies with the new count.
    SignalEntry { state: String },
    /// Wait until a state reaches `target`; replies with 0.
    Barrier { state: String, target: u64 },
    /// Increment, then wait; replies with the count the increment produced.
    SignalAndWait { state: String, target: u64 },
    /// Append to a topic; replies with the message's 1-based position.
    Publish { topic: String, payload: Arc<[u8]> },
}
