//! The sections of one run's page: the header, the inputs (with the fault
//! timeline), outcomes (root cause first, failed and slowest instances linked
//! to their logs, instances ending over virtual time), result metrics, and
//! the sync states over virtual time.

use super::figures;
use super::plot::{self, FaultSpan, Frame, Scale};
use super::{ReportData, SummaryView, outcome_color};
use crate::metrics::aggregate::{MetricAggregate, Series};
use crate::run::faults::FaultKind;
use crate::run::record::RecordedRun;
use crate::text::{duration_ns, num, xml_escape};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// Failed instances listed, earliest first; the rest are counted.
const FAILED_LISTED: usize = 20;
/// Slowest instances listed.
const SLOWEST_LISTED: usize = 10;
/// States drawn in the timeline; the rest are listed in the table only.
const MAX_STATES_PLOTTED: usize = 12;
/// A reason is cut to this many characters in tables; the full text is in `outcomes.jsonl`.
const REASON_CHARS: usize = 240;

pub fn header(h: &mut String, s: &SummaryView) {
    let class = if s.outcome == "success" { "success" } else { "failure" };
    let _ = write!(
        h,
        "<header id=\"run\"><h1>{} / {} <span class=\"badge {class}\">{}</span></h1><dl>\
         <dt>run</dt><dd>{}</dd><dt>instances</dt><dd>{}</dd><dt>seed</dt><dd>{}</dd><dt>ended</dt><dd>{}</dd>\
         <dt>virtual time</dt><dd>{}</dd><dt>wall time</dt><dd>{:.2} s</dd><dt>events</dt><dd>{}</dd>\
         <dt>trace digest</dt><dd>{} ({} records)</dd></dl></header>",
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
        xml_escape(&s.digest),
        s.trace_events
    );
    if let Some(why) = &s.incomplete {
        // Before anything else on the page: what follows is not the whole run.
        let _ = write!(
            h,
            "<div class=\"root\" id=\"incomplete\">This run directory is incomplete, so this page is not the \
             whole run's: {}</div>",
            xml_escape(why)
        );
    }
}

/// Instances `seqs` in words: a group's name when they are exactly its
/// instances, else their numbers.
fn whom(seqs: &[u32], inputs: &RecordedRun) -> String {
    let mut start = 0u32;
    let set: BTreeSet<u32> = seqs.iter().copied().collect();
    let mut names = Vec::new();
    let mut covered = BTreeSet::new();
    for g in &inputs.groups {
        let range: BTreeSet<u32> = (start..start + g.instances).collect();
        if !range.is_empty() && range.is_subset(&set) {
            names.push(g.id.clone());
            covered.extend(range);
        }
        start += g.instances;
    }
    let rest: Vec<String> = set.difference(&covered).map(u32::to_string).collect();
    if !rest.is_empty() {
        let shown: Vec<String> = rest.iter().take(8).cloned().collect();
        let more = if rest.len() > 8 { format!(" and {} more", rest.len() - 8) } else { String::new() };
        names.push(format!("instance{} {}{more}", if rest.len() == 1 { "" } else { "s" }, shown.join(", ")));
    }
    names.join(" + ")
}

