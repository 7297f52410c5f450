//! Identities of the things that cause events.
//!
//! A [`NodeId`] is an instance's global sequence number. Events are ordered by
//! `(time, source node, per-source sequence)`, so every event needs a source:
//! instances are their own source, and work the simulation does on its own
//! behalf (the sync service, fault timelines) uses [`NodeId::SIM`].

use std::fmt;

/// An instance of the run, by global sequence number (0-based), or the simulation itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct NodeId(pub u32);

impl NodeId {
    /// The simulation acting on its own behalf. Orders after every instance.
    pub const SIM: NodeId = NodeId(u32::MAX);

    /// The node's index, for tables indexed by instance.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == NodeId::SIM { f.write_str("sim") } else { write!(f, "{}", self.0) }
    }
}
