//! Reproducing runs: replaying a run directory, and finding where the traces
//! of two runs part.
//!
//! - [`replay()`] (here): re-run a run directory's recorded inputs and compare digests.
//! - [`recorded`]: the component a recorded run used, found again and checked by its hash.
//! - [`diff`]: `tg-wasm diff`, the first divergence between two run directories' traces.
//!
//! A run is a function of its recorded inputs, so a replay must give the same
//! trace digest; when it does not, the first divergent event says where
//! determinism broke. A replay runs through [`crate::session::run`] and does
//! not print: callers render the returned reports. (`run --check-determinism`
//! is a way to run, so it is the session's.)

pub mod diff;
pub mod recorded;

pub use diff::{RunDiff, diff_runs};
pub use recorded::ComponentSource;

use crate::divergence::{TraceDivergence, first_divergence};
use crate::error::{Error, InputError};
use crate::outputs::TRACE_FILE;
use crate::outputs::read::{read_summary, read_trace};
use crate::run::RunSummary;
use crate::run::record::RecordedRun;
use crate::session::{self, RunOptions};
use crate::text;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// Where a replay writes its own run directory, inside the replayed one: next
/// to the original, so `tg-wasm diff <run> <run>/replay` compares them, and
/// replaced by the next replay.
pub const REPLAY_DIR: &str = "replay";

/// How a replay compared with the recorded run.
#[derive(Clone, Debug)]
pub enum Verdict {
    /// Same digest: the run was reproduced event for event.
    Reproduced,
    /// Different digests; the first divergent event if the original kept its trace.
    Diverged(Option<TraceDivergence>),
}

/// What [`replay()`] found.
#[derive(Clone, Debug)]
pub struct Replay {
    /// The replayed run directory.
    pub dir: PathBuf,
    /// Where the replay's own run directory is.
    pub out: PathBuf,
    /// The component that was replayed.
    pub component: ComponentSource,
    /// What the original run's `summary.json` says.
    pub recorded: crate::outputs::read::RecordedSummary,
    /// The replay's summary.
    pub summary: RunSummary,
    /// Same digest or not.
    pub verdict: Verdict,
    /// Caveats: another tg-wasm version, an original cut off by wall time.
    pub notes: Vec<String>,
}

impl Replay {
    /// Whether the replay gave the recorded digest.
    pub fn reproduced(&self) -> bool {
        matches!(self.verdict, Verdict::Reproduced)
    }

    /// A readable account: the replay's summary, then the verdict.
    pub fn render(&self) -> String {
        let mut out = self.summary.render();
        let _ = writeln!(out, "replayed {} from {}", self.dir.display(), describe(&self.component));
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        match &self.verdict {
            Verdict::Reproduced => {
                let _ = writeln!(
                    out,
                    "replay reproduced the recorded run: outcome {}, digest {} ({})",
                    self.summary.outcome,
                    self.summary.digest,
                    text::count(self.summary.trace_events, "record")
                );
            }
            Verdict::Diverged(divergence) => {
                let _ = writeln!(
                    out,
                    "replay DIVERGED from the recorded run:\n  recorded digest {} ({}, {})\n  replayed digest {} ({}, {})",
                    self.recorded.digest,
                    self.recorded.outcome,
                    text::count(self.recorded.trace_events, "record"),
                    self.summary.digest,
                    self.summary.outcome,
                    text::count(self.summary.trace_events, "record")
                );
                match divergence {
                    Some(d) => out.push_str(&d.render("recorded", "replayed")),
                    None => {
                        let _ = writeln!(
                            out,
                            "the recorded run kept no trace, so the divergent event cannot be shown; \
                             re-run it with --trace, replay that, or compare two traced runs with `tg-wasm diff`"
                        );
                    }
                }
            }
        }
        let _ = writeln!(out, "replay directory: {}", self.out.display());
        out
    }
}

fn describe(source: &ComponentSource) -> String {
    match source {
        ComponentSource::Copy(p) => format!("its component copy {}", p.display()),
        ComponentSource::RecordedPath(p) => format!("the recorded component {}", p.display()),
    }
}

/// Replays run directory `dir`: checks the component, re-runs the recorded
/// inputs into `<dir>/replay/` (keeping the trace) and compares the digest with
/// the recorded one; when they differ and the original kept its trace, finds
/// the first divergent event.
pub fn replay(dir: &Path, interrupt: Option<Arc<AtomicBool>>) -> Result<Replay, Error> {
    let inputs = RecordedRun::read(dir)?;
    let (component, source) = recorded::component(dir, &inputs)?;
    let group_components = recorded::group_components(dir, &inputs)?;
    let Some(recorded) = read_summary(dir)? else {
        return Err(InputError::new(format!(
            "{} has no summary.json: the run never finished, so there is no digest to compare with",
            dir.display()
        ))
        .into());
    };
    let mut notes = Vec::new();
    let version = env!("CARGO_PKG_VERSION");
    if inputs.tg_wasm_version != version {
        notes.push(format!(
            "recorded with tg-wasm {}, replayed with {version}: a difference may come from tg-wasm itself",
            inputs.tg_wasm_version
        ));
    }
    if matches!(recorded.end.as_str(), "wall-timeout" | "interrupted" | "memory-budget") {
        notes.push(format!(
            "the recorded run ended early ({}), at a point real time chose; the replay runs to the end",
            recorded.end
        ));
    }
    let mut spec = inputs.spec(component, group_components);
    spec.keep_trace = true;
    spec.interrupt = interrupt;
    // The run directory, taken, clears a previous replay.
    let out = dir.join(REPLAY_DIR);
    let session::Finished { summary, execution, .. } = session::run(spec, &RunOptions::new(&out))?;
    let verdict = if summary.digest == recorded.digest {
        Verdict::Reproduced
    } else {
        let original = dir.join(TRACE_FILE);
        let divergence = match (&execution.trace, original.is_file()) {
            (Some(replayed), true) => first_divergence(read_trace(&original)?, replayed.to_records().map(Ok))?,
            _ => None,
        };
        Verdict::Diverged(divergence)
    };
    Ok(Replay { dir: dir.to_path_buf(), out, component: source, recorded, summary, verdict, notes })
}
