//! `run --check-determinism`: the same inputs run N times must give one digest.
//!
//! The first run is the run proper: it writes the run directory as usual (and
//! its `trace.jsonl`, so a divergence can be examined later). The repetitions
//! run from scratch — a new engine, a new simulation — without writing
//! anything, and keep their trace records only to compare them with the first
//! run's. A repetition that diverges is written to `<out>/determinism-<k>/`
//! so `tg-wasm diff <out> <out>/determinism-<k>` can show it again.

use crate::divergence::{TraceDivergence, first_divergence};
use crate::error::Error;
use crate::outputs::{self, RunDirectory};
use crate::run::{Execution, Run, RunSpec, RunSummary};
use netsim::trace::Records;
use std::fmt::Write as _;
use std::path::PathBuf;

/// The default number of runs of `--check-determinism`: the fewest that can disagree.
pub const DEFAULT_RUNS: u32 = 2;

/// What a determinism check found.
#[derive(Clone, Debug)]
pub struct DeterminismCheck {
    /// The digest of each run, in order.
    pub digests: Vec<String>,
    /// The first run whose digest differed from the first one's (1-based),
    /// where it was written, and the first divergent event.
    pub divergence: Option<(u32, PathBuf, TraceDivergence)>,
}

impl DeterminismCheck {
    /// Whether every run gave the same digest.
    pub fn deterministic(&self) -> bool {
        self.digests.windows(2).all(|w| w[0] == w[1])
    }

    /// A readable account: one line if deterministic, the digests and the
    /// first divergent event if not.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if self.deterministic() {
            let _ =
                writeln!(out, "determinism check passed: {} runs gave digest {}", self.digests.len(), self.digests[0]);
            return out;
        }
        let _ = writeln!(out, "determinism check FAILED: the same inputs gave different trace digests");
        for (i, d) in self.digests.iter().enumerate() {
            let _ = writeln!(out, "  run {}: {d}", i + 1);
        }
        if let Some((k, dir, d)) = &self.divergence {
            out.push_str(&d.render("run 1", &format!("run {k}")));
            let _ = writeln!(out, "run {k} is in {}", dir.display());
        }
        out
    }
}

/// Runs `spec` `runs` times (at least 2) with `execute`, the first into the
/// run directory `take_dir` takes once the inputs are checked, as a normal
/// run, and compares the digests. Returns the first run's summary and
/// execution, the check, and the run directory.
pub fn check(
    spec: RunSpec,
    take_dir: impl FnOnce() -> Result<RunDirectory, Error>,
    runs: u32,
    mut execute: impl FnMut(&Run) -> Result<Execution, Error>,
) -> Result<(RunSummary, Execution, DeterminismCheck, PathBuf), Error> {
    let runs = runs.max(2);
    let interrupt = spec.interrupt.clone();
    let mut first_spec = spec;
    first_spec.keep_trace = true;
    let mut again = first_spec.clone();
    // Later runs must not be cut short where the first was not.
    again.wall_timeout = None;
    let n = first_spec.instance_count();
    let first_run = Run::prepare(first_spec, n)?;
    let taken = take_dir()?;
    let out = taken.path();
    outputs::write_inputs(out, first_run.spec())?;
    let first = execute(&first_run)?;
    let mut summary = first_run.summarize(&first);
    outputs::write_results(out, &mut summary, &first);
    let none = Records::default();
    let reference = first.trace.as_ref().unwrap_or(&none);
    let mut check = DeterminismCheck { digests: vec![first.digest.clone()], divergence: None };
    for k in 2..=runs {
        if interrupt.as_ref().is_some_and(|f| f.load(std::sync::atomic::Ordering::SeqCst)) {
            break;
        }
        let run = Run::prepare(again.clone(), n)?;
        let execution = execute(&run)?;
        check.digests.push(execution.digest.clone());
        if execution.digest != first.digest && check.divergence.is_none() {
            let records = execution.trace.as_ref().unwrap_or(&none);
            let found = first_divergence(reference.to_records().map(Ok::<_, Error>), records.to_records().map(Ok))?;
            let dir = out.join(format!("determinism-{k}"));
            outputs::write_inputs(&dir, run.spec())?;
            outputs::write_results(&dir, &mut run.summarize(&execution), &execution);
            if let Some(d) = found {
                check.divergence = Some((k, dir, d));
            }
        }
    }
    Ok((summary, first, check, out.to_path_buf()))
}