/// The composition's faults as spans: each partition until the heal of the
/// same paths (a clog until its release), or to the end; crashes and restarts
/// as instants.
pub fn fault_spans(inputs: &RecordedRun, _groups: &[String]) -> Vec<FaultSpan> {
    let mut faults: Vec<&crate::run::ScheduledFault> = inputs.faults.iter().collect();
    faults.sort_by_key(|f| f.at_ns);
    let mut spans: Vec<FaultSpan> = Vec::new();
    let mut open: Vec<(usize, &'static str, &crate::run::faults::Paths)> = Vec::new();
    for fault in faults {
        match &fault.what {
            FaultKind::Partition(p) | FaultKind::Clog(p) => {
                let kind = if matches!(fault.what, FaultKind::Partition(_)) { "partition" } else { "clog" };
                let arrow = if p.both_ways { "↔" } else { "→" };
                spans.push(FaultSpan {
                    kind,
                    from_ns: fault.at_ns,
                    to_ns: None,
                    instant: false,
                    whom: format!("{} {arrow} {}", whom(&p.from, inputs), whom(&p.to, inputs)),
                });
                open.push((spans.len() - 1, kind, p));
            }
            FaultKind::Heal(p) | FaultKind::Release(p) => {
                let kind = if matches!(fault.what, FaultKind::Heal(_)) { "partition" } else { "clog" };
                let same = |q: &crate::run::faults::Paths| {
                    (q.from == p.from && q.to == p.to) || (q.both_ways && q.from == p.to && q.to == p.from)
                };
                if let Some(at) = open.iter().position(|(_, k, q)| *k == kind && same(q)) {
                    let (i, ..) = open.remove(at);
                    spans[i].to_ns = Some(fault.at_ns);
                }
            }
            FaultKind::Crash { instances } | FaultKind::Restart { instances } => {
                let kind = if matches!(fault.what, FaultKind::Crash { .. }) { "crash" } else { "restart" };
                spans.push(FaultSpan {
                    kind,
                    from_ns: fault.at_ns,
                    to_ns: None,
                    instant: true,
                    whom: whom(instances, inputs),
                });
            }
        }
    }
    spans
}

fn params_text(params: &BTreeMap<String, String>) -> String {
    if params.is_empty() {
        return "–".into();
    }
    params.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
}

/// What the run was asked to do: the plan, groups with their parameters, seed,
/// limits, network, versions, and the fault timeline.
pub fn inputs(h: &mut String, data: &ReportData<'_>, faults: &[FaultSpan]) {
    let i = data.inputs;
    h.push_str("<section id=\"inputs\"><h2>Inputs</h2><table>");
    let mut row = |name: &str, value: String| {
        let _ = write!(h, "<tr><th>{}</th><td class=\"text\">{}</td></tr>", xml_escape(name), xml_escape(&value));
    };
    if let Some(c) = &i.composition {
        let name = c.name.as_deref().map(|n| format!("{n} ")).unwrap_or_default();
        row("composition", format!("{name}({})", c.file));
    }
    row("plan", format!("{} (sha256 {})", i.component_path.display(), &i.component_sha256));
    row("test case", i.test_case.clone());
    row("seed", i.seed.to_string());
    row("parameters, every group", params_text(&i.global_params));
    row("memory limit, fuel", format!("{} MiB, {} units", i.engine.memory_limit >> 20, i.engine.fuel));
    row("sync latency", duration_ns(i.sync_latency_ns));
    if let Some(t) = i.virtual_timeout_ns {
        row("virtual time limit", duration_ns(t));
    }
    if !i.network.is_flat() {
        let regions: Vec<&str> = i.network.regions.iter().map(|r| r.name.as_str()).collect();
        let mut parts = Vec::new();
        if i.network.ipv6 {
            parts.push("IPv6 on".to_string());
        }
        if !regions.is_empty() {
            parts.push(format!("regions {}", regions.join(", ")));
        }
        for g in &i.network.groups {
            let mut what = Vec::new();
            what.extend(g.subnet.as_ref().map(|s| format!("subnet {s}")));
            what.extend(g.region.as_ref().map(|r| format!("region {r}")));
            what.extend(g.inbound.as_ref().map(|r| format!("inbound {r}")));
            what.extend(g.nat.as_ref().map(|n| format!("NAT {}/{}", n.mapping, n.filtering)));
            parts.push(format!("{}: {}", g.id, what.join(", ")));
        }
        row("network", parts.join("; "));
    }
    row("tg-wasm", i.tg_wasm_version.clone());
    h.push_str(
        "</table><h3>Groups</h3><table><tr><th>group</th><th>instances</th><th>seqs</th><th>parameters</th></tr>",
    );
    let mut start = 0u32;
    for (gi, g) in i.groups.iter().enumerate() {
        let _ = write!(
            h,
            "<tr><td><span style=\"color:{}\">■</span> {}</td><td>{}</td><td>{}–{}</td><td class=\"text\">{}</td></tr>",
            plot::color(gi),
            xml_escape(&g.id),
            g.instances,
            start,
            start + g.instances.saturating_sub(1),
            xml_escape(&params_text(&g.params))
        );
        start += g.instances;
    }
    h.push_str("</table>");
    if !faults.is_empty() {
        h.push_str("<h3>Faults</h3><p class=\"muted\">Shaded on every time axis below: partitions red, clogs orange; crashes and restarts dashed.</p><table><tr><th>at</th><th>until</th><th>fault</th><th>between</th></tr>");
        for f in faults {
            let until = match (f.instant, f.to_ns) {
                (true, _) => "–".to_string(),
                (false, Some(t)) => duration_ns(t),
                (false, None) => "the end".to_string(),
            };
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td class=\"text\">{}</td><td class=\"text\">{}</td></tr>",
                duration_ns(f.from_ns),
                until,
                f.kind,
                xml_escape(&f.whom)
            );
        }
        h.push_str("</table>");
    }
    h.push_str("</section>");
}

