//! Two runs side by side (`tg-wasm report A B`): what differs in their
//! inputs, their outcomes per group, and every result metric's quantiles
//! with the change from the first run to the second, over both runs' CDFs.

use super::plot::{self, Frame, Scale};
use super::{ReportData, close_page, open_page, outcome_color};
use crate::metrics::aggregate::{MetricAggregate, Series};
use crate::text::{duration_ns, num, xml_escape};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// Renders `a` and `b` side by side; `names` are what the page calls them (their directories).
pub fn render_comparison(a: &ReportData<'_>, b: &ReportData<'_>, names: (&str, &str)) -> String {
    let mut h = String::with_capacity(64 << 10);
    let (sa, sb) = (a.summary, b.summary);
    open_page(&mut h, &format!("{} vs {} — tg-wasm", names.0, names.1));
    let _ = write!(
        h,
        "<header id=\"run\"><h1>{} <span class=\"muted\">vs</span> {}</h1></header>",
        xml_escape(names.0),
        xml_escape(names.1)
    );
    runs(&mut h, a, b, names);
    outcomes(&mut h, a, b, names);
    metrics(&mut h, a, b, names);
    let _ = (sa, sb);
    close_page(&mut h);
    h
}

/// One row of a side-by-side table, marked when the two differ.
fn row(h: &mut String, name: &str, a: &str, b: &str) {
    let class = if a == b { "" } else { " class=\"diff\"" };
    let _ = write!(
        h,
        "<tr{class}><th>{}</th><td class=\"text\">{}</td><td class=\"text\">{}</td></tr>",
        xml_escape(name),
        xml_escape(a),
        xml_escape(b)
    );
}

fn runs(h: &mut String, a: &ReportData<'_>, b: &ReportData<'_>, names: (&str, &str)) {
    let (sa, sb) = (a.summary, b.summary);
    let _ = write!(
        h,
        "<section id=\"inputs\"><h2>Runs</h2><p class=\"muted\">Rows that differ are marked.</p><table><tr><th></th><th>{}</th><th>{}</th></tr>",
        xml_escape(names.0),
        xml_escape(names.1)
    );
    row(h, "outcome", &sa.outcome, &sb.outcome);
    row(h, "plan / case", &format!("{} / {}", sa.plan, sa.test_case), &format!("{} / {}", sb.plan, sb.test_case));
    row(h, "plan sha256", &a.inputs.component_sha256, &b.inputs.component_sha256);
    row(h, "instances", &sa.instances.to_string(), &sb.instances.to_string());
    row(h, "seed", &sa.seed.to_string(), &sb.seed.to_string());
    row(h, "ended", &sa.end, &sb.end);
    row(h, "virtual time", &duration_ns(sa.virtual_time_ns), &duration_ns(sb.virtual_time_ns));
    row(h, "wall time", &format!("{:.2} s", sa.wall_time_s), &format!("{:.2} s", sb.wall_time_s));
    row(h, "events", &sa.sim_events.to_string(), &sb.sim_events.to_string());
    row(h, "trace digest", &sa.digest, &sb.digest);
    row(h, "tg-wasm", &a.inputs.tg_wasm_version, &b.inputs.tg_wasm_version);
    // Parameters: every one either run sets, globally or per group.
    let params = |d: &ReportData<'_>| {
        let mut all: BTreeMap<String, String> = d.inputs.global_params.clone();
        for g in &d.inputs.groups {
            for (k, v) in &g.params {
                all.insert(format!("{} ({})", k, g.id), v.clone());
            }
        }
        all
    };
    let (pa, pb) = (params(a), params(b));
    let keys: BTreeSet<&String> = pa.keys().chain(pb.keys()).collect();
    for k in keys {
        let get = |p: &BTreeMap<String, String>| p.get(k).cloned().unwrap_or_else(|| "(default)".into());
        row(h, &format!("param {k}"), &get(&pa), &get(&pb));
    }
    h.push_str("</table></section>");
}

fn outcomes(h: &mut String, a: &ReportData<'_>, b: &ReportData<'_>, names: (&str, &str)) {
    let _ = write!(
        h,
        "<section id=\"outcomes\"><h2>Outcomes</h2><table><tr><th>group</th><th>run</th><th>ok</th><th>failed</th><th>crashed</th><th>stalled</th><th>total</th><th>first reason</th></tr>"
    );
    let ids: Vec<&str> = {
        let mut ids: Vec<&str> = a.summary.groups.iter().map(|g| g.id.as_str()).collect();
        for g in &b.summary.groups {
            if !ids.contains(&g.id.as_str()) {
                ids.push(&g.id);
            }
        }
        ids
    };
    for id in ids {
        for (d, name) in [(a, names.0), (b, names.1)] {
            let Some(g) = d.summary.groups.iter().find(|g| g.id == id) else { continue };
            let first = g
                .reasons
                .iter()
                .min_by_key(|r| (r.first_at_ns, r.outcome == "stalled"))
                .map(|r| format!("{} at {}: {}", r.outcome, duration_ns(r.first_at_ns), r.reason))
                .unwrap_or_default();
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"text\">{}</td></tr>",
                xml_escape(id),
                xml_escape(name),
                g.ok,
                g.failed,
                g.crashed,
                g.stalled,
                g.total,
                xml_escape(&first)
            );
        }
    }
    h.push_str("</table></section>");
}

type Key = (String, String, Option<String>);

