//! The run's trace: every simulated event, folded into a digest.
//!
//! Each event is `(time, node, kind, detail)`. Each node's events are folded,
//! in the order they happen, into that node's SHA-256 over an encoding of
//! those fields (`t` and `node` little-endian, `kind` and `detail` each after
//! its length in LEB128, see [`leb128`]), and the run digest combines the
//! nodes' digests in node order: stable across platforms, Rust versions and
//! crate upgrades (unlike `std`'s `DefaultHasher`), and across the number of
//! processes a run is split into.
//! Keeping the records themselves is optional: a run that only needs the digest
//! pays for hashing, not for memory. The trace does not decide what is an event;
//! the simulation and the host record what happens.

mod chain;
mod leb128;
mod records;

pub use records::{RecordView, Records};

use crate::event::EventKey;
use crate::node::NodeId;
use crate::time::SimTime;
use chain::{Chain, MAX_DIRECT, SPILL, put};
use sha2::{Digest, Sha256};
use std::fmt::{self, Write as _};
use std::ops::Range;

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

/// The cause of a record: the key of the event being processed when it was
/// made, or `None` before the first event (while tasks first run).
pub type Cause = Option<EventKey>;

/// Which records a trace keeps. A shard of a split run keeps only its own
/// instances' records, and shard 0 also the simulation's own (which every
/// shard makes alike); a whole run keeps everything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceScope {
    /// The instances whose records are kept.
    pub nodes: Range<u32>,
    /// Whether records of [`NodeId::SIM`] are kept.
    pub sim: bool,
}

impl TraceScope {
    /// Every record.
    pub fn all() -> TraceScope {
        TraceScope { nodes: 0..u32::MAX, sim: true }
    }

    fn keeps(&self, node: NodeId) -> bool {
        if node == NodeId::SIM { self.sim } else { self.nodes.contains(&node.0) }
    }
}

/// The digest of one node's records, in the order they were made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeDigest {
    /// The instance, or `u32::MAX` for the simulation itself.
    pub node: u32,
    /// SHA-256 of the node's records.
    pub digest: [u8; 32],
    /// How many records it covers.
    pub records: u64,
}

