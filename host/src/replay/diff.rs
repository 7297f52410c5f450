//! Comparing two traces: the first event where they differ, with context.
//!
//! Traces are compared as streams, so two `trace.jsonl` files of millions of
//! events are compared in constant memory: only a few records before the
//! divergence are kept, and a few after it. This module reads traces and
//! finds differences; it does not run anything (see [`super::replay`] and
//! [`super::check`]).

use crate::error::InputError;
use anyhow::Context as _;
use netsim::TraceRecord;
use serde::Deserialize;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::BufRead as _;
use std::path::{Path, PathBuf};

/// Records shown around a divergence, on each side: enough to see what each
/// instance was doing, few enough to read at a glance.
pub const CONTEXT_RECORDS: usize = 3;

/// The trace file in a run directory.
pub const TRACE_FILE: &str = "trace.jsonl";

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
    /// (e.g. "expected" and "actual").
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
            let _ = writeln!(out, "  {:<width$} {shown}", format!("{name}:"));
        }
        if !self.before.is_empty() {
            let _ = writeln!(out, "  events before it (the same in both):");
            let first = self.index - self.before.len() as u64;
            for (i, r) in self.before.iter().enumerate() {
                let _ = writeln!(out, "    #{} {r}", first + i as u64);
            }
        }
        for (name, side) in [(left_name, &self.left), (right_name, &self.right)] {
            if side.len() > 1 {
                let _ = writeln!(out, "  {name} continues:");
                for (i, r) in side.iter().enumerate().skip(1) {
                    let _ = writeln!(out, "    #{} {r}", self.index + i as u64);
                }
            }
        }
        out
    }
}

/// Finds the first event where two streams of trace records differ, reading
/// each only as far as needed. `Ok(None)` means the traces are identical.
pub fn first_divergence<A, B>(left: A, right: B) -> anyhow::Result<Option<TraceDivergence>>
where
    A: IntoIterator<Item = anyhow::Result<TraceRecord>>,
    B: IntoIterator<Item = anyhow::Result<TraceRecord>>,
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
fn tail(
    first: Option<TraceRecord>,
    rest: &mut impl Iterator<Item = anyhow::Result<TraceRecord>>,
) -> anyhow::Result<Vec<TraceRecord>> {
    let Some(first) = first else { return Ok(Vec::new()) };
    let mut v = vec![first];
    for r in rest.take(CONTEXT_RECORDS) {
        v.push(r?);
    }
    Ok(v)
}

/// The records of a `trace.jsonl` file, read lazily.
pub fn read_trace(path: &Path) -> anyhow::Result<impl Iterator<Item = anyhow::Result<TraceRecord>> + use<>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let shown = path.to_path_buf();
    Ok(std::io::BufReader::new(file).lines().enumerate().map(move |(i, line)| {
        let line = line.with_context(|| format!("reading {}", shown.display()))?;
        serde_json::from_str(&line).with_context(|| format!("{}:{}: not a trace record", shown.display(), i + 1))
    }))
}

/// The trace file of run directory `dir`, or bad input saying how to get one.
pub fn trace_of(dir: &Path) -> Result<PathBuf, InputError> {
    if !dir.join("run.json").is_file() && !dir.join("summary.json").is_file() {
        return Err(InputError::new(format!("{} is not a run directory (no run.json in it)", dir.display())));
    }
    let path = dir.join(TRACE_FILE);
    if !path.is_file() {
        return Err(InputError::new(format!(
            "{} has no {TRACE_FILE}: the run kept only its digest; re-run it with --trace",
            dir.display()
        )));
    }
    Ok(path)
}

/// The parts of a `summary.json` a comparison reports.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct RecordedSummary {
    /// `success` or `failure`.
    #[serde(default)]
    pub outcome: String,
    /// How the run ended (`completed`, `deadlock`, `wall-timeout`, …).
    #[serde(default)]
    pub end: String,
    /// The trace digest.
    #[serde(default)]
    pub digest: String,
    /// Events in the trace.
    #[serde(default)]
    pub trace_events: u64,
}

/// Reads `summary.json` of run directory `dir`, if there is one.
pub fn read_summary(dir: &Path) -> anyhow::Result<Option<RecordedSummary>> {
    let path = dir.join("summary.json");
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Some(serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?))
}

/// What `tg-wasm diff` found.
#[derive(Clone, Debug)]
pub struct RunDiff {
    /// The two run directories.
    pub dirs: [PathBuf; 2],
    /// Their summaries, where present.
    pub summaries: [Option<RecordedSummary>; 2],
    /// Events compared (all of them when the traces are identical).
    pub events_compared: u64,
    /// The first divergence, `None` if the traces are identical.
    pub divergence: Option<TraceDivergence>,
}

impl RunDiff {
    /// Whether the two traces are identical.
    pub fn identical(&self) -> bool {
        self.divergence.is_none()
    }

    /// A readable account of the comparison.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let names = self.dirs.each_ref().map(|d| d.display().to_string());
        for (name, summary) in names.iter().zip(&self.summaries) {
            if let Some(s) = summary {
                let _ =
                    writeln!(out, "{name}: {} ({}), digest {}, {} events", s.outcome, s.end, s.digest, s.trace_events);
            }
        }
        match &self.divergence {
            None => {
                let _ = writeln!(out, "the traces are identical ({} events)", self.events_compared);
            }
            Some(d) => out.push_str(&d.render(&names[0], &names[1])),
        }
        out
    }
}

/// Compares the traces of two run directories.
pub fn diff_runs(a: &Path, b: &Path) -> anyhow::Result<RunDiff> {
    let (ta, tb) = (trace_of(a)?, trace_of(b)?);
    let divergence = first_divergence(read_trace(&ta)?, read_trace(&tb)?)?;
    let events_compared = match &divergence {
        Some(d) => d.index,
        None => read_trace(&ta)?.count() as u64,
    };
    Ok(RunDiff {
        dirs: [a.to_path_buf(), b.to_path_buf()],
        summaries: [read_summary(a)?, read_summary(b)?],
        events_compared,
        divergence,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(t: u64, kind: &str) -> TraceRecord {
        TraceRecord { t, node: Some(1), kind: kind.into(), detail: String::new() }
    }

    fn ok(v: &[TraceRecord]) -> Vec<anyhow::Result<TraceRecord>> {
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
    fn identical_and_truncated_traces() {
        let a: Vec<_> = (0..3).map(|i| rec(i, "x")).collect();
        assert_eq!(first_divergence(ok(&a), ok(&a)).unwrap(), None);
        let d = first_divergence(ok(&a), ok(&a[..2])).unwrap().unwrap();
        assert_eq!((d.index, d.right.len(), d.left.len()), (2, 0, 1));
        assert!(d.render("a", "b").contains("(trace ended here)"));
    }
}
