//! The run directory: everything a run leaves on disk, written in one place.
//!
//! A run directory holds `run.json` (the inputs, see [`crate::run::record`])
//! and `plan.wasm` (the component, so a replay needs nothing else), written
//! before the run starts; then `summary.json`, `instances/<seq>/*.log`,
//! `trace.jsonl` with `--trace` ([`directory`]), `outcomes.jsonl`,
//! `metrics.jsonl` and `states.jsonl` ([`lines`]), and `report.html` ([`crate::report::html`]).
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
use crate::metrics::aggregate::Sample;
use crate::metrics::timeline::{self, TimeSeries};
use crate::metrics::{Category, aggregate};
use crate::report::{OutcomeLine, StateLine, html, junit};
use crate::run::record::{COMPONENT_COPY, RUN_FILE, RecordedRun, not_a_run_directory};
use crate::run::{Execution, RunSpec, RunSummary};
use anyhow::Context as _;
use std::collections::BTreeSet;
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
/// How each instance ended, one JSON object per line.
pub const OUTCOMES_FILE: &str = "outcomes.jsonl";
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
        lines::write_outcomes(&dir.join(OUTCOMES_FILE), execution),
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
    let inputs = RecordedRun::read(dir).context("reading run.json back for the report")?;
    let groups: Vec<String> = summary.groups.iter().map(|g| g.id.clone()).collect();
    let samples = execution.metric_samples(&groups);
    let states: Vec<StateLine> = execution.states.iter().map(StateLine::from).collect();
    let outcomes = lines::outcome_lines(execution);
    let page = report_page(dir, &view, &inputs, &outcomes, samples, &states);
    crate::files::write_atomic(&dir.join(REPORT_FILE), page.as_bytes())
}

/// The report of the run in `dir` from what it recorded.
fn report_page<'a>(
    dir: &Path,
    view: &html::SummaryView,
    inputs: &RecordedRun,
    outcomes: &[OutcomeLine],
    samples: Vec<Sample<'a>>,
    states: &[StateLine],
) -> String {
    let results: Vec<Sample<'a>> = samples.into_iter().filter(|s| s.category == Category::Result).collect();
    let (series, _) = aggregate::series(results.iter().copied());
    let end_ns = inputs.faults.iter().map(|f| f.at_ns).chain(states.iter().map(|m| m.t_ns)).max().unwrap_or(0);
    let over_time = timeline::over_time(results, end_ns.max(view.virtual_time_ns), timeline::WINDOWS);
    let logs = instances_with_logs(dir);
    html::render(&html::ReportData {
        summary: view,
        inputs,
        outcomes,
        logs: &logs,
        results: &series,
        over_time: &over_time,
        states,
    })
}

/// The instances that left logs in `dir/instances/<seq>/`.
fn instances_with_logs(dir: &Path) -> BTreeSet<u32> {
    let Ok(entries) = std::fs::read_dir(dir.join("instances")) else { return BTreeSet::new() };
    entries.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect()
}

/// What a report of run directory `dir` is made of, read back.
struct ReadBack {
    view: html::SummaryView,
    inputs: RecordedRun,
    outcomes: Vec<OutcomeLine>,
    points: Vec<lines::PointLine>,
    states: Vec<StateLine>,
}

impl ReadBack {
    fn read(dir: &Path) -> Result<ReadBack, Error> {
        let summary_path = dir.join(SUMMARY_FILE);
        if !summary_path.is_file() && !dir.join(RUN_FILE).is_file() {
            return Err(not_a_run_directory(dir, SUMMARY_FILE).into());
        }
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
        Ok(ReadBack {
            inputs: RecordedRun::read(dir)?,
            outcomes: lines::read_outcomes(&dir.join(OUTCOMES_FILE))?,
            points: lines::read_metrics(&dir.join(METRICS_FILE))?,
            states: lines::read_states(&dir.join(STATES_FILE))?,
            view,
        })
    }

    fn data<'a>(
        &'a self,
        logs: &'a BTreeSet<u32>,
        results: &'a [aggregate::Series],
        over_time: &'a [TimeSeries],
    ) -> html::ReportData<'a> {
        html::ReportData {
            summary: &self.view,
            inputs: &self.inputs,
            outcomes: &self.outcomes,
            logs,
            results,
            over_time,
            states: &self.states,
        }
    }

    fn page(&self, dir: &Path) -> String {
        let groups: Vec<String> = self.view.groups.iter().map(|g| g.id.clone()).collect();
        let samples = self.points.iter().filter_map(|p| p.sample(&groups)).collect();
        report_page(dir, &self.view, &self.inputs, &self.outcomes, samples, &self.states)
    }
}

/// Writes the run's outcomes as JUnit XML to `path`, creating its directory.
pub fn write_junit(path: &Path, summary: &RunSummary) -> anyhow::Result<()> {
    write_creating_dirs(path, junit::render(summary).as_bytes())
}

/// Writes a file named on the command line, creating missing directories on the way.
fn write_creating_dirs(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    crate::files::write_atomic(path, bytes)
}

/// Rebuilds `report.html` in run directory `dir` from `summary.json`,
/// `run.json`, `outcomes.jsonl`, `metrics.jsonl` and `states.jsonl`; returns
/// the report's path.
pub fn regenerate_report(dir: &Path) -> Result<PathBuf, Error> {
    let page = ReadBack::read(dir)?.page(dir);
    let out = dir.join(REPORT_FILE);
    crate::files::write_atomic(&out, page.as_bytes())?;
    Ok(out)
}

/// Writes `out`: runs `a` and `b` (run directories) side by side.
pub fn compare_reports(a: &Path, b: &Path, out: &Path) -> Result<(), Error> {
    let (ra, rb) = (ReadBack::read(a)?, ReadBack::read(b)?);
    let data =
        |r: &ReadBack, dir: &Path, series: &mut Vec<Vec<aggregate::Series>>, times: &mut Vec<Vec<TimeSeries>>| {
            let groups: Vec<String> = r.view.groups.iter().map(|g| g.id.clone()).collect();
            let results: Vec<Sample<'_>> =
                r.points.iter().filter_map(|p| p.sample(&groups)).filter(|s| s.category == Category::Result).collect();
            series.push(aggregate::series(results.iter().copied()).0);
            times.push(timeline::over_time(results, r.view.virtual_time_ns, timeline::WINDOWS));
            instances_with_logs(dir)
        };
    let (mut series, mut times) = (Vec::new(), Vec::new());
    let logs_a = data(&ra, a, &mut series, &mut times);
    let logs_b = data(&rb, b, &mut series, &mut times);
    let names = (a.display().to_string(), b.display().to_string());
    let page = html::render_comparison(
        &ra.data(&logs_a, &series[0], &times[0]),
        &rb.data(&logs_b, &series[1], &times[1]),
        (&names.0, &names.1),
    );
    write_creating_dirs(out, page.as_bytes())?;
    Ok(())
}
