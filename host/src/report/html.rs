//! `report.html`: one self-contained page a person looks at after a run.
//!
//! Plots are inline SVG drawn here, in Rust, so the page needs no script,
//! font or stylesheet from anywhere: it opens offline, from a CI artifact or
//! an e-mail attachment, and renders the same everywhere. Three kinds of plot:
//! outcomes per group (stacked bars), each result metric's distribution (a
//! histogram stacked by group) and the sync states reached over virtual time
//! (a step line per state, barrier passes as dots). A few lines of inline
//! script only count the plots that the browser laid out and note the number
//! on the root element (`data-plots-drawn`), which tests read back.
//!
//! This module renders; it does not read files or aggregate.

use super::StateLine;
use crate::metrics::Kind;
use crate::metrics::aggregate::{MetricAggregate, MetricsSummary, Series};
use crate::text::{duration_ns, num, xml_escape};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
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
    /// Reasons.
    #[serde(default)]
    pub reasons: Vec<ReasonView>,
}

/// One reason of a group.
#[derive(Debug, Deserialize)]
pub struct ReasonView {
    /// `failed` or `crashed`.
    pub outcome: String,
    /// Reason text.
    pub reason: String,
    /// Instances.
    pub count: u32,
    /// First instance.
    pub first_instance: u32,
}

const OK: &str = "#2e9d52";
const FAILED: &str = "#e08a00";
const CRASHED: &str = "#d43d3d";
/// Distinguishable on white and for the common colour-vision deficiencies (Okabe–Ito).
const PALETTE: [&str; 8] = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#555555"];
/// Plot width in SVG units; the page scales it to the window.
const WIDTH: f64 = 760.0;
/// Histogram bins: enough to show a shape, few enough to read.
const BINS: usize = 40;
/// States drawn in the timeline; the rest are listed in the table only.
const MAX_STATES_PLOTTED: usize = 12;

const STYLE: &str = "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1d2330;background:#f5f6f8}\
main{max-width:860px;margin:0 auto;padding:24px}\
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:0 0 8px}h3{font-size:15px;margin:18px 0 6px}\
section,header{background:#fff;border:1px solid #dde1e7;border-radius:8px;padding:16px 18px;margin-bottom:16px}\
.badge{display:inline-block;padding:2px 10px;border-radius:12px;color:#fff;font-weight:600;font-size:13px}\
.success{background:#2e9d52}.failure{background:#d43d3d}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:10px 0 0}dt{color:#5b6475}dd{margin:0;font-family:ui-monospace,monospace;word-break:break-all}\
table{border-collapse:collapse;width:100%;margin:8px 0;font-size:13px}th,td{padding:3px 8px;border-bottom:1px solid #eceef2;text-align:right}\
th:first-child,td:first-child{text-align:left}th{color:#5b6475;font-weight:600}\
svg.plot{width:100%;height:auto;display:block}svg text{font:11px system-ui,sans-serif;fill:#3a4252}\
.muted{color:#6b7385}.reasons li{font-family:ui-monospace,monospace;font-size:12px;margin:2px 0}";

const SCRIPT: &str = "(function(){var all=document.querySelectorAll('svg.plot'),n=0;\
all.forEach(function(s){var b=s.getBBox();if(b.width>0&&b.height>0&&s.querySelector('rect,path,circle'))n++;});\
var r=document.documentElement;r.setAttribute('data-plots-drawn',String(n));r.setAttribute('data-plots-total',String(all.length));})();";

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), num)
}

/// Renders the page.
pub fn render(summary: &SummaryView, results: &[Series], states: &[StateLine]) -> String {
    let mut h = String::with_capacity(64 << 10);
    let title = format!("{} / {} — tg-wasm run {}", summary.plan, summary.test_case, summary.run_id);
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{}</title><style>{STYLE}</style></head><body><main>",
        xml_escape(&title)
    );
    header(&mut h, summary);
    outcomes(&mut h, summary);
    metrics(&mut h, summary, results);
    timeline(&mut h, summary, states);
    let _ = writeln!(h, "</main><script>{SCRIPT}</script></body></html>");
    h
}

