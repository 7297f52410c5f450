//! `report.html`: one self-contained page a person looks at after a run, and
//! the page that puts two runs side by side (`tg-wasm report A B`).
//!
//! Plots are inline SVG drawn here, in Rust, so the page needs no script,
//! font or stylesheet from anywhere: it opens offline, from a CI artifact or
//! an e-mail attachment, and renders the same everywhere. Its only links are
//! to the run directory's own instance logs, next to it. The page shows, in
//! order: the run and its inputs ([`sections`]: parameters per group, the
//! composition, seed, versions, the fault timeline); outcomes, the root cause
//! first, with the failed and slowest instances linked to their logs; each
//! result metric's distribution, CDF and course over virtual time
//! ([`figures`]); and the sync states reached over virtual time. Every time
//! axis carries the faults. A few lines of inline script only count what the
//! browser laid out and note it on the root element (`data-plots-drawn`,
//! `data-timeseries-drawn`, `data-fault-marks-drawn`,
//! `data-input-rows-drawn`), which tests read back.
//!
//! This module renders; it does not read files or aggregate: the run
//! directory is the outputs', statistics are the metrics model's.

mod compare;
mod figures;
mod plot;
mod sections;

pub use compare::render_comparison;
pub use plot::FaultSpan;

use super::{OutcomeLine, StateLine};
use crate::metrics::aggregate::{MetricsSummary, Series};
use crate::metrics::timeline::TimeSeries;
use crate::run::record::RecordedRun;
use crate::text::xml_escape;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::fmt::Write as _;

/// The parts of `summary.json` the report shows.
#[derive(Debug, Deserialize)]
pub struct SummaryView {
    /// `success` or `failure`.
    pub outcome: String,
    /// Plan name.
    pub plan: String,
    /// Test case.
    pub test_case: String,
    /// Run id.
    pub run_id: String,
    /// Seed.
    pub seed: u64,
    /// Instances.
    pub instances: u32,
    /// Groups.
    pub groups: Vec<GroupView>,
    /// How the run ended.
    pub end: String,
    /// Trace digest.
    pub digest: String,
    /// Records folded into the digest.
    #[serde(default)]
    pub trace_events: u64,
    /// Virtual time at the end, ns.
    pub virtual_time_ns: u64,
    /// Wall time, s.
    pub wall_time_s: f64,
    /// Events processed.
    #[serde(default)]
    pub sim_events: u64,
    /// Metric aggregates.
    #[serde(default)]
    pub metrics: MetricsSummary,
    /// The tg-wasm that ran it.
    #[serde(default)]
    pub tg_wasm_version: String,
    /// Why the run directory is incomplete, if it is.
    #[serde(default)]
    pub incomplete: Option<String>,
}

/// One group of `summary.json`.
#[derive(Debug, Deserialize)]
pub struct GroupView {
    /// Group id.
    pub id: String,
    /// Instances.
    pub total: u32,
    /// Ok.
    pub ok: u32,
    /// Failed.
    pub failed: u32,
    /// Crashed.
    pub crashed: u32,
    /// Stalled (older summaries have none: they counted them as crashed).
    #[serde(default)]
    pub stalled: u32,
    /// Reasons, earliest first.
    #[serde(default)]
    pub reasons: Vec<ReasonView>,
}

/// One reason of a group.
#[derive(Debug, Deserialize)]
pub struct ReasonView {
    /// `failed`, `crashed` or `stalled`.
    pub outcome: String,
    /// Reason text.
    pub reason: String,
    /// Instances.
    pub count: u32,
    /// First instance.
    pub first_instance: u32,
    /// When the first ended, ns.
    #[serde(default)]
    pub first_at_ns: u64,
    /// Whom the stalled waited for.
    #[serde(default)]
    pub waiting_for: Vec<WaitedView>,
}

/// An instance others waited for.
#[derive(Debug, Deserialize)]
pub struct WaitedView {
    /// Global seq.
    pub instance: u32,
    /// How it ended.
    pub outcome: String,
}

/// Everything one page shows, gathered by the outputs from a run or a run directory.
pub struct ReportData<'a> {
    /// `summary.json`.
    pub summary: &'a SummaryView,
    /// `run.json`: the inputs.
    pub inputs: &'a RecordedRun,
    /// `outcomes.jsonl`: how each instance ended (empty for directories written before it existed).
    pub outcomes: &'a [OutcomeLine],
    /// The instances that left logs (`instances/<seq>/`).
    pub logs: &'a BTreeSet<u32>,
    /// Result metrics' sorted values, per metric and group.
    pub results: &'a [Series],
    /// Result metrics over virtual time, per metric and group.
    pub over_time: &'a [TimeSeries],
    /// `states.jsonl`.
    pub states: &'a [StateLine],
}