/// Links to instance `seq`'s logs, if it left any.
fn log_links(data: &ReportData<'_>, seq: u32) -> String {
    if !data.logs.contains(&seq) {
        return "<span class=\"muted\">none</span>".into();
    }
    ["stdout", "stderr", "messages"]
        .iter()
        .map(|f| format!("<a href=\"instances/{seq}/{f}.log\">{f}</a>"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn cut(text: &str) -> String {
    if text.chars().count() <= REASON_CHARS {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(REASON_CHARS).collect();
    cut.push('…');
    cut
}

pub fn outcomes(h: &mut String, data: &ReportData<'_>, faults: &[FaultSpan]) {
    let s = data.summary;
    h.push_str("<section id=\"outcomes\"><h2>Outcomes</h2>");
    outcome_bars(h, s);
    // The reasons of every group, earliest first: the first is where to start looking.
    let mut reasons: Vec<(&str, &super::ReasonView)> =
        s.groups.iter().flat_map(|g| g.reasons.iter().map(move |r| (g.id.as_str(), r))).collect();
    reasons.sort_by_key(|(_, r)| (r.first_at_ns, r.outcome == "stalled", std::cmp::Reverse(r.count), r.first_instance));
    if let Some((group, first)) = reasons.first() {
        let _ = write!(
            h,
            "<div class=\"root\">first: instance <a href=\"#instance-{seq}\">{seq}</a> ({}) {} at {}: {}</div>",
            xml_escape(group),
            xml_escape(&first.outcome),
            duration_ns(first.first_at_ns),
            xml_escape(&cut(&first.reason)),
            seq = first.first_instance
        );
        h.push_str("<h3>Reasons, earliest first</h3><ul class=\"reasons\">");
        for (group, r) in &reasons {
            let whom: Vec<String> =
                r.waiting_for.iter().map(|w| format!("{} ({})", w.instance, xml_escape(&w.outcome))).collect();
            let waiting = if whom.is_empty() { String::new() } else { format!(" — waiting for {}", whom.join(", ")) };
            let _ = write!(
                h,
                "<li><span style=\"color:{}\">■</span> {} — {} × {} at {} (first: instance {}): {}{waiting}</li>",
                outcome_color(&r.outcome),
                xml_escape(group),
                r.count,
                xml_escape(&r.outcome),
                duration_ns(r.first_at_ns),
                r.first_instance,
                xml_escape(&cut(&r.reason))
            );
        }
        h.push_str("</ul>");
    }
    ends_over_time(h, data, faults);
    instance_tables(h, data);
    h.push_str("</section>");
}

fn outcome_bars(h: &mut String, s: &SummaryView) {
    let label_w = 150.0;
    let bar_w = plot::WIDTH - label_w - 90.0;
    let row = 30.0;
    let height = 30.0 + row * s.groups.len() as f64;
    let max_total = s.groups.iter().map(|g| g.total).max().unwrap_or(1).max(1) as f64;
    plot::open(h, "outcomes", plot::WIDTH, height, "outcomes per group");
    for (i, name) in ["ok", "failed", "crashed", "stalled"].iter().enumerate() {
        let x = label_w + i as f64 * 80.0;
        let _ = write!(
            h,
            "<rect x=\"{x}\" y=\"4\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{}\" y=\"13\">{name}</text>",
            outcome_color(name),
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
        for (count, what) in [(g.ok, "ok"), (g.failed, "failed"), (g.crashed, "crashed"), (g.stalled, "stalled")] {
            if count == 0 {
                continue;
            }
            let w = (bar_w * f64::from(count) / max_total).max(1.0);
            let _ = write!(
                h,
                "<rect x=\"{x:.1}\" y=\"{y}\" width=\"{w:.1}\" height=\"20\" fill=\"{}\"><title>{}: {count} {what}</title></rect>",
                outcome_color(what),
                xml_escape(&g.id)
            );
            x += w;
        }
        let _ = write!(h, "<text x=\"{:.1}\" y=\"{}\">{}/{} ok</text>", x + 6.0, y + 15.0, g.ok, g.total);
    }
    h.push_str("</svg>");
}

/// How many instances had ended, and how, over virtual time.
fn ends_over_time(h: &mut String, data: &ReportData<'_>, faults: &[FaultSpan]) {
    if data.outcomes.is_empty() {
        return;
    }
    let end_ns = data.end_ns();
    let height = 200.0;
    let f = Frame::new(plot::WIDTH, height);
    let t = Scale::Linear { lo: 0.0, hi: end_ns.max(1) as f64 };
    let y = Scale::Linear { lo: 0.0, hi: f64::from(data.summary.instances.max(1)) };
    h.push_str("<h3>Instances ending over virtual time</h3>");
    plot::open(h, "ends", plot::WIDTH, height, "instances ending over virtual time");
    let present: Vec<&str> = ["ok", "failed", "crashed", "stalled"]
        .into_iter()
        .filter(|o| data.outcomes.iter().any(|l| l.outcome.as_str() == *o))
        .collect();
    let entries: Vec<(String, &str)> = present.iter().map(|o| (o.to_string(), outcome_color(o))).collect();
    plot::legend(h, &f, &entries);
    plot::fault_marks(h, &f, end_ns, faults);
    plot::y_axis(h, &f, &y, num, "instances ended");
    for outcome in present {
        let mut times: Vec<u64> =
            data.outcomes.iter().filter(|l| l.outcome.as_str() == outcome).map(|l| l.at_ns).collect();
        times.sort_unstable();
        let mut d = format!("M{:.2},{:.2}", f.x(0.0), f.y(0.0));
        for (k, at) in times.iter().enumerate() {
            let x = f.x(t.frac(*at as f64));
            let _ = write!(d, " H{x:.2} V{:.2}", f.y(y.frac((k + 1) as f64)));
        }
        let _ = write!(d, " H{:.2}", f.x(1.0));
        let _ = write!(
            h,
            "<path d=\"{d}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"><title>{outcome}: {}</title></path>",
            outcome_color(outcome),
            times.len()
        );
    }
    plot::time_axis(h, &f, end_ns);
    h.push_str("</svg>");
}

/// The failed instances, earliest first, and the slowest ones, with links to their logs.
fn instance_tables(h: &mut String, data: &ReportData<'_>) {
    let mut failed: Vec<&super::OutcomeLine> = data.outcomes.iter().filter(|l| l.outcome.as_str() != "ok").collect();
    failed.sort_by_key(|l| (l.at_ns, l.outcome.as_str() == "stalled", l.instance));
    let head = "<tr><th>instance</th><th>group</th><th>outcome</th><th>ended at</th><th>fuel burned</th><th>reason</th><th>logs</th></tr>";
    if !failed.is_empty() {
        let _ = write!(h, "<h3>Instances that did not succeed ({}), earliest first</h3><table>{head}", failed.len());
        for l in failed.iter().take(FAILED_LISTED) {
            instance_row(h, data, l);
        }
        h.push_str("</table>");
        if failed.len() > FAILED_LISTED {
            let _ = write!(
                h,
                "<p class=\"muted\">{} more in <code>outcomes.jsonl</code>.</p>",
                failed.len() - FAILED_LISTED
            );
        }
    }
    let mut slowest: Vec<&super::OutcomeLine> = data.outcomes.iter().filter(|l| l.outcome.as_str() == "ok").collect();
    slowest.sort_by_key(|l| (std::cmp::Reverse(l.at_ns), l.instance));
    if slowest.len() > 1 {
        let _ = write!(h, "<h3>Slowest instances to succeed</h3><table>{head}");
        for l in slowest.iter().take(SLOWEST_LISTED) {
            instance_row(h, data, l);
        }
        h.push_str("</table>");
    }
}

fn instance_row(h: &mut String, data: &ReportData<'_>, l: &super::OutcomeLine) {
    let _ = write!(
        h,
        "<tr id=\"instance-{seq}\"><td>{seq}</td><td>{}</td><td><span style=\"color:{}\">■</span> {}</td><td>{}</td><td>{}</td><td class=\"text\">{}</td><td>{}</td></tr>",
        xml_escape(&l.group),
        outcome_color(l.outcome.as_str()),
        l.outcome.as_str(),
        duration_ns(l.at_ns),
        fuel_burned(l.fuel_used, data.inputs.engine.fuel),
        xml_escape(&cut(l.reason.as_deref().unwrap_or(""))),
        log_links(data, l.instance),
        seq = l.instance
    );
}

/// Fuel an instance burned, with its share of the budget; a dash where it
/// was not counted (directories written before it was).
fn fuel_burned(used: u64, budget: u64) -> String {
    if used == 0 {
        return "—".to_string();
    }
    format!("{used} ({}%)", crate::text::percent(used, budget))
}

/// A metric as plotted: its name, kind and unit.
type MetricKey<'a> = (&'a str, &'a str, Option<&'a str>);

pub fn metrics(h: &mut String, data: &ReportData<'_>, faults: &[FaultSpan]) {
    let s = data.summary;
    let names = data.group_names();
    h.push_str("<section id=\"metrics\"><h2>Result metrics</h2>");
    if data.results.is_empty() {
        h.push_str("<p class=\"muted\">The plan recorded no result metric.</p>");
    }
    let mut by_metric: BTreeMap<MetricKey<'_>, Vec<&Series>> = BTreeMap::new();
    for series in data.results {
        by_metric.entry((series.name.as_str(), series.kind.as_str(), series.unit.as_deref())).or_default().push(series);
    }
    let mut constant: Vec<(&Series, &str)> = Vec::new();
    let end_ns = data.end_ns();
    for ((name, kind, unit), series) in by_metric {
        if figures::is_constant(&series) {
            constant.extend(series.iter().map(|x| (*x, names.get(x.group).map_or("?", String::as_str))));
            continue;
        }
        let unit_text = unit.map(|u| format!(" ({})", xml_escape(u))).unwrap_or_default();
        let _ = write!(
            h,
            "<h3>{}{unit_text} <span class=\"muted\">{kind}</span></h3><div class=\"pair\">",
            xml_escape(name)
        );
        figures::histogram(h, &series, &names, unit, plot::HALF_WIDTH);
        figures::cdf(h, &series, &names, unit, plot::HALF_WIDTH);
        h.push_str("</div>");
        let over: Vec<&crate::metrics::timeline::TimeSeries> = data
            .over_time
            .iter()
            .filter(|t| t.name == name && t.kind.as_str() == kind && t.unit.as_deref() == unit)
            .collect();
        if over.iter().any(|t| t.last_ns > t.first_ns) {
            figures::over_time(h, &over, &names, unit, end_ns, faults);
        } else if let Some(t) = over.first() {
            let _ = write!(
                h,
                "<p class=\"muted\">Every value recorded at {} of virtual time.</p>",
                duration_ns(t.first_ns)
            );
        }
        aggregate_table(h, s, name, kind, unit);
    }
    figures::constant_table(h, &constant);
    h.push_str("</section>");
}

fn aggregate_table(h: &mut String, s: &SummaryView, name: &str, kind: &str, unit: Option<&str>) {
    let rows: Vec<&MetricAggregate> = s
        .metrics
        .results
        .iter()
        .filter(|a| a.name == name && a.kind.as_str() == kind && a.unit.as_deref() == unit)
        .collect();
    h.push_str(
        "<table><tr><th>group</th><th>count</th><th>mean</th><th>min</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr>",
    );
    let opt = |v: Option<f64>| v.map_or_else(|| "–".into(), num);
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

/// Every sync state's signals over virtual time, barrier passes as dots, faults behind.
pub fn states(h: &mut String, data: &ReportData<'_>, faults: &[FaultSpan]) {
    let states = data.states;
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
    let t_end = data.end_ns();
    let y_max = signals.values().flat_map(|v| v.iter().map(|p| p.1)).max().unwrap_or(1).max(1) as f64;
    let height = 260.0;
    let f = Frame::new(plot::WIDTH, height);
    let t = Scale::Linear { lo: 0.0, hi: t_end.max(1) as f64 };
    let y = Scale::Linear { lo: 0.0, hi: y_max };
    plot::open(h, "states", plot::WIDTH, height, "sync states over virtual time");
    let entries: Vec<(String, &str)> =
        order.iter().take(4).enumerate().map(|(i, s)| (s.to_string(), plot::color(i))).collect();
    plot::legend(h, &f, &entries);
    plot::fault_marks(h, &f, t_end, faults);
    plot::y_axis(h, &f, &y, num, "signals");
    for (i, state) in order.iter().take(MAX_STATES_PLOTTED).enumerate() {
        let color = plot::color(i);
        let mut d = format!("M{:.2},{:.2}", f.x(0.0), f.y(0.0));
        let mut last = 0u64;
        for &(at, c) in signals.get(state).map(Vec::as_slice).unwrap_or(&[]) {
            let _ = write!(d, " H{:.2} V{:.2}", f.x(t.frac(at as f64)), f.y(y.frac(c as f64)));
            last = c;
        }
        let _ = write!(d, " H{:.2}", f.x(1.0));
        let _ = write!(
            h,
            "<path d=\"{d}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"><title>{}: {last} signals</title></path>",
            xml_escape(state)
        );
        for &(at, n) in passes.get(state).map(Vec::as_slice).unwrap_or(&[]) {
            // Signals are in time order: the level at `at` is the last at or before it.
            let level = signals
                .get(state)
                .and_then(|v| v.partition_point(|p| p.0 <= at).checked_sub(1).map(|i| v[i].1))
                .unwrap_or(0);
            let _ = write!(
                h,
                "<circle cx=\"{:.2}\" cy=\"{:.2}\" r=\"4\" fill=\"#fff\" stroke=\"{color}\" stroke-width=\"2\"><title>{}: {n} barrier(s) passed at {}</title></circle>",
                f.x(t.frac(at as f64)),
                f.y(y.frac(level as f64)),
                xml_escape(state),
                duration_ns(at)
            );
        }
    }
    plot::time_axis(h, &f, t_end);
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
