//! How much a run's plans may make the simulation hold, beyond what each
//! instance holds in its own memory: the bounds that keep a misbehaving plan
//! from growing the host's memory without end.
//!
//! Each limit is a function of what the plans did, checked where the
//! simulation applies it, never of timing or of the host's memory: a run that
//! hits one hits it at the same event every time, split or whole, so digests
//! stay stable. The sync limits are checked where operations arrive at the
//! (replicated) sync service, in the run's one order; the socket limit is per
//! instance. What a caller tells the plan, and how a user raises a limit, is the
//! host's business.

/// The limits in force for one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limits {
    /// Payload bytes all topics of the run may hold together. Every message is
    /// kept for the whole run, since a subscriber reads a topic from its first
    /// message (Testground's semantics), and a split run keeps it on every worker.
    pub topic_bytes: u64,
    /// Distinct state and topic names the run may use. Each costs a key of up
    /// to [`crate::sync::MAX_NAME_BYTES`] in several tables, and a row of the report.
    pub sync_names: u64,
    /// Sockets one instance may have open at once. A TCP connection buffers up
    /// to [`crate::net::tcp::SEND_BUFFER`] + [`crate::net::tcp::RECV_BUFFER`] bytes, so
    /// this bounds what an instance's sockets can hold. As on Linux, connections
    /// waiting to be accepted, and closed ones still finishing, do not count;
    /// as many of each may exist, so the sockets of an instance are at most
    /// three times this many.
    pub sockets_per_node: u32,
}

/// The default payload bytes per run: 256 MiB, 64 of the largest payloads
/// ([`crate::sync::MAX_PAYLOAD_BYTES`]) or a quarter of a million 1 KiB messages,
/// far beyond what coordination needs (a thousand-instance pub/sub storm
/// publishes under 1 MiB), small enough to fit beside the instances.
pub const DEFAULT_TOPIC_BYTES: u64 = 256 << 20;

/// The default number of distinct sync names per run: 65,536, room for a
/// state per instance in runs of tens of thousands; 64 MiB of names at most.
pub const DEFAULT_SYNC_NAMES: u64 = 65_536;

/// The default sockets per instance: 1024, Linux's default `ulimit -n`, what
/// programs ported from Linux are used to; 512 MiB of TCP buffers at most.
pub const DEFAULT_SOCKETS_PER_NODE: u32 = 1024;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            topic_bytes: DEFAULT_TOPIC_BYTES,
            sync_names: DEFAULT_SYNC_NAMES,
            sockets_per_node: DEFAULT_SOCKETS_PER_NODE,
        }
    }
}

/// A limit of [`Limits`] an operation would pass, with the value in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum LimitReached {
    /// [`Limits::topic_bytes`].
    TopicBytes(u64),
    /// [`Limits::sync_names`].
    SyncNames(u64),
}

impl std::fmt::Display for LimitReached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LimitReached::TopicBytes(n) => write!(f, "the run's topics would hold more than {n} payload bytes"),
            LimitReached::SyncNames(n) => {
                write!(f, "the run would use more than {n} distinct sync state and topic names")
            }
        }
    }
}
