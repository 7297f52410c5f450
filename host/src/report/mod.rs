//! What a run tells its user afterwards, beyond `summary.json`: metric
//! aggregates, the raw metrics and state timeline on disk, `report.html`,
//! JUnit XML, and the live progress line.
//!
//! - [`files`]: `metrics.jsonl` and `states.jsonl`, written after a run and read back by `tg-wasm report`.
//! - [`html`]: `report.html`, self-contained, plots drawn as inline SVG.
//! - [`junit`]: JUnit XML for CI reporters, a test case per group.
//! - [`progress`]: observing a run while it executes, and the terminal line that shows it.
//!
//! Everything here reads what the run produced; nothing feeds back into the
//! simulation. [`write_outputs`] writes the report files of a finished run;
//! [`regenerate`] rebuilds `report.html` from a run directory alone.

pub mod files;
pub mod html;
pub mod junit;
pub mod progress;

use crate::metrics::{Category, aggregate};
use crate::run::{Execution, RunSummary};
use anyhow::Context as _;
use std::path::{Path, PathBuf};

/// Raw metric points, one JSON object per line.
pub const METRICS_FILE: &str = "metrics.jsonl";
/// When sync states were reached, one JSON object per line.
pub const STATES_FILE: &str = "states.jsonl";
/// The HTML report.
pub const REPORT_FILE: &str = "report.html";
/// The summary written by the run.
pub const SUMMARY_FILE: &str = "summary.json";

/// Writes `metrics.jsonl`, `states.jsonl` and `report.html` of a finished run into `dir`.
pub fn write_outputs(dir: &Path, summary: &RunSummary, execution: &Execution) -> anyhow::Result<()> {
    let groups: Vec<String> = summary.groups.iter().map(|g| g.id.clone()).collect();
    files::write_metrics(&dir.join(METRICS_FILE), execution)?;
    files::write_states(&dir.join(STATES_FILE), &execution.states)?;
    let view: html::SummaryView = serde_json::from_value(serde_json::to_value(summary)?)
        .context("reading the run summary back for the report")?;
    let samples = execution.metric_samples(&groups);
    let (series, _) = aggregate::series(samples.into_iter().filter(|s| s.category == Category::Result));
    let states: Vec<files::StateLine> = execution.states.iter().map(files::StateLine::from).collect();
    let page = html::render(&view, &series, &states);
    crate::files::write_atomic(&dir.join(REPORT_FILE), page.as_bytes())
}

/// Rebuilds `report.html` in run directory `dir` from `summary.json`,
/// `metrics.jsonl` and `states.jsonl`; returns the report's path.
pub fn regenerate(dir: &Path) -> anyhow::Result<PathBuf> {
    let summary_path = dir.join(SUMMARY_FILE);
    let text = std::fs::read(&summary_path).map_err(|e| {
        crate::error::InputError::new(format!(
            "{} is not a run directory: cannot read {}: {e}",
            dir.display(),
            summary_path.display()
        ))
    })?;
    let view: html::SummaryView =
        serde_json::from_slice(&text).with_context(|| format!("parsing {}", summary_path.display()))?;
    let groups: Vec<String> = view.groups.iter().map(|g| g.id.clone()).collect();
    let points = files::read_metrics(&dir.join(METRICS_FILE))?;
    let samples = points.iter().filter_map(|p| p.sample(&groups)).filter(|s| s.category == Category::Result);
    let (series, _) = aggregate::series(samples);
    let states = files::read_states(&dir.join(STATES_FILE))?;
    let page = html::render(&view, &series, &states);
    let out = dir.join(REPORT_FILE);
    crate::files::write_atomic(&out, page.as_bytes())?;
    Ok(out)
}
