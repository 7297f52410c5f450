//! `tg-wasm diff`: the first event where the traces of two run directories
//! differ.

use crate::divergence::{TraceDivergence, first_divergence};
use crate::error::Error;
use crate::outputs::read::{RecordedSummary, read_summary, read_trace, trace_of};
use crate::text;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

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
                let _ = writeln!(
                    out,
                    "{name}: {} {}, seed {}: {} ({}), digest {}, {}",
                    s.plan,
                    s.test_case,
                    s.seed,
                    s.outcome,
                    s.end,
                    s.digest,
                    text::count(s.trace_events, "record")
                );
            }
        }
        if let [Some(a), Some(b)] = &self.summaries
            && (&a.plan, &a.test_case) != (&b.plan, &b.test_case)
        {
            // Most likely two directories picked by mistake: say so before the first event does.
            let _ = writeln!(
                out,
                "note: these are runs of different test cases ({} {} and {} {}); their traces differ from the start",
                a.plan, a.test_case, b.plan, b.test_case
            );
        }
        match &self.divergence {
            None => {
                let _ = writeln!(out, "the traces are identical ({})", text::count(self.events_compared, "record"));
            }
            Some(d) => out.push_str(&d.render(&names[0], &names[1])),
        }
        out
    }
}

/// Compares the traces of two run directories.
pub fn diff_runs(a: &Path, b: &Path) -> Result<RunDiff, Error> {
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
