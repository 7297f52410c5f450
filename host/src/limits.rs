//! What a plan may make tg-wasm hold beyond its own linear memory
//! (`--memory-limit`) and CPU (`--fuel`): published messages, sync names,
//! sockets and recorded messages. Without these a misbehaving plan could grow
//! the host's memory without bound; each is named and justified here, enforced
//! where it bites, and raised by the option its message names.
//!
//! Every limit is a function of what the plans did — never of timing or of
//! the host's memory — so a run that hits one hits it at the same event each
//! time, split or whole, and its digest stays stable. They are inputs of the
//! run, recorded in `run.json`, so a replay holds the plan to the same ones.
//! The sync and socket limits are netsim's to enforce ([`netsim::Limits`]);
//! the message limit is the `tg:plan/runenv` host's.

use serde::{Deserialize, Serialize};

/// The default bytes of `record-message` text per instance: 16 MiB, as much
/// as each of its captured output streams keeps.
pub const DEFAULT_MESSAGE_BYTES: u64 = 16 << 20;

/// The limits of one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HostLimits {
    /// Payload bytes all topics of the run may hold together (`--max-topic-bytes`).
    pub topic_bytes: u64,
    /// Distinct sync state and topic names of the run (`--max-sync-names`).
    pub sync_names: u64,
    /// Sockets one instance may have open at once (`--max-sockets`).
    pub sockets: u32,
    /// Bytes of `record-message` text one instance may record (`--max-message-bytes`).
    pub message_bytes: u64,
}

impl Default for HostLimits {
    fn default() -> Self {
        let sim = netsim::Limits::default();
        HostLimits {
            topic_bytes: sim.topic_bytes,
            sync_names: sim.sync_names,
            sockets: sim.sockets_per_node,
            message_bytes: DEFAULT_MESSAGE_BYTES,
        }
    }
}

impl HostLimits {
    /// The part of the limits the simulation enforces.
    pub fn sim(&self) -> netsim::Limits {
        netsim::Limits { topic_bytes: self.topic_bytes, sync_names: self.sync_names, sockets_per_node: self.sockets }
    }
}

/// A sync limit the simulation refused an operation for, as the plan reads it:
/// which limit, and how to raise it.
pub fn explain(limit: netsim::LimitReached) -> String {
    let option = match limit {
        netsim::LimitReached::TopicBytes(_) => "--max-topic-bytes",
        netsim::LimitReached::SyncNames(_) => "--max-sync-names",
    };
    format!("{limit}, tg-wasm's limit per run (raise it with {option})")
}

/// What the instance is told, appended to its failure, when it was refused a
/// socket for the limit.
pub fn socket_limit_note(limit: u32) -> String {
    format!(
        "this instance was refused a socket (new-socket-limit) at tg-wasm's limit of {limit} open sockets per \
         instance (raise it with --max-sockets)"
    )
}

/// An instance passed a limit that ends it: the error its store traps with,
/// classified as the instance's crash reason.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LimitExceeded(pub String);