fn header(h: &mut String, s: &SummaryView) {
    let class = if s.outcome == "success" { "success" } else { "failure" };
    let _ = write!(
        h,
        "<header id=\"run\"><h1>{} / {} <span class=\"badge {class}\">{}</span></h1><dl>\
         <dt>run</dt><dd>{}</dd><dt>instances</dt><dd>{}</dd><dt>seed</dt><dd>{}</dd><dt>ended</dt><dd>{}</dd>\
         <dt>virtual time</dt><dd>{}</dd><dt>wall time</dt><dd>{:.2} s</dd><dt>events</dt><dd>{}</dd>\
         <dt>trace digest</dt><dd>{}</dd></dl></header>",
        xml_escape(&s.plan),
        xml_escape(&s.test_case),
        xml_escape(&s.outcome),
        xml_escape(&s.run_id),
        s.instances,
        s.seed,
        xml_escape(&s.end),
        duration_ns(s.virtual_time_ns),
        s.wall_time_s,
        s.sim_events,
        xml_escape(&s.digest)
    );
}

fn outcomes(h: &mut String, s: &SummaryView) {
    h.push_str("<section id=\"outcomes\"><h2>Outcomes per group</h2>");
    let label_w = 150.0;
    let bar_w = WIDTH - label_w - 90.0;
    let row = 30.0;
    let height = 30.0 + row * s.groups.len() as f64;
    let max_total = s.groups.iter().map(|g| g.total).max().unwrap_or(1).max(1) as f64;
    let _ = write!(
        h,
        "<svg class=\"plot\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-label=\"outcomes per group\">"
    );
    for (i, (name, color)) in [("ok", OK), ("failed", FAILED), ("crashed", CRASHED)].iter().enumerate() {
        let x = label_w + i as f64 * 80.0;
        let _ = write!(
            h,
            "<rect x=\"{x}\" y=\"4\" width=\"10\" height=\"10\" fill=\"{color}\"/><text x=\"{}\" y=\"13\">{name}</text>",
            x + 14.0
        );
    }
    for (i, g) in s.groups.iter().enumerate() {
        let y = 24.0 + row * i as f64;
        let _ = write!(
            h,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            label_w - 8.0,
            y + 15.0,
            xml_escape(&g.id)
        );
        let mut x = label_w;
        for (count, color, what) in [(g.ok, OK, "ok"), (g.failed, FAILED, "failed"), (g.crashed, CRASHED, "crashed")] {
            if count == 0 {
                continue;
            }
            let w = (bar_w * f64::from(count) / max_total).max(1.0);
            let _ = write!(
                h,
                "<rect x=\"{x:.1}\" y=\"{y}\" width=\"{w:.1}\" height=\"20\" fill=\"{color}\"><title>{}: {count} {what}</title></rect>",
                xml_escape(&g.id)
            );
            x += w;
        }
        let _ = write!(h, "<text x=\"{:.1}\" y=\"{}\">{}/{} ok</text>", x + 6.0, y + 15.0, g.ok, g.total);
    }
    h.push_str("</svg>");
    let reasons: Vec<(&GroupView, &ReasonView)> =
        s.groups.iter().flat_map(|g| g.reasons.iter().map(move |r| (g, r))).collect();
    if !reasons.is_empty() {
        h.push_str("<h3>Reasons</h3><ul class=\"reasons\">");
        for (g, r) in reasons {
            let _ = write!(
                h,
                "<li>{} — {} × {} (first: instance {}): {}</li>",
                xml_escape(&g.id),
                r.count,
                xml_escape(&r.outcome),
                r.first_instance,
                xml_escape(&r.reason)
            );
        }
        h.push_str("</ul>");
    }
    h.push_str("</section>");
}

/// A metric as plotted: its identity and the series of each group.
type MetricKey<'a> = (&'a str, &'a str, Option<&'a str>);

