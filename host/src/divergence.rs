//! Comparing two traces: the first event where they differ, with context.
//!
//! Traces are compared as streams, so two `trace.jsonl` files of millions of
//! events are compared in constant memory: only a few records before the
//! divergence are kept, and a few after it. This module compares; reading a
//! trace from a run directory is [`crate::outputs::read`]'s, and running
//! anything is the replay's and the determinism check's.

use crate::text::terminal;
use netsim::TraceRecord;
use std::collections::VecDeque;
use std::fmt::Write as _;

/// Records shown around a divergence, on each side: enough to see what each
/// instance was doing, few enough to read at a glance.
pub const CONTEXT_RECORDS: usize = 3;

/// Where two traces first differ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceDivergence {
    /// 0-based index of the first differing event.
    pub index: u64,
    /// Up to [`CONTEXT_RECORDS`] events both traces share just before it.
    pub before: Vec<TraceRecord>,
    /// The first trace from the divergence on (empty if it ended there).
    pub left: Vec<TraceRecord>,
    /// The second trace from the divergence on (empty if it ended there).
    pub right: Vec<TraceRecord>,
}

impl TraceDivergence {
    /// The virtual time (ns) and instance of the divergent event, from the first
    /// trace that has one; the instance is `None` for the simulation itself.
    pub fn at(&self) -> (u64, Option<u32>) {
        let r = self.left.first().or(self.right.first()).or(self.before.last());
        r.map_or((0, None), |r| (r.t, r.node))
    }

    /// A readable account, naming the two traces `left_name` and `right_name`
    /// (e.g. "expected" and "actual"), for a terminal: a record's text, which
    /// holds names a plan chose, shows its control characters escaped.
    pub fn render(&self, left_name: &str, right_name: &str) -> String {
        let mut out = String::new();
        let (t, node) = self.at();
        let who = node.map_or_else(|| "the simulation".to_string(), |n| format!("instance {n}"));
        let _ = writeln!(
            out,
            "first divergence at event #{} (virtual time {}, {who}):",
            self.index,
            netsim::SimTime::from_nanos(t)
        );
        let width = left_name.len().max(right_name.len()) + 1;
        for (name, side) in [(left_name, &self.left), (right_name, &self.right)] {
            let shown = side.first().map_or_else(|| "(trace ended here)".to_string(), |r| r.to_string());
            let _ = writeln!(out, "  {:<width$} {}", format!("{name}:"), terminal(&shown));
        }
        if !self.before.is_empty() {
            let _ = writeln!(out, "  events before it (the same in both):");
            let first = self.index - self.before.len() as u64;
            for (i, r) in self.before.iter().enumerate() {
                let _ = writeln!(out, "    #{} {}", first + i as u64, terminal(&r.to_string()));
            }
        }
        for (name, side) in [(left_name, &self.left), (right_name, &self.right)] {
            if side.len() > 1 {
                let _ = writeln!(out, "  {name} continues:");
                for (i, r) in side.iter().enumerate().skip(1) {
                    let _ = writeln!(out, "    #{} {}", self.index + i as u64, terminal(&r.to_string()));
                }
            }
        }
        out
    }
}

/// Finds the first event where two streams of trace records differ, reading
/// each only as far as needed. `Ok(None)` means the traces are identical; a
/// stream's error (a trace file that cannot be read) is returned as it is.
pub fn first_divergence<A, B, E>(left: A, right: B) -> Result<Option<TraceDivergence>, E>
where
    A: IntoIterator<Item = Result<TraceRecord, E>>,
    B: IntoIterator<Item = Result<TraceRecord, E>>,
{
    let (mut left, mut right) = (left.into_iter(), right.into_iter());
    let mut before: VecDeque<TraceRecord> = VecDeque::with_capacity(CONTEXT_RECORDS + 1);
    let mut index = 0u64;
    loop {
        let l = left.next().transpose()?;
        let r = right.next().transpose()?;
        match (l, r) {
            (None, None) => return Ok(None),
            (Some(l), Some(r)) if l == r => {
                before.push_back(l);
                if before.len() > CONTEXT_RECORDS {
                    before.pop_front();
                }
                index += 1;
            }
            (l, r) => {
                let left = tail(l, &mut left)?;
                let right = tail(r, &mut right)?;
                return Ok(Some(TraceDivergence { index, before: before.into(), left, right }));
            }
        }
    }
}

/// `first` and up to [`CONTEXT_RECORDS`] records after it.
fn tail<E>(
    first: Option<TraceRecord>,
    rest: &mut impl Iterator<Item = Result<TraceRecord, E>>,
) -> Result<Vec<TraceRecord>, E> {
    let Some(first) = first else { return Ok(Vec::new()) };
    let mut v = vec![first];
    for r in rest.take(CONTEXT_RECORDS) {
        v.push(r?);
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(t: u64, kind: &str) -> TraceRecord {
        TraceRecord { t, node: Some(1), kind: kind.into(), detail: String::new() }
    }

    fn ok(v: &[TraceRecord]) -> Vec<Result<TraceRecord, ()>> {
        v.iter().cloned().map(Ok).collect()
    }

    #[test]
    fn finds_the_first_difference_with_context() {
        let a: Vec<_> = (0..10).map(|i| rec(i, "x")).collect();
        let mut b = a.clone();
        b[6] = rec(6, "y");
        let d = first_divergence(ok(&a), ok(&b)).unwrap().unwrap();
        assert_eq!(d.index, 6);
        assert_eq!(d.before, a[3..6].to_vec());
        assert_eq!(d.left, a[6..10].to_vec());
        assert_eq!(d.right[0], rec(6, "y"));
        assert_eq!(d.at(), (6, Some(1)));
        let text = d.render("expected", "actual");
        assert!(text.contains("event #6") && text.contains("expected:") && text.contains("#5 "), "{text}");
    }

    #[test]
    fn a_records_control_characters_show_escaped_on_their_line() {
        let a = vec![rec(0, "x")];
        let mut b = a.clone();
        b[0].detail = "topic=\"a\nb\u{1b}[2J\"".into();
        let text = first_divergence(ok(&a), ok(&b)).unwrap().unwrap().render("a", "b");
        assert!(text.contains(r#"topic="a\nb\u{1b}[2J""#) && !text.contains('\u{1b}'), "{text}");
        assert_eq!(text.lines().count(), 3, "{text}");
    }

    #[test]
    fn identical_and_truncated_traces() {
        let a: Vec<_> = (0..3).map(|i| rec(i, "x")).collect();
        assert_eq!(first_divergence(ok(&a), ok(&a)).unwrap(), None);
        let d = first_divergence(ok(&a), ok(&a[..2])).unwrap().unwrap();
        assert_eq!((d.index, d.right.len(), d.left.len()), (2, 0, 1));
        assert!(d.render("a", "b").contains("(trace ended here)"));
    }
}
