//! The run directory: everything a run leaves on disk, written in one place.
//!
//! A run directory holds `run.json` (the inputs, see [`crate::run::record`])
//! and `plan.wasm` (the component, so a replay needs nothing else), written
//! before the run starts; then `summary.json`, `instances/<seq>/*.log`,
//! `trace.jsonl` with `--trace` ([`directory`]), `metrics.jsonl` and
//! `states.jsonl` ([`lines`]), and `report.html` ([`crate::report::html`]).
//! A run takes its directory for itself first ([`RunDirectory`]: no two
//! runs write one directory, and an earlier run's files are cleared); the
//! session then calls [`write_inputs`] and [`write_results`];
//! `tg-wasm report` calls [`regenerate_report`]; [`read`] reads a run
//! directory back for comparisons and replays. Every file is written
//! through [`crate::files`], so a reader never sees half of one.
//!
//! This layer sits above the run and the report: it writes what they
//! produce, and decides nothing about either.

pub mod directory;
pub mod lines;
pub mod read;
mod take;

pub use take::RunDirectory;

use crate::error::{Error, InputError};
use crate::metrics::{Category, aggregate};
use crate::report::{StateLine, html, junit};
use crate::run::record::{COMPONENT_COPY, RUN_FILE};
use crate::run::{Execution, RunSpec, RunSummary};
use anyhow::Context as _;
use std::path::{Path, PathBuf};

pub use directory::default_dir;

/// The summary of a finished run.
pub const SUMMARY_FILE: &str = "summary.json";
/// Every trace record, one JSON object per line (with `--trace`).
pub const TRACE_FILE: &str = "trace.jsonl";
/// Raw metric points, one JSON object per line.
pub const METRICS_FILE: &str = "metrics.jsonl";
/// When sync states were reached, one JSON object per line.
pub const STATES_FILE: &str = "states.jsonl";
/// The HTML report.
pub const REPORT_FILE: &str = "report.html";

/// Writes the run's inputs into `dir`: `run.json` and the component's copy.
pub fn write_inputs(dir: &Path, spec: &RunSpec) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating run directory {}", dir.display()))?;
    crate::files::write_atomic(&dir.join(COMPONENT_COPY), &spec.component.bytes)?;
    for component in spec.groups.iter().filter_map(|g| g.component.as_ref()) {
        let copy = crate::run::record::RecordedComponent::of(component).copy;
        crate::files::write_atomic(&dir.join(copy), &component.bytes)?;
    }
    crate::files::write_atomic(&dir.join(RUN_FILE), &spec.record_json()?)
}

/// Writes the results of a finished run into `dir`: the instances' output,
/// trace, metrics, state timeline and report, then `summary.json` last, so
/// that a directory with a summary is whole. If an output cannot be written,
/// the others still are, and `summary.incomplete` says why (the first
/// failure), in `summary.json` if that could be written and in the summary
/// returned to the caller either way: the outcome is never lost.
pub fn write_results(dir: &Path, summary: &mut RunSummary, execution: &Execution) {
    let failed = [
        directory::write_instances(dir, execution),
        lines::write_metrics(&dir.join(METRICS_FILE), execution),
        lines::write_states(&dir.join(STATES_FILE), &execution.states),
        write_report(dir, summary, execution),
    ]
    .into_iter()
    .find_map(Result::err);
    if let Some(e) = &failed {
        tracing::error!("writing the run directory {}: {e:#}", dir.display());
        summary.incomplete = Some(crate::text::one_line(e));
    }
    let written = serde_json::to_vec_pretty(summary)
        .map_err(anyhow::Error::from)
        .and_then(|json| crate::files::write_atomic(&dir.join(SUMMARY_FILE), &json));
    if let Err(e) = written {
        tracing::error!("writing the run directory {}: {e:#}", dir.display());
        summary.incomplete.get_or_insert_with(|| crate::text::one_line(&e));
    }
}

fn write_report(dir: &Path, summary: &RunSummary, execution: &Execution) -> anyhow::Result<()> {
    let view: html::SummaryView = serde_json::from_value(serde_json::to_value(summary)?)
        .context("reading the run summary back for the report")?;
    let groups: Vec<String> = summary.groups.iter().map(|g| g.id.clone()).collect();
    let samples = execution.metric_samples(&groups);
    let (series, _) = aggregate::series(samples.into_iter().filter(|s| s.category == Category::Result));
    let states: Vec<StateLine> = execution.states.iter().map(StateLine::from).collect();
    let page = html::render(&view, &series, &states);
    crate::files::write_atomic(&dir.join(REPORT_FILE), page.as_bytes())
}

/// Writes the run's outcomes as JUnit XML to `path`, creating its directory.
pub fn write_junit(path: &Path, summary: &RunSummary) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    crate::files::write_atomic(path, junit::render(summary).as_bytes())
}

/// Rebuilds `report.html` in run directory `dir` from `summary.json`,
/// `metrics.jsonl` and `states.jsonl`; returns the report's path.
pub fn regenerate_report(dir: &Path) -> Result<PathBuf, Error> {
    let summary_path = dir.join(SUMMARY_FILE);
    let text = std::fs::read(&summary_path).map_err(|e| {
        InputError::new(format!(
            "{} is not a run directory: cannot read {}: {e}",
            dir.display(),
            summary_path.display()
        ))
    })?;
    let view: html::SummaryView = serde_json::from_slice(&text)
        .map_err(|e| InputError::new(format!("{} is not a readable summary: {e}", summary_path.display())))?;
    read::refuse_incomplete(dir, view.incomplete.as_deref())?;
    let groups: Vec<String> = view.groups.iter().map(|g| g.id.clone()).collect();
    let points = lines::read_metrics(&dir.join(METRICS_FILE))?;
    let samples = points.iter().filter_map(|p| p.sample(&groups)).filter(|s| s.category == Category::Result);
    let (series, _) = aggregate::series(samples);
    let states = lines::read_states(&dir.join(STATES_FILE))?;
    let page = html::render(&view, &series, &states);
    let out = dir.join(REPORT_FILE);
    crate::files::write_atomic(&out, page.as_bytes())?;
    Ok(out)
}