fn metrics(h: &mut String, s: &SummaryView, results: &[Series]) {
    h.push_str("<section id=\"metrics\"><h2>Result metrics</h2>");
    if results.is_empty() {
        h.push_str("<p class=\"muted\">The plan recorded no result metric.</p>");
    }
    let mut by_metric: BTreeMap<MetricKey<'_>, Vec<&Series>> = BTreeMap::new();
    for series in results {
        by_metric.entry((series.name.as_str(), series.kind.as_str(), series.unit.as_deref())).or_default().push(series);
    }
    for ((name, kind, unit), series) in by_metric {
        let unit_text = unit.map(|u| format!(" ({})", xml_escape(u))).unwrap_or_default();
        let _ = write!(h, "<h3>{}{unit_text} <span class=\"muted\">{kind}</span></h3>", xml_escape(name));
        histogram(h, s, &series, unit);
        let rows: Vec<&MetricAggregate> = s
            .metrics
            .results
            .iter()
            .filter(|a| a.name == name && a.kind.as_str() == kind && a.unit.as_deref() == unit)
            .collect();
        h.push_str(
            "<table><tr><th>group</th><th>count</th><th>mean</th><th>min</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>",
        );
        for a in rows {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                xml_escape(&a.group),
                a.count,
                opt(a.mean),
                opt(a.min),
                opt(a.p50),
                opt(a.p90),
                opt(a.p99),
                opt(a.p999),
                opt(a.max)
            );
        }
        h.push_str("</table>");
    }
    h.push_str("</section>");
}

/// A histogram of one metric, bars stacked by group.
fn histogram(h: &mut String, s: &SummaryView, series: &[&Series], unit: Option<&str>) {
    let lo = series.iter().filter_map(|x| x.values.first()).copied().fold(f64::INFINITY, f64::min);
    let hi = series.iter().filter_map(|x| x.values.last()).copied().fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() || !hi.is_finite() {
        h.push_str("<p class=\"muted\">No finite value.</p>");
        return;
    }
    let (left, right, top, bottom) = (56.0, 16.0, 26.0, 34.0);
    let height = 220.0;
    let pw = WIDTH - left - right;
    let ph = height - top - bottom;
    // One bin when every value is the same: a single bar at that value.
    let bins = if hi > lo { BINS } else { 1 };
    let width = if hi > lo { hi - lo } else { 1.0 };
    let mut counts = vec![vec![0u64; series.len()]; bins];
    for (gi, x) in series.iter().enumerate() {
        for v in &x.values {
            let b = (((v - lo) / width) * bins as f64) as usize;
            counts[b.min(bins - 1)][gi] += 1;
        }
    }
    let max_count = counts.iter().map(|c| c.iter().sum::<u64>()).max().unwrap_or(1).max(1);
    let _ = write!(h, "<svg class=\"plot\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-label=\"distribution\">");
    // Legend: one swatch per group.
    let mut lx = left;
    for x in series {
        let name = s.groups.get(x.group).map_or("?", |g| g.id.as_str());
        let color = PALETTE[x.group % PALETTE.len()];
        let _ = write!(
            h,
            "<rect x=\"{lx}\" y=\"6\" width=\"10\" height=\"10\" fill=\"{color}\"/><text x=\"{}\" y=\"15\">{} (n={})</text>",
            lx + 14.0,
            xml_escape(name),
            x.values.len()
        );
        lx += 24.0 + 7.0 * (name.len() as f64 + 8.0);
    }
    let per_instance = series.first().is_some_and(|x| matches!(x.kind, Kind::Counter | Kind::Gauge));
    axes(h, left, top, pw, ph, max_count as f64, if per_instance { "instances" } else { "values" });
    // A single value gets a narrow bar in the middle, not one that fills the plot.
    let bw = if bins == 1 { pw / BINS as f64 } else { pw / bins as f64 };
    let x0 = if bins == 1 { left + (pw - bw) / 2.0 } else { left };
    for (b, c) in counts.iter().enumerate() {
        let mut y = top + ph;
        let (b_lo, b_hi) = (lo + width * b as f64 / bins as f64, lo + width * (b + 1) as f64 / bins as f64);
        for (gi, &n) in c.iter().enumerate() {
            if n == 0 {
                continue;
            }
            let bh = ph * n as f64 / max_count as f64;
            y -= bh;
            let group = series[gi].group;
            let name = s.groups.get(group).map_or("?", |g| g.id.as_str());
            let range = if bins == 1 { num(lo) } else { format!("{} – {}", num(b_lo), num(b_hi)) };
            let _ = write!(
                h,
                "<rect x=\"{:.2}\" y=\"{y:.2}\" width=\"{:.2}\" height=\"{bh:.2}\" fill=\"{}\"><title>{}: {n} in [{range}]</title></rect>",
                x0 + bw * b as f64 + 0.5,
                (bw - 1.0).max(0.5),
                PALETTE[group % PALETTE.len()],
                xml_escape(name)
            );
        }
    }
    // X ticks: the range's ends and middle, in the metric's unit.
    let u = unit.map(|u| format!(" {}", xml_escape(u))).unwrap_or_default();
    let ticks: Vec<(f64, f64)> =
        if hi > lo { vec![(0.0, lo), (0.5, (lo + hi) / 2.0), (1.0, hi)] } else { vec![(0.5, lo)] };
    for (frac, v) in ticks {
        let x = left + pw * frac;
        let anchor = if frac == 0.0 {
            "start"
        } else if frac == 1.0 {
            "end"
        } else {
            "middle"
        };
        let _ = write!(
            h,
            "<line x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\" stroke=\"#8a93a5\"/><text x=\"{x}\" y=\"{}\" text-anchor=\"{anchor}\">{}{u}</text>",
            top + ph,
            top + ph + 4.0,
            top + ph + 17.0,
            num(v)
        );
    }
    h.push_str("</svg>");
}