impl ReportData<'_> {
    /// The groups' names, by index.
    fn group_names(&self) -> Vec<String> {
        self.summary.groups.iter().map(|g| g.id.clone()).collect()
    }

    /// The end of every time axis: the run's, or a later fault or state mark.
    fn end_ns(&self) -> u64 {
        let faults = self.inputs.faults.iter().map(|f| f.at_ns);
        let states = self.states.iter().map(|m| m.t_ns);
        faults.chain(states).max().unwrap_or(0).max(self.summary.virtual_time_ns)
    }
}

const OK: &str = "#2e9d52";
const FAILED: &str = "#e08a00";
const CRASHED: &str = "#d43d3d";
const STALLED: &str = "#7a5af5";

/// The colour of an outcome.
fn outcome_color(outcome: &str) -> &'static str {
    match outcome {
        "ok" => OK,
        "failed" => FAILED,
        "crashed" => CRASHED,
        _ => STALLED,
    }
}

const STYLE: &str = "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1d2330;background:#f5f6f8}\
main{max-width:1100px;margin:0 auto;padding:24px}\
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:0 0 8px}h3{font-size:15px;margin:18px 0 6px}\
section,header{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:16px 18px;margin-bottom:16px}\
.badge{display:inline-block;padding:2px 10px;border-radius:12px;color:#fff;font-weight:600;font-size:13px}\
.success{background:#2e9d52}.failure{background:#d43d3d}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:10px 0 0}dt{color:#5b6475}dd{margin:0;font-family:ui-monospace,monospace;word-break:break-all}\
table{border-collapse:collapse;width:100%;margin:8px 0;font-size:13px}th,td{padding:3px 8px;border-bottom:1px solid #eceef2;text-align:right;vertical-align:top}\
th:first-child,td:first-child{text-align:left}th{color:#5b6475;font-weight:600}td.text{text-align:left;font-family:ui-monospace,monospace;font-size:12px;word-break:break-word}\
.pair{display:flex;gap:8px;flex-wrap:wrap}.pair svg.plot{flex:1 1 360px;min-width:0}\
svg.plot{width:100%;height:auto;display:block}svg text{font:11px system-ui,sans-serif;fill:#3a4252}\
.muted{color:#6b7385}.reasons li{font-family:ui-monospace,monospace;font-size:12px;margin:3px 0}\
.root{border-left:4px solid #d43d3d;padding:6px 10px;background:#fdf3f3;margin:8px 0;font-family:ui-monospace,monospace;font-size:12px}\
.diff{background:#fff5d6}a{color:#0b5cad}";

const SCRIPT: &str = "(function(){var r=document.documentElement;\
function drawn(s){var b=s.getBBox();return b.width>0&&b.height>0&&s.querySelector('rect,path,circle,line')!==null;}\
var all=document.querySelectorAll('svg.plot'),n=0;all.forEach(function(s){if(drawn(s))n++;});\
r.setAttribute('data-plots-drawn',String(n));r.setAttribute('data-plots-total',String(all.length));\
var t=0;document.querySelectorAll('svg.timeseries').forEach(function(s){if(drawn(s)&&s.querySelector('path.band'))t++;});\
r.setAttribute('data-timeseries-drawn',String(t));\
var f=0;document.querySelectorAll('.fault-mark').forEach(function(e){var b=e.getBoundingClientRect();if(b.width>0||b.height>0)f++;});\
r.setAttribute('data-fault-marks-drawn',String(f));\
var i=0;document.querySelectorAll('#inputs tr').forEach(function(e){if(e.getBoundingClientRect().height>0)i++;});\
r.setAttribute('data-input-rows-drawn',String(i));})();";

/// The page's head and opening, titled `title`.
fn open_page(h: &mut String, title: &str) {
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{}</title><style>{STYLE}</style></head><body><main>",
        xml_escape(title)
    );
}

fn close_page(h: &mut String) {
    let _ = writeln!(h, "</main><script>{SCRIPT}</script></body></html>");
}

/// Renders the report of one run.
pub fn render(data: &ReportData<'_>) -> String {
    let s = data.summary;
    let mut h = String::with_capacity(128 << 10);
    open_page(&mut h, &format!("{} / {} — tg-wasm run {}", s.plan, s.test_case, s.run_id));
    let faults = sections::fault_spans(data.inputs, &data.group_names());
    sections::header(&mut h, s);
    sections::inputs(&mut h, data, &faults);
    sections::outcomes(&mut h, data, &faults);
    sections::metrics(&mut h, data, &faults);
    sections::states(&mut h, data, &faults);
    close_page(&mut h);
    h
}
