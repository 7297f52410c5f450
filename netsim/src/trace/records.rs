//! The records a trace keeps for `trace.jsonl` (`--trace`): each record's
//! encoding — the bytes its node's hash took in — end to end in one buffer.
//!
//! A run with `--trace` keeps every record until it ends, millions of them.
//! As a [`TraceRecord`] each cost two small allocations (kind and detail)
//! beside its 64 bytes, about 160 bytes in all; here a record costs its
//! encoding (14 bytes of header, more only for a text of 128 bytes or
//! more, then the kind and the detail) and where it
//! starts, and keeping it costs a copy. Putting records in run order moves
//! only where they start. A record becomes a [`TraceRecord`] only when it is
//! read, one at a time.
//!
//! Owns: the kept records, their run order and their transport between the
//! shards of a split run. Does not own: the encoding (the trace's) or which
//! records are kept (the trace's scope).

use super::TraceRecord;
use crate::node::NodeId;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::ops::Range;

/// Kept records, in the order they were kept or, after [`Records::sort`], in
/// run order. Two collections are equal when they hold the same records in
/// the same order, however their bytes are laid out.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(try_from = "Unchecked")]
pub struct Records {
    /// The records' encodings, end to end, in the order they were kept.
    bytes: Vec<u8>,
    /// Where each record starts in `bytes`, in this collection's order; its
    /// length is in its header.
    starts: Vec<u64>,
}

/// A record as read from [`Records`]: its text borrowed where it can be.
/// Serialized, it is the [`TraceRecord`] it stands for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RecordView<'a> {
    /// Virtual time in nanoseconds.
    pub t: u64,
    /// The instance; `None` for the simulation itself.
    pub node: Option<u32>,
    /// What happened.
    pub kind: Cow<'a, str>,
    /// The event's fields, as text.
    pub detail: Cow<'a, str>,
}

impl RecordView<'_> {
    /// The record, owning its text.
    pub fn to_record(&self) -> TraceRecord {
        TraceRecord { t: self.t, node: self.node, kind: self.kind.to_string(), detail: self.detail.to_string() }
    }
}

impl PartialEq for Records {
    fn eq(&self, other: &Records) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Records {}

/// Bytes before a record's kind's length: `t` and `node`.
const LENGTHS_AT: usize = 8 + 4;

impl Records {
    /// Keeps one record, as the trace encoded it.
    pub(crate) fn push(&mut self, encoded: &[u8]) {
        self.starts.push(self.bytes.len() as u64);
        self.bytes.extend_from_slice(encoded);
    }

    /// How many records are kept.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    fn encoded(&self, i: usize) -> &[u8] {
        let start = self.starts[i] as usize;
        let len = whole_len(&self.bytes[start..]).expect("a kept record is whole");
        &self.bytes[start..start + len]
    }

    /// Record `i`, `None` past the last.
    pub fn get(&self, i: usize) -> Option<RecordView<'_>> {
        (i < self.len()).then(|| view(self.encoded(i)))
    }

    /// Every record, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = RecordView<'_>> + '_ {
        (0..self.len()).map(|i| view(self.encoded(i)))
    }

    /// Every record, owning its text, in order: what a comparison with records read from a file takes.
    pub fn to_records(&self) -> impl Iterator<Item = TraceRecord> + '_ {
        self.iter().map(|r| r.to_record())
    }

    /// Appends `other`'s records after these.
    pub fn append(&mut self, other: Records) {
        let base = self.bytes.len() as u64;
        self.bytes.extend_from_slice(&other.bytes);
        self.starts.extend(other.starts.iter().map(|start| base + start));
    }

    /// Puts the records in run order: by time, then node (the simulation
    /// last), each node's records in the order it made them. Only this order
    /// is the same however the run was split.
    pub fn sort(&mut self) {
        let mut keyed: Vec<(u64, u32, u64)> = self
            .starts
            .iter()
            .map(|&start| {
                let r = &self.bytes[start as usize..];
                let t = u64::from_le_bytes(r[..8].try_into().expect("8 bytes"));
                let node = u32::from_le_bytes(r[8..12].try_into().expect("4 bytes"));
                (t, node, start)
            })
            .collect();
        // A node's records at one instant keep the order it made them in:
        // they were kept in that order (one node's records come from one
        // shard), so where they start orders them.
        keyed.sort_unstable();
        self.starts.clear();
        self.starts.extend(keyed.into_iter().map(|(_, _, start)| start));
    }
}

/// The record encoded in `bytes` (see `encode`), which holds it whole:
/// text that is not UTF-8, which only a damaged transfer could make, is
/// replaced, not trusted.
fn view(bytes: &[u8]) -> RecordView<'_> {
    let (kind, detail) = parts(bytes).expect("a kept record is whole");
    let node = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    RecordView {
        t: u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")),
        node: (node != NodeId::SIM.0).then_some(node),
        kind: String::from_utf8_lossy(&bytes[kind]),
        detail: String::from_utf8_lossy(&bytes[detail]),
    }
}

