//! The run's trace: every simulated event, folded into a digest.
//!
//! Each event is `(time, node, kind, detail)`. The digest is SHA-256 over a
//! length-prefixed little-endian encoding of those fields, so it is stable across
//! platforms, Rust versions and crate upgrades (unlike `std`'s `DefaultHasher`).
//! Keeping the records themselves is optional: a run that only needs the digest
//! pays for hashing, not for memory. The trace does not decide what is an event;
//! the simulation and the host record what happens.

use crate::node::NodeId;
use crate::time::SimTime;
use sha2::{Digest, Sha256};
use std::fmt::{self, Write as _};

/// One recorded event.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TraceRecord {
    /// Virtual time in nanoseconds.
    pub t: u64,
    /// The instance the event belongs to; `None` for the simulation itself.
    pub node: Option<u32>,
    /// What happened, e.g. `sync.signal`, `timer`, `instance.end`.
    pub kind: String,
    /// The event's fields, as text.
    pub detail: String,
}

impl fmt::Display for TraceRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let node = self.node.map_or_else(|| "sim".to_string(), |n| n.to_string());
        write!(f, "{} node={} {} {}", SimTime::from_nanos(self.t), node, self.kind, self.detail)
    }
}

/// Accumulates the trace digest and, if asked, the records.
///
/// ```
/// use netsim::{NodeId, SimTime, Trace};
/// let mut a = Trace::new(false);
/// let mut b = Trace::new(false);
/// a.record(SimTime::ZERO, NodeId(1), "sync.signal", format_args!("state=ready seq=1"));
/// b.record(SimTime::ZERO, NodeId(1), "sync.signal", format_args!("state=ready seq=1"));
/// assert_eq!(a.digest_hex(), b.digest_hex());
/// b.record(SimTime::ZERO, NodeId(2), "sync.signal", format_args!("state=ready seq=2"));
/// assert_ne!(a.digest_hex(), b.digest_hex());
/// ```
pub struct Trace {
    hasher: Sha256,
    events: u64,
    records: Option<Vec<TraceRecord>>,
    scratch: String,
}

impl Trace {
    /// A new trace; `keep_records` keeps every record for writing out later.
    pub fn new(keep_records: bool) -> Trace {
        Trace { hasher: Sha256::new(), events: 0, records: keep_records.then(Vec::new), scratch: String::new() }
    }

    /// Records one event.
    pub fn record(&mut self, time: SimTime, node: NodeId, kind: &str, detail: fmt::Arguments<'_>) {
        self.scratch.clear();
        // Writing into a String cannot fail.
        let _ = self.scratch.write_fmt(detail);
        self.hasher.update(time.as_nanos().to_le_bytes());
        self.hasher.update(node.0.to_le_bytes());
        self.hasher.update((kind.len() as u64).to_le_bytes());
        self.hasher.update(kind.as_bytes());
        self.hasher.update((self.scratch.len() as u64).to_le_bytes());
        self.hasher.update(self.scratch.as_bytes());
        self.events += 1;
        if let Some(records) = &mut self.records {
            records.push(TraceRecord {
                t: time.as_nanos(),
                node: (node != NodeId::SIM).then_some(node.0),
                kind: kind.to_string(),
                detail: self.scratch.clone(),
            });
        }
    }

    /// How many events have been recorded.
    pub fn len(&self) -> u64 {
        self.events
    }

    /// Whether nothing has been recorded.
    pub fn is_empty(&self) -> bool {
        self.events == 0
    }

    /// The digest of everything recorded so far, as 64 hex digits.
    pub fn digest_hex(&self) -> String {
        let digest = self.hasher.clone().finalize();
        digest.iter().fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }

    /// The kept records, if the trace was created to keep them.
    pub fn records(&self) -> Option<&[TraceRecord]> {
        self.records.as_deref()
    }

    /// Takes the kept records out of the trace.
    pub fn take_records(&mut self) -> Option<Vec<TraceRecord>> {
        self.records.as_mut().map(std::mem::take)
    }
}

/// The first place where two traces differ.
#[derive(Debug, PartialEq, Eq)]
pub struct Divergence {
    /// Index of the first differing record.
    pub index: usize,
    /// The record of the first trace there, `None` if it ended first.
    pub left: Option<TraceRecord>,
    /// The record of the second trace there, `None` if it ended first.
    pub right: Option<TraceRecord>,
}

/// Finds the first record where `a` and `b` differ, `None` if they are equal.
pub fn first_divergence(a: &[TraceRecord], b: &[TraceRecord]) -> Option<Divergence> {
    let index = a.iter().zip(b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
    if index == a.len() && index == b.len() {
        return None;
    }
    Some(Divergence { index, left: a.get(index).cloned(), right: b.get(index).cloned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(t: u64, kind: &str) -> TraceRecord {
        TraceRecord { t, node: Some(0), kind: kind.into(), detail: String::new() }
    }

    #[test]
    fn digest_depends_on_every_field() {
        let base = |t: &mut Trace| t.record(SimTime::from_nanos(1), NodeId(2), "k", format_args!("d"));
        let mut a = Trace::new(false);
        base(&mut a);
        let variants: [&dyn Fn(&mut Trace); 4] = [
            &|t| t.record(SimTime::from_nanos(2), NodeId(2), "k", format_args!("d")),
            &|t| t.record(SimTime::from_nanos(1), NodeId(3), "k", format_args!("d")),
            &|t| t.record(SimTime::from_nanos(1), NodeId(2), "kd", format_args!("")),
            &|t| t.record(SimTime::from_nanos(1), NodeId(2), "k", format_args!("e")),
        ];
        for v in variants {
            let mut b = Trace::new(false);
            v(&mut b);
            assert_ne!(a.digest_hex(), b.digest_hex());
        }
    }

    #[test]
    fn divergence_finds_first_difference_and_length_mismatch() {
        let a = vec![rec(1, "x"), rec(2, "y")];
        let b = vec![rec(1, "x"), rec(2, "z")];
        assert_eq!(first_divergence(&a, &b).unwrap().index, 1);
        assert_eq!(first_divergence(&a, &a), None);
        let d = first_divergence(&a, &a[..1]).unwrap();
        assert_eq!((d.index, d.right), (1, None));
    }
}
