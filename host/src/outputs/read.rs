//! Reading a run directory back: its trace and its summary, for comparing
//! runs and replaying them.

use super::{SUMMARY_FILE, TRACE_FILE};
use crate::error::InputError;
use crate::run::record::RUN_FILE;
use anyhow::Context as _;
use netsim::TraceRecord;
use serde::Deserialize;
use std::io::BufRead as _;
use std::path::{Path, PathBuf};

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
    if !dir.join(RUN_FILE).is_file() && !dir.join(SUMMARY_FILE).is_file() {
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
    let path = dir.join(SUMMARY_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Some(serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?))
}