fn metrics(h: &mut String, a: &ReportData<'_>, b: &ReportData<'_>, names: (&str, &str)) {
    h.push_str("<section id=\"metrics\"><h2>Result metrics</h2><p class=\"muted\">Solid lines: the first run; dashed: the second. Change: from the first to the second.</p>");
    let key = |m: &MetricAggregate| (m.name.clone(), m.kind.as_str().to_string(), m.unit.clone());
    let mut keys: Vec<Key> = Vec::new();
    for m in a.summary.metrics.results.iter().chain(&b.summary.metrics.results) {
        if !keys.contains(&key(m)) {
            keys.push(key(m));
        }
    }
    for (name, kind, unit) in keys {
        let _ = write!(
            h,
            "<h3>{}{} <span class=\"muted\">{kind}</span></h3>",
            xml_escape(&name),
            unit.as_ref().map(|u| format!(" ({})", xml_escape(u))).unwrap_or_default()
        );
        let pick = |d: &ReportData<'_>| -> Vec<(String, Series)> {
            d.results
                .iter()
                .filter(|s| s.name == name && s.kind.as_str() == kind && s.unit == unit)
                .map(|s| (d.summary.groups.get(s.group).map_or("?".into(), |g| g.id.clone()), s.clone()))
                .collect()
        };
        cdf_pair(h, &pick(a), &pick(b), unit.as_deref());
        h.push_str("<table><tr><th>group</th><th>statistic</th>");
        let _ = write!(h, "<th>{}</th><th>{}</th><th>change</th></tr>", xml_escape(names.0), xml_escape(names.1));
        let groups: BTreeSet<String> = a
            .summary
            .metrics
            .results
            .iter()
            .chain(&b.summary.metrics.results)
            .filter(|m| key(m) == (name.clone(), kind.clone(), unit.clone()))
            .map(|m| m.group.clone())
            .collect();
        for group in groups {
            let find = |d: &ReportData<'_>| {
                d.summary
                    .metrics
                    .results
                    .iter()
                    .find(|m| key(m) == (name.clone(), kind.clone(), unit.clone()) && m.group == group)
                    .cloned()
            };
            let (ma, mb) = (find(a), find(b));
            type Stat = fn(&MetricAggregate) -> Option<f64>;
            let stats: [(&str, Stat); 5] = [
                ("count", |m| Some(m.count as f64)),
                ("p50", |m| m.p50),
                ("p90", |m| m.p90),
                ("p99", |m| m.p99),
                ("max", |m| m.max),
            ];
            for (stat, get) in stats {
                let va = ma.as_ref().and_then(get);
                let vb = mb.as_ref().and_then(get);
                let change = match (va, vb) {
                    (Some(x), Some(y)) if x != 0.0 => format!("{:+.1}%", (y - x) / x.abs() * 100.0),
                    (Some(x), Some(y)) if x == y => "0%".into(),
                    _ => "–".into(),
                };
                let cell = |v: Option<f64>| v.map_or_else(|| "–".into(), num);
                let class = if va == vb { "" } else { " class=\"diff\"" };
                let _ = write!(
                    h,
                    "<tr{class}><td>{}</td><td>{stat}</td><td>{}</td><td>{}</td><td>{change}</td></tr>",
                    xml_escape(&group),
                    cell(va),
                    cell(vb)
                );
            }
        }
        h.push_str("</table>");
    }
    h.push_str("</section>");
}

/// Both runs' CDFs of one metric on one scale, a colour per group, the first run solid.
fn cdf_pair(h: &mut String, a: &[(String, Series)], b: &[(String, Series)], unit: Option<&str>) {
    let all = a.iter().chain(b).map(|(_, s)| s);
    let lo = all.clone().filter_map(|s| s.values.first()).copied().fold(f64::INFINITY, f64::min);
    let hi = all.filter_map(|s| s.values.last()).copied().fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() || !hi.is_finite() {
        return;
    }
    let scale = Scale::for_values(lo, hi);
    let height = 220.0;
    let f = Frame::new(plot::WIDTH, height);
    plot::open(h, "cdf", plot::WIDTH, height, "CDFs of both runs");
    let mut groups: Vec<&str> = Vec::new();
    for (g, _) in a.iter().chain(b) {
        if !groups.contains(&g.as_str()) {
            groups.push(g);
        }
    }
    let entries: Vec<(String, &str)> =
        groups.iter().enumerate().map(|(i, g)| (g.to_string(), plot::color(i))).collect();
    plot::legend(h, &f, &entries);
    let y = Scale::Linear { lo: 0.0, hi: 1.0 };
    plot::y_axis(h, &f, &y, |t| format!("{}%", num(t * 100.0)), "share at or below");
    for (dash, runs) in [("", a), (" stroke-dasharray=\"6 4\"", b)] {
        for (g, s) in runs {
            let n = s.values.len();
            if n == 0 {
                continue;
            }
            let color = plot::color(groups.iter().position(|x| x == g).unwrap_or(0));
            let step = n.div_ceil(300).max(1);
            let mut d = format!("M{:.2},{:.2}", f.x(scale.frac(s.values[0])), f.y(0.0));
            for i in (0..n).step_by(step).chain(std::iter::once(n - 1)) {
                let _ = write!(d, " L{:.2},{:.2}", f.x(scale.frac(s.values[i])), f.y((i + 1) as f64 / n as f64));
            }
            let _ = write!(h, "<path d=\"{d}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{dash}/>");
        }
    }
    plot::x_axis(h, &f, &scale, &scale.ticks(), |t| plot::with_unit(t, unit));
    h.push_str("</svg>");
    let _ = outcome_color;
}
