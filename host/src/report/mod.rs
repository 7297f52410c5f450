//! How a run is shown to people: `report.html`, JUnit XML, the live
//! progress line on a terminal, and how diagnostics read there.
//!
//! - [`console`]: the one-line `warning: …` format of diagnostics.
//! - [`html`]: `report.html`, self-contained, plots drawn as inline SVG.
//! - [`junit`]: JUnit XML for CI reporters, a test case per group.
//! - [`progress`]: the terminal line that shows a run while it executes.
//!
//! Everything here renders what a run produced, from the run's own types and
//! the views of its files; nothing feeds back into the simulation, and
//! nothing here writes files: the run directory is [`crate::outputs`]'s.

pub mod console;
pub mod html;
pub mod junit;
pub mod progress;

use serde::{Deserialize, Serialize};

/// One line of `outcomes.jsonl`: how one instance ended, and when.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct OutcomeLine {
    /// Global seq.
    pub instance: u32,
    /// Its group.
    pub group: String,
    /// How it ended.
    pub outcome: crate::run::Outcome,
    /// Why, for every outcome but `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Virtual time it ended at, ns.
    pub at_ns: u64,
    /// Fuel it burned, of its budget (`--fuel`); 0 in directories written before it was counted.
    #[serde(default)]
    pub fuel_used: u64,
}

/// One line of `states.jsonl`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct StateLine {
    /// Virtual time, ns.
    pub t_ns: u64,
    /// State name.
    pub state: String,
    /// `signal` or `barrier-pass`.
    pub kind: String,
    /// See the module docs.
    pub count: u64,
}

impl From<&netsim::StateMark> for StateLine {
    fn from(m: &netsim::StateMark) -> StateLine {
        StateLine { t_ns: m.at.as_nanos(), state: m.state.clone(), kind: m.kind.as_str().to_string(), count: m.count }
    }
}