/// The y axis with its top value, and the baseline.
fn axes(h: &mut String, left: f64, top: f64, pw: f64, ph: f64, y_max: f64, y_label: &str) {
    let _ = write!(
        h,
        "<line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{b}\" stroke=\"#8a93a5\"/>\
         <line x1=\"{left}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"#8a93a5\"/>\
         <line x1=\"{left}\" y1=\"{top}\" x2=\"{r}\" y2=\"{top}\" stroke=\"#eceef2\"/>\
         <text x=\"{tx}\" y=\"{ty}\" text-anchor=\"end\">{}</text><text x=\"{tx}\" y=\"{b}\" text-anchor=\"end\">0</text>\
         <text x=\"12\" y=\"{my}\" transform=\"rotate(-90 12 {my})\" text-anchor=\"middle\">{}</text>",
        num(y_max),
        xml_escape(y_label),
        b = top + ph,
        r = left + pw,
        tx = left - 6.0,
        ty = top + 4.0,
        my = top + ph / 2.0,
    );
}

fn timeline(h: &mut String, s: &SummaryView, states: &[StateLine]) {
    h.push_str("<section id=\"states\"><h2>Sync states over virtual time</h2>");
    if states.is_empty() {
        h.push_str("<p class=\"muted\">No sync state was signalled.</p></section>");
        return;
    }
    // Per state, in order of first appearance: signal steps and barrier passes.
    let mut order: Vec<&str> = Vec::new();
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut signals: BTreeMap<&str, Vec<(u64, u64)>> = BTreeMap::new();
    let mut passes: BTreeMap<&str, Vec<(u64, u64)>> = BTreeMap::new();
    for m in states {
        if seen.insert(&m.state) {
            order.push(&m.state);
        }
        let target = if m.kind == "signal" { &mut signals } else { &mut passes };
        target.entry(&m.state).or_default().push((m.t_ns, m.count));
    }
    let t_end = states.iter().map(|m| m.t_ns).max().unwrap_or(0).max(s.virtual_time_ns);
    let span = t_end.max(1) as f64;
    let y_max = signals.values().flat_map(|v| v.iter().map(|p| p.1)).max().unwrap_or(1).max(1) as f64;
    let (left, right, top, bottom) = (56.0, 16.0, 26.0, 34.0);
    let height = 260.0;
    let pw = WIDTH - left - right;
    let ph = height - top - bottom;
    let x_of = |t: u64| left + pw * t as f64 / span;
    let y_of = |c: u64| top + ph - ph * c as f64 / y_max;
    let _ = write!(
        h,
        "<svg class=\"plot\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-label=\"sync states over virtual time\">"
    );
    axes(h, left, top, pw, ph, y_max, "signals");
    for (i, state) in order.iter().take(MAX_STATES_PLOTTED).enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let lx = left + (i % 4) as f64 * 175.0;
        let ly = 6.0 + (i / 4) as f64 * 0.0;
        if i < 4 {
            let _ = write!(
                h,
                "<rect x=\"{lx}\" y=\"{ly}\" width=\"10\" height=\"10\" fill=\"{color}\"/><text x=\"{}\" y=\"{}\">{}</text>",
                lx + 14.0,
                ly + 9.0,
                xml_escape(state)
            );
        }
        let mut d = format!("M{:.2},{:.2}", x_of(0), y_of(0));
        let mut last = 0u64;
        for &(t, c) in signals.get(state).map(Vec::as_slice).unwrap_or(&[]) {
            let _ = write!(d, " H{:.2} V{:.2}", x_of(t), y_of(c));
            last = c;
        }
        let _ = write!(d, " H{:.2}", x_of(t_end));
        let _ = write!(
            h,
            "<path d=\"{d}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"><title>{}: {last} signals</title></path>",
            xml_escape(state)
        );
        for &(t, n) in passes.get(state).map(Vec::as_slice).unwrap_or(&[]) {
            // Signals are in time order: the level at `t` is the last at or before it.
            let level = signals
                .get(state)
                .and_then(|v| v.partition_point(|p| p.0 <= t).checked_sub(1).map(|i| v[i].1))
                .unwrap_or(0);
            let _ = write!(
                h,
                "<circle cx=\"{:.2}\" cy=\"{:.2}\" r=\"4\" fill=\"#fff\" stroke=\"{color}\" stroke-width=\"2\"><title>{}: {n} barrier(s) passed at {}</title></circle>",
                x_of(t),
                y_of(level),
                xml_escape(state),
                duration_ns(t)
            );
        }
    }
    for (frac, anchor) in [(0.0, "start"), (0.5, "middle"), (1.0, "end")] {
        let x = left + pw * frac;
        let _ = write!(
            h,
            "<text x=\"{x}\" y=\"{}\" text-anchor=\"{anchor}\">{}</text>",
            top + ph + 17.0,
            duration_ns((t_end as f64 * frac) as u64)
        );
    }
    h.push_str("</svg>");
    if t_end == 0 {
        h.push_str("<p class=\"muted\">Every state was reached at virtual time 0 (sync is instantaneous unless <code>--sync-latency</code> is set, and the plan did not wait on a clock).</p>");
    } else {
        h.push_str("<p class=\"muted\">Lines: signals so far; dots: barriers passing.</p>");
    }
    h.push_str(
        "<table><tr><th>state</th><th>signals</th><th>first signal</th><th>last signal</th><th>barriers passed</th><th>last pass</th></tr>",
    );
    for state in &order {
        let sig = signals.get(state).map(Vec::as_slice).unwrap_or(&[]);
        let pas = passes.get(state).map(Vec::as_slice).unwrap_or(&[]);
        let time = |v: Option<&(u64, u64)>| v.map_or_else(|| "–".to_string(), |p| duration_ns(p.0));
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            xml_escape(state),
            sig.last().map_or(0, |p| p.1),
            time(sig.first()),
            time(sig.last()),
            pas.iter().map(|p| p.1).sum::<u64>(),
            time(pas.last())
        );
    }
    h.push_str("</table></section>");
}