/// Where the kind and the detail of the record `bytes` starts with are;
/// `None` if `bytes` ends first.
fn parts(bytes: &[u8]) -> Option<(Range<usize>, Range<usize>)> {
    // A length, and the text after it: where the text is.
    let text_at = |at: usize| -> Option<Range<usize>> {
        let (len, width) = super::leb128::get(bytes.get(at..)?)?;
        let start = at.checked_add(width)?;
        let end = start.checked_add(usize::try_from(len).ok()?)?;
        (end <= bytes.len()).then_some(start..end)
    };
    let kind = text_at(LENGTHS_AT)?;
    let detail = text_at(kind.end)?;
    Some((kind, detail))
}

/// Records as another process sent them, before they are checked.
#[derive(Deserialize)]
struct Unchecked {
    bytes: Vec<u8>,
    starts: Vec<u64>,
}

impl TryFrom<Unchecked> for Records {
    type Error = String;

    /// Every record must be a whole encoding, so that reading one cannot go
    /// out of bounds.
    fn try_from(raw: Unchecked) -> Result<Records, String> {
        for (i, &start) in raw.starts.iter().enumerate() {
            let whole = usize::try_from(start).ok().and_then(|at| raw.bytes.get(at..)).and_then(whole_len);
            if whole.is_none() {
                return Err(format!("trace record {i} (at byte {start} of {}) is not a whole record", raw.bytes.len()));
            }
        }
        Ok(Records { bytes: raw.bytes, starts: raw.starts })
    }
}

/// The length of the record `bytes` starts with: a header, a kind and a
/// detail, each as long as its length says; `None` if `bytes` ends first.
fn whole_len(bytes: &[u8]) -> Option<usize> {
    parts(bytes).map(|(_, detail)| detail.end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SimTime, Trace};

    fn kept(made: impl FnOnce(&mut Trace)) -> Records {
        let mut trace = Trace::new(true);
        made(&mut trace);
        trace.take_records().expect("kept")
    }

    #[test]
    fn records_read_back_as_made_and_serialize_as_trace_records() {
        let records = kept(|t| {
            t.record(SimTime::from_nanos(7), NodeId(3), "sync.signal", format_args!("state=ready seq={}", 1));
            t.record(SimTime::from_nanos(7), NodeId::SIM, "fault", format_args!("crash [3]"));
        });
        let owned: Vec<TraceRecord> = records.to_records().collect();
        assert_eq!(
            owned,
            [
                TraceRecord { t: 7, node: Some(3), kind: "sync.signal".into(), detail: "state=ready seq=1".into() },
                TraceRecord { t: 7, node: None, kind: "fault".into(), detail: "crash [3]".into() },
            ]
        );
        for (view, record) in records.iter().zip(&owned) {
            assert_eq!(serde_json::to_string(&view).unwrap(), serde_json::to_string(record).unwrap());
        }
        assert_eq!(records.get(2), None);
    }

    #[test]
    fn appended_records_sort_into_run_order_keeping_each_nodes_order() {
        let mut a = kept(|t| {
            t.record(SimTime::from_nanos(5), NodeId(0), "k", format_args!("first"));
            t.record(SimTime::from_nanos(5), NodeId(0), "k", format_args!("second"));
            t.record(SimTime::from_nanos(9), NodeId(0), "k", format_args!("late"));
        });
        let b = kept(|t| {
            t.record(SimTime::from_nanos(1), NodeId(4), "k", format_args!("early"));
            t.record(SimTime::from_nanos(5), NodeId::SIM, "k", format_args!("sim"));
            t.record(SimTime::from_nanos(5), NodeId(2), "k", format_args!("two"));
        });
        a.append(b);
        a.sort();
        let details: Vec<String> = a.iter().map(|r| r.detail.into_owned()).collect();
        assert_eq!(details, ["early", "first", "second", "two", "sim", "late"]);
        // The same records made in run order by one trace are equal, though laid out otherwise.
        let made = kept(|t| {
            t.record(SimTime::from_nanos(1), NodeId(4), "k", format_args!("early"));
            t.record(SimTime::from_nanos(5), NodeId(0), "k", format_args!("first"));
            t.record(SimTime::from_nanos(5), NodeId(0), "k", format_args!("second"));
            t.record(SimTime::from_nanos(5), NodeId(2), "k", format_args!("two"));
            t.record(SimTime::from_nanos(5), NodeId::SIM, "k", format_args!("sim"));
            t.record(SimTime::from_nanos(9), NodeId(0), "k", format_args!("late"));
        });
        assert_eq!(a, made);
        assert_ne!(a, kept(|t| t.record(SimTime::from_nanos(1), NodeId(4), "k", format_args!("early"))));
    }

    #[test]
    fn damaged_records_from_another_process_are_refused_not_read() {
        let records = kept(|t| t.record(SimTime::ZERO, NodeId(1), "timer", format_args!("x")));
        let good = postcard::to_allocvec(&records).unwrap();
        assert_eq!(postcard::from_bytes::<Records>(&good).unwrap(), records);
        for start in [1, records.bytes.len() as u64, u64::MAX] {
            let raw = Unchecked { bytes: records.bytes.clone(), starts: vec![start] };
            assert!(Records::try_from(raw).unwrap_err().contains("is not a whole record"), "{start}");
        }
        let mut short = records.bytes.clone();
        short.pop();
        let expected = format!("trace record 0 (at byte 0 of {}) is not a whole record", short.len());
        let raw = Unchecked { bytes: short, starts: vec![0] };
        assert_eq!(Records::try_from(raw).unwrap_err(), expected);
    }
}