/// The run digest of per-node digests given in node order: SHA-256 over each
/// node's number, record count and digest, as 64 hex digits.
///
/// The run digest is made of per-node digests, not of one stream of every
/// record, because only each node's own order is the same however the run is
/// split across processes; two runs with the same digest made the same records
/// for every node, in the same order.
pub fn combine_digests<'a>(nodes: impl IntoIterator<Item = &'a NodeDigest>) -> String {
    let mut h = Sha256::new();
    for n in nodes {
        h.update(n.node.to_le_bytes());
        h.update(n.records.to_le_bytes());
        h.update(n.digest);
    }
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Bytes of a record written directly besides its kind and detail: `t`,
/// `node` and two lengths of one byte each (both are under 128).
const RECORD_HEADER: usize = 8 + 4 + 1 + 1;

/// The longest kind whose records [`Trace::record_with`] writes in place:
/// a header, the kind and a whole [`Detail`] fit in a record written directly.
const MAX_DIRECT_KIND: usize = MAX_DIRECT - RECORD_HEADER - Detail::CAPACITY;

const _: () = assert!(MAX_DIRECT_KIND < 0x80 && Detail::CAPACITY < 0x80, "a direct record's lengths are one byte");

/// Writes what [`encode`] appends at the start of `out` ([`MAX_DIRECT`] and
/// [`SPILL`] bytes), the detail written by `detail` in place, in fixed-size
/// moves; returns its length. `kind` is at most [`MAX_DIRECT_KIND`] bytes.
#[inline(always)]
fn write_record(out: &mut [u8], t: u64, node: NodeId, kind: &str, detail: impl FnOnce(&mut Detail<'_>)) -> usize {
    out[..8].copy_from_slice(&t.to_le_bytes());
    out[8..12].copy_from_slice(&node.0.to_le_bytes());
    // Both lengths are under 128: one byte of LEB128 each.
    out[12] = kind.len() as u8;
    let at = put(out, 13, kind.as_bytes());
    let mut d = Detail { out: &mut out[at + 1..], len: 0 };
    detail(&mut d);
    let len = d.len;
    out[at] = len as u8;
    at + 1 + len
}

/// One record's encoding, which is also exactly what its node's hash takes in:
/// `t` (8 bytes) and `node` (4), little-endian, then `kind` and `detail`,
/// each after its length in LEB128.
fn encode(out: &mut Vec<u8>, t: u64, node: NodeId, kind: &str, detail: &str) {
    out.extend_from_slice(&t.to_le_bytes());
    out.extend_from_slice(&node.0.to_le_bytes());
    leb128::put(out, kind.len() as u64);
    out.extend_from_slice(kind.as_bytes());
    leb128::put(out, detail.len() as u64);
    out.extend_from_slice(detail.as_bytes());
}

/// The records made in the current window of a split run, not yet known to
/// happen before the run's end: their encodings end to end in one buffer, so
/// that holding a record costs a copy, not an allocation.
#[derive(Default)]
struct Window {
    encoded: Vec<u8>,
    /// Each record's cause, node and end in `encoded`, in the order made.
    records: Vec<(Cause, NodeId, usize)>,
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
    scope: TraceScope,
    /// Per instance, indexed from `scope.nodes.start`, created on first record.
    chains: Vec<Option<Chain>>,
    sim_chain: Option<Chain>,
    events: u64,
    records: Option<Records>,
    detail: String,
    encoded: Vec<u8>,
    /// In a split run: the current window's records, folded in when the
    /// window is committed (see [`Trace::commit`]).
    window: Option<Window>,
    cause: Cause,
}

impl Trace {
    /// A new trace of every record; `keep_records` keeps every record for writing out later.
    pub fn new(keep_records: bool) -> Trace {
        Trace::scoped(keep_records, TraceScope::all())
    }

    /// A new trace keeping only the records `scope` covers.
    pub fn scoped(keep_records: bool, scope: TraceScope) -> Trace {
        Trace {
            scope,
            chains: Vec::new(),
            sim_chain: None,
            events: 0,
            records: keep_records.then(Records::default),
            detail: String::new(),
            encoded: Vec::new(),
            window: None,
            cause: None,
        }
    }

    /// From now on, records wait for [`Trace::commit`] before they count: a
    /// shard of a split run learns only at the end of each window whether the
    /// run ended inside it.
    pub fn hold_windows(&mut self) {
        self.window.get_or_insert_with(Window::default);
    }

    /// Notes the event being processed: records made from now on have it as their cause.
    pub fn set_cause(&mut self, cause: Cause) {
        self.cause = cause;
    }

    /// Records one event.
    pub fn record(&mut self, time: SimTime, node: NodeId, kind: &str, detail: fmt::Arguments<'_>) {
        if !self.scope.keeps(node) {
            return;
        }
        // A detail without arguments is its own text: no formatting machinery.
        if let Some(text) = detail.as_str() {
            self.record_kept(time, node, kind, text);
            return;
        }
        let mut text = std::mem::take(&mut self.detail);
        text.clear();
        // Writing into a String cannot fail.
        let _ = text.write_fmt(detail);
        self.record_kept(time, node, kind, &text);
        self.detail = text;
    }

    /// Records one event whose detail `detail` writes with a [`Detail`]
    /// instead of `core::fmt`: for records made per packet. The record is
    /// written once, where it is hashed. The bytes hashed are those
    /// [`Trace::record`] hashes for the same text.
    ///
    /// ```
    /// use netsim::{NodeId, SimTime, Trace};
    /// let (mut a, mut b) = (Trace::new(false), Trace::new(false));
    /// a.record(SimTime::ZERO, NodeId(1), "net.send", format_args!("udp {} {}", NodeId(2), 128));
    /// b.record_with(SimTime::ZERO, NodeId(1), "net.send", |d| {
    ///     d.word("udp").space().node(NodeId(2)).space().number(128);
    /// });
    /// assert_eq!(a.digest_hex(), b.digest_hex());
    /// ```
    #[inline(always)]
    pub fn record_with(&mut self, time: SimTime, node: NodeId, kind: &str, detail: impl FnOnce(&mut Detail<'_>)) {
        if !self.scope.keeps(node) {
            return;
        }
        if self.window.is_some() || kind.len() > MAX_DIRECT_KIND {
            let mut buf = [0u8; Detail::CAPACITY + SPILL];
            let mut d = Detail { out: &mut buf, len: 0 };
            detail(&mut d);
            let len = d.len;
            let text = std::str::from_utf8(&buf[..len]).expect("a detail is UTF-8");
            self.record_kept(time, node, kind, text);
            return;
        }
        let t = time.as_nanos();
        let chain = chain_of(&mut self.chains, &mut self.sim_chain, self.scope.nodes.start, node);
        let record = chain.absorb_with(|out| write_record(out, t, node, kind, detail));
        if let Some(records) = &mut self.records {
            records.push(record);
        }
        chain.records += 1;
        self.events += 1;
    }

    fn record_kept(&mut self, time: SimTime, node: NodeId, kind: &str, detail: &str) {
        if let Some(window) = &mut self.window {
            encode(&mut window.encoded, time.as_nanos(), node, kind, detail);
            window.records.push((self.cause, node, window.encoded.len()));
            return;
        }
        if kind.len() <= MAX_DIRECT_KIND && detail.len() <= Detail::CAPACITY {
            // Nearly every record: written once, where it is hashed.
            let t = time.as_nanos();
            let chain = chain_of(&mut self.chains, &mut self.sim_chain, self.scope.nodes.start, node);
            let record = chain.absorb_with(|out| write_record(out, t, node, kind, |d| d.text(detail)));
            if let Some(records) = &mut self.records {
                records.push(record);
            }
            chain.records += 1;
            self.events += 1;
            return;
        }
        let mut encoded = std::mem::take(&mut self.encoded);
        encoded.clear();
        encode(&mut encoded, time.as_nanos(), node, kind, detail);
        self.fold(node, &encoded);
        self.encoded = encoded;
    }

    fn fold(&mut self, node: NodeId, encoded: &[u8]) {
        let chain = chain_of(&mut self.chains, &mut self.sim_chain, self.scope.nodes.start, node);
        chain.absorb(encoded);
        chain.records += 1;
        self.events += 1;
        if let Some(records) = &mut self.records {
            records.push(encoded);
        }
    }

    /// Fetches ahead `node`'s chain, which its next record writes.
    pub(crate) fn prefetch_chain(&self, node: NodeId) {
        if node != NodeId::SIM
            && let Some(Some(chain)) =
                node.0.checked_sub(self.scope.nodes.start).and_then(|i| self.chains.get(i as usize))
        {
            crate::prefetch::prefetch_write(chain);
        }
    }

    /// Counts the held records of the current window whose cause is at most
    /// `upto` (all of them if `None`) and drops the others: a run that ended at
    /// event `upto` never made them.
    pub fn commit(&mut self, upto: Option<Cause>) {
        let Some(window) = self.window.take() else { return };
        let mut start = 0;
        for &(cause, node, end) in &window.records {
            if upto.is_some_and(|last| cause > last) {
                // Causes only grow within a window: everything after is past the end too.
                break;
            }
            self.fold(node, &window.encoded[start..end]);
            start = end;
        }
        // Keep the buffers' capacity for the next window.
        let Window { mut encoded, mut records } = window;
        encoded.clear();
        records.clear();
        self.window = Some(Window { encoded, records });
    }

    /// How many events have been recorded (and committed).
    pub fn len(&self) -> u64 {
        self.events
    }

    /// Whether nothing has been recorded.
    pub fn is_empty(&self) -> bool {
        self.events == 0
    }

    /// The digest of every node that made a record, in node order (the
    /// simulation, `u32::MAX`, last).
    pub fn node_digests(&self) -> Vec<NodeDigest> {
        let start = self.scope.nodes.start;
        let nodes = self.chains.iter().enumerate().filter_map(|(i, c)| c.as_ref().map(|c| (start + i as u32, c)));
        nodes
            .chain(self.sim_chain.as_ref().map(|c| (u32::MAX, c)))
            .map(|(node, c)| NodeDigest { node, digest: c.finalize(), records: c.records })
            .collect()
    }

    /// The digest of everything recorded so far, as 64 hex digits (see [`combine_digests`]).
    pub fn digest_hex(&self) -> String {
        combine_digests(&self.node_digests())
    }

    /// The kept records, if the trace was created to keep them, in the order they were made.
    pub fn records(&self) -> Option<&Records> {
        self.records.as_ref()
    }

    /// Takes the kept records out of the trace, in run order (see [`Records::sort`]).
    pub fn take_records(&mut self) -> Option<Records> {
        self.records.as_mut().map(|r| {
            let mut r = std::mem::take(r);
            r.sort();
            r
        })
    }
}

/// A record's detail text written without `core::fmt`, for the records made
/// per packet ([`Trace::record_with`]): words and decimal numbers separated
/// as the caller writes them, straight into the record. It writes exactly
/// what `format_args!` would for the same `&str`s, integers (`Display`) and
/// [`NodeId`]s, so a record's bytes, and the digest, do not depend on which
/// way it was written. It holds [`Detail::CAPACITY`] bytes; writing more panics.
pub struct Detail<'a> {
    /// The text from its start, with [`SPILL`] bytes past the capacity that
    /// a number's whole store may scribble on.
    out: &'a mut [u8],
    len: usize,
}

impl Detail<'_> {
    /// Bytes a detail holds: a few words and numbers.
    pub const CAPACITY: usize = 64;

    /// Appends `text`.
    #[inline]
    pub fn word(&mut self, text: &str) -> &mut Self {
        assert!(self.len + text.len() <= Detail::CAPACITY, "a detail holds {} bytes", Detail::CAPACITY);
        self.len = put(self.out, self.len, text.as_bytes());
        self
    }

    /// Appends `text`, which is at most [`Detail::CAPACITY`] bytes.
    fn text(&mut self, text: &str) {
        self.word(text);
    }

    /// Appends one space.
    pub fn space(&mut self) -> &mut Self {
        assert!(self.len < Detail::CAPACITY, "a detail holds {} bytes", Detail::CAPACITY);
        self.out[self.len] = b' ';
        self.len += 1;
        self
    }

    /// Appends `n` in decimal, as `Display` writes it.
    #[inline]
    pub fn number(&mut self, n: u64) -> &mut Self {
        // The digits, last first, each shifted up by those after it: the
        // little-endian bytes of `text` are the number's text, stored in one
        // move (the bytes past it are spill, past `len`).
        let (mut text, mut width, mut rest) = (0u128, 0, n);
        loop {
            text = (text << 8) | u128::from(b'0' + (rest % 10) as u8);
            width += 1;
            rest /= 10;
            if rest == 0 || width == 16 {
                break;
            }
        }
        if rest > 0 {
            // Over 16 digits: the leading ones first, then these 16.
            self.number(rest);
        }
        assert!(self.len + width <= Detail::CAPACITY, "a detail holds {} bytes", Detail::CAPACITY);
        self.out[self.len..self.len + 16].copy_from_slice(&text.to_le_bytes());
        self.len += width;
        self
    }

    /// Appends `node` as its `Display` writes it (`sim` for the simulation).
    pub fn node(&mut self, node: NodeId) -> &mut Self {
        if node == NodeId::SIM { self.word("sim") } else { self.number(u64::from(node.0)) }
    }
}

/// `node`'s chain, made on its first record: `chains` are the instances'
/// from `start` on, `sim_chain` the simulation's.
fn chain_of<'a>(
    chains: &'a mut Vec<Option<Chain>>,
    sim_chain: &'a mut Option<Chain>,
    start: u32,
    node: NodeId,
) -> &'a mut Chain {
    if node == NodeId::SIM {
        return sim_chain.get_or_insert_with(Chain::default);
    }
    let i = (node.0 - start) as usize;
    if chains.len() <= i {
        chains.resize(i + 1, None);
    }
    chains[i].get_or_insert_with(Chain::default)
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
pub fn first_divergence(a: &Records, b: &Records) -> Option<Divergence> {
    let index = a.iter().zip(b.iter()).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
    if index == a.len() && index == b.len() {
        return None;
    }
    let owned = |r: &Records| r.get(index).map(|v| v.to_record());
    Some(Divergence { index, left: owned(a), right: owned(b) })
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

    fn key(t: u64, seq: u64) -> Cause {
        Some(EventKey { time: SimTime::from_nanos(t), source: NodeId(0), seq })
    }

    #[test]
    fn held_records_count_up_to_the_cutoff_and_equal_records_made_directly() {
        let made = |t: &mut Trace| {
            t.set_cause(None);
            t.record(SimTime::ZERO, NodeId(1), "instance.start", format_args!(""));
            t.set_cause(key(5, 0));
            t.record(SimTime::from_nanos(5), NodeId(1), "timer", format_args!(""));
            t.record(SimTime::from_nanos(5), NodeId::SIM, "fault", format_args!("crash [1]"));
        };
        let mut direct = Trace::new(true);
        made(&mut direct);
        let mut held = Trace::new(true);
        held.hold_windows();
        made(&mut held);
        assert_eq!(held.len(), 0, "nothing counts before the window is committed");
        // Past the run's end: this one is dropped at the cutoff.
        held.set_cause(key(9, 0));
        held.record(SimTime::from_nanos(9), NodeId(2), "timer", format_args!(""));
        held.commit(Some(key(5, 0)));
        assert_eq!((held.len(), held.digest_hex()), (direct.len(), direct.digest_hex()));
        assert_eq!(held.records(), direct.records());
        assert_eq!(held.records().unwrap().get(2).unwrap().node, None, "the simulation's records decode as such");
    }

    #[test]
    fn a_scope_keeps_only_its_nodes_and_digests_combine_in_node_order() {
        let mut whole = Trace::new(false);
        let mut low = Trace::scoped(false, TraceScope { nodes: 0..2, sim: true });
        let mut high = Trace::scoped(false, TraceScope { nodes: 2..4, sim: false });
        for n in [3, 0, 2, 1, 3] {
            for t in [&mut whole, &mut low, &mut high] {
                t.record(SimTime::from_nanos(u64::from(n)), NodeId(n), "k", format_args!("{n}"));
                t.record(SimTime::ZERO, NodeId::SIM, "fault", format_args!(""));
            }
        }
        assert_eq!((low.len(), high.len()), (2 + 5, 3));
        let mut parts = low.node_digests();
        parts.extend(high.node_digests());
        parts.sort_by_key(|d| d.node);
        assert_eq!(combine_digests(&parts), whole.digest_hex());
    }

    #[test]
    fn a_detail_writes_what_format_writes() {
        let numbers = [0u64, 1, 9, 10, 99, 100, 65_535, 1_000_000_007, u64::from(u32::MAX), 10u64.pow(16), u64::MAX];
        for (i, n) in numbers.into_iter().enumerate() {
            // Through either door, kept or not, directly or held for a window: the same bytes.
            let mut traces = [Trace::new(true), Trace::new(true), Trace::new(false), Trace::new(true)];
            traces[3].hold_windows();
            let [by_fmt, rest @ ..] = &mut traces;
            let kind = if i % 2 == 0 { "net.send" } else { "a.kind.too.long.to.be.written.in.place" };
            by_fmt.record(
                SimTime::from_nanos(n),
                NodeId(3),
                kind,
                format_args!("tcp {n} {} {}", NodeId(n as u32), NodeId::SIM),
            );
            for t in rest {
                t.record_with(SimTime::from_nanos(n), NodeId(3), kind, |d| {
                    d.word("tcp").space().number(n).space().node(NodeId(n as u32)).space().node(NodeId::SIM);
                });
            }
            traces[3].commit(None);
            let digest = traces[0].digest_hex();
            assert!(traces.iter().all(|t| t.digest_hex() == digest), "{n}");
            assert_eq!(traces[0].records(), traces[1].records());
            assert_eq!(traces[0].records(), traces[3].records());
            assert_eq!(
                traces[0].records().unwrap().get(0).unwrap().detail,
                format!("tcp {n} {} sim", NodeId(n as u32))
            );
        }
    }

    #[test]
    #[should_panic(expected = "a detail holds 64 bytes")]
    fn a_detail_longer_than_it_holds_is_refused() {
        Trace::new(false).record_with(SimTime::ZERO, NodeId(0), "k", |d| {
            for _ in 0..20 {
                d.number(1234);
            }
        });
    }

    #[test]
    fn divergence_finds_first_difference_and_length_mismatch() {
        let kept = |kinds: &[&str]| {
            let mut trace = Trace::new(true);
            for (t, kind) in kinds.iter().enumerate() {
                trace.record(SimTime::from_nanos(t as u64 + 1), NodeId(0), kind, format_args!(""));
            }
            trace.take_records().unwrap()
        };
        let (a, b) = (kept(&["x", "y"]), kept(&["x", "z"]));
        let d = first_divergence(&a, &b).unwrap();
        assert_eq!((d.index, d.left, d.right), (1, Some(rec(2, "y")), Some(rec(2, "z"))));
        assert_eq!(first_divergence(&a, &a), None);
        let d = first_divergence(&a, &kept(&["x"])).unwrap();
        assert_eq!((d.index, d.right), (1, None));
    }
}
