//! Reading a run directory back: its trace and its summary, for comparing
//! runs and replaying them.

use super::{SUMMARY_FILE, TRACE_FILE};
use crate::error::{Error, InputError};
use crate::run::record::{RUN_FILE, not_a_run_directory};
use anyhow::Context as _;
use netsim::TraceRecord;
use serde::Deserialize;
use std::io::BufRead as _;
use std::path::{Path, PathBuf};

/// The records of a `trace.jsonl` file, read lazily. A line that is not a
/// trace record is bad input (a file damaged or edited since the run).
pub fn read_trace(path: &Path) -> Result<impl Iterator<Item = Result<TraceRecord, Error>> + use<>, Error> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let shown = path.to_path_buf();
    Ok(std::io::BufReader::new(file).lines().enumerate().map(move |(i, line)| {
        let line = line.with_context(|| format!("reading {}", shown.display()))?;
        serde_json::from_str(&line).map_err(|e| {
            Error::input(format!("{}:{}: not a trace record ({e}); the file was damaged", shown.display(), i + 1))
        })
    }))
}

/// The trace file of run directory `dir`, or bad input saying how to get one.
pub fn trace_of(dir: &Path) -> Result<PathBuf, InputError> {
    if !dir.join(RUN_FILE).is_file() && !dir.join(SUMMARY_FILE).is_file() {
        return Err(not_a_run_directory(dir, RUN_FILE));
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
    /// Why the run directory is incomplete, if it is.
    #[serde(default)]
    pub incomplete: Option<String>,
    /// The plan's name.
    #[serde(default)]
    pub plan: String,
    /// The test case run.
    #[serde(default)]
    pub test_case: String,
    /// The run's seed.
    #[serde(default)]
    pub seed: u64,
}

/// Reads `summary.json` of run directory `dir`, if there is one. A summary
/// that cannot be parsed, or that says the directory is incomplete, is bad
/// input: nothing in that directory is to be compared with.
pub fn read_summary(dir: &Path) -> Result<Option<RecordedSummary>, Error> {
    let path = dir.join(SUMMARY_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let summary: RecordedSummary = serde_json::from_slice(&text)
        .map_err(|e| Error::input(format!("{} is not a readable summary ({e}); run it again", path.display())))?;
    refuse_incomplete(dir, summary.incomplete.as_deref())?;
    Ok(Some(summary))
}

/// Refuses run directory `dir` if its summary says it is incomplete (`why`):
/// nothing in it is to be read back.
pub fn refuse_incomplete(dir: &Path, why: Option<&str>) -> Result<(), Error> {
    match why {
        None => Ok(()),
        Some(why) => Err(Error::input(format!(
            "{} is incomplete ({why}): its files cannot be trusted; run it again",
            dir.display()
        ))),
    }
}
