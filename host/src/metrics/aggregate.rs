//! Metric aggregation: from raw points to one row per metric and group.
//!
//! A metric is identified by (category, name, kind, unit); its points are
//! split by the group of the instance that recorded them. What is aggregated
//! depends on the kind, as in Testground:
//!
//! - `point`, `histogram`, `timer`: every recorded value (timers are seconds).
//! - `counter`: each instance's total, so a group's `p50` is the median
//!   instance and `sum` the group's total.
//! - `gauge`: each instance's last value.
//!
//! Quantiles are exact: the values of one (metric, group) are sorted and the
//! nearest-rank quantile is taken (`p50` of `n` values is the `ceil(0.5 n)`-th
//! smallest). Runs record at most millions of points, which sort in well under
//! a second, so an approximate structure (an HDR histogram) would buy little
//! and would need a fixed scale to hold fractional, negative or very small
//! values such as timers in seconds. Non-finite values (NaN, ±∞) are counted
//! apart and left out of every statistic. Tags are kept in `metrics.jsonl` but
//! do not split aggregates.
//!
//! This module computes; it does not read or write files.

use super::{Category, Kind};
use crate::text::terminal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One raw point, borrowed from wherever the points live (memory or `metrics.jsonl`).
#[derive(Clone, Copy, Debug)]
pub struct Sample<'a> {
    /// Virtual time of the recording, ns.
    pub t_ns: u64,
    /// Global seq of the recording instance.
    pub instance: u32,
    /// Index of its group in the run's group list.
    pub group: usize,
    /// Metric name.
    pub name: &'a str,
    /// Kind.
    pub kind: Kind,
    /// Category.
    pub category: Category,
    /// Unit as recorded.
    pub unit: Option<&'a str>,
    /// Value.
    pub value: f64,
}

/// The statistics of one metric in one group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricAggregate {
    /// Metric name.
    pub name: String,
    /// Kind: `point`, `counter`, `gauge`, `histogram` or `timer`.
    pub kind: Kind,
    /// Unit (`s` for timers without one), or null.
    pub unit: Option<String>,
    /// Group id.
    pub group: String,
    /// Instances that recorded the metric.
    pub instances: u32,
    /// Values aggregated: points for point/histogram/timer, instances for counter/gauge.
    pub count: u64,
    /// Non-finite values left out.
    pub non_finite: u64,
    /// Sum of the values (null when `count` is 0, likewise below).
    pub sum: Option<f64>,
    /// Smallest value.
    pub min: Option<f64>,
    /// Largest value.
    pub max: Option<f64>,
    /// Arithmetic mean.
    pub mean: Option<f64>,
    /// Median (nearest rank).
    pub p50: Option<f64>,
    /// 90th percentile.
    pub p90: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// 99.9th percentile.
    pub p999: Option<f64>,
}

/// The aggregates of a run, results and diagnostics apart.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricsSummary {
    /// Raw points recorded.
    pub points: u64,
    /// Result metrics, by name, kind, unit, then group order.
    pub results: Vec<MetricAggregate>,
    /// Diagnostic metrics, likewise.
    pub diagnostics: Vec<MetricAggregate>,
}

/// The finite values behind one [`MetricAggregate`], sorted ascending; what plots draw.
#[derive(Clone, Debug)]
pub struct Series {
    /// Category.
    pub category: Category,
    /// Metric name.
    pub name: String,
    /// Kind.
    pub kind: Kind,
    /// Unit as reported.
    pub unit: Option<String>,
    /// Group index.
    pub group: usize,
    /// Sorted finite values.
    pub values: Vec<f64>,
}

type Key<'a> = (Category, &'a str, Kind, Option<&'a str>, usize);

/// Values gathered for one key before they become statistics.
#[derive(Default)]
struct Gathered {
    values: Vec<f64>,
    per_instance: BTreeMap<u32, f64>,
    instances: std::collections::BTreeSet<u32>,
}

/// The unit reported for a metric: timers are in seconds unless the plan said otherwise.
fn reported_unit(kind: Kind, unit: Option<&str>) -> Option<String> {
    match (kind, unit) {
        (_, Some(u)) => Some(u.to_string()),
        (Kind::Timer, None) => Some("s".to_string()),
        _ => None,
    }
}

/// Groups samples into sorted value series, one per (metric, group).
pub fn series<'a>(samples: impl IntoIterator<Item = Sample<'a>>) -> (Vec<Series>, Vec<(u32, u64)>) {
    let mut gathered: BTreeMap<Key<'a>, Gathered> = BTreeMap::new();
    for s in samples {
        let g = gathered.entry((s.category, s.name, s.kind, s.unit, s.group)).or_default();
        g.instances.insert(s.instance);
        match s.kind {
            Kind::Point | Kind::Histogram | Kind::Timer => g.values.push(s.value),
            Kind::Counter => *g.per_instance.entry(s.instance).or_insert(0.0) += s.value,
            Kind::Gauge => {
                g.per_instance.insert(s.instance, s.value);
            }
        }
    }
    let mut out = Vec::with_capacity(gathered.len());
    let mut extra = Vec::with_capacity(gathered.len());
    for ((category, name, kind, unit, group), g) in gathered {
        let mut values = if g.per_instance.is_empty() { g.values } else { g.per_instance.into_values().collect() };
        let before = values.len();
        values.retain(|v| v.is_finite());
        let non_finite = (before - values.len()) as u64;
        values.sort_by(f64::total_cmp);
        extra.push((g.instances.len() as u32, non_finite));
        out.push(Series { category, name: name.to_string(), kind, unit: reported_unit(kind, unit), group, values });
    }
    (out, extra)
}

/// The nearest-rank `q` quantile of sorted `values` (`0 < q <= 1`).
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

impl MetricAggregate {
    fn from_series(s: &Series, group: &str, instances: u32, non_finite: u64) -> MetricAggregate {
        let v = &s.values;
        // Kahan-free plain sum: values are summed in sorted order, which is
        // deterministic and keeps small values from being lost first.
        let sum = (!v.is_empty()).then(|| v.iter().sum::<f64>());
        MetricAggregate {
            name: s.name.clone(),
            kind: s.kind,
            unit: s.unit.clone(),
            group: group.to_string(),
            instances,
            count: v.len() as u64,
            non_finite,
            sum,
            min: v.first().copied(),
            max: v.last().copied(),
            mean: sum.map(|t| t / v.len() as f64),
            p50: quantile(v, 0.5),
            p90: quantile(v, 0.9),
            p99: quantile(v, 0.99),
            p999: quantile(v, 0.999),
        }
    }
}

/// Aggregates `samples` of a run whose groups are `groups` (in run order).
/// Returns the summary and the series behind it (for plots).
pub fn aggregate<'a>(
    groups: &[String],
    samples: impl IntoIterator<Item = Sample<'a>>,
) -> (MetricsSummary, Vec<Series>) {
    let mut points = 0u64;
    let (series, extra) = series(samples.into_iter().inspect(|_| points += 1));
    let mut summary = MetricsSummary { points, ..MetricsSummary::default() };
    for (s, (instances, non_finite)) in series.iter().zip(extra) {
        let group = groups.get(s.group).map_or("?", String::as_str);
        let agg = MetricAggregate::from_series(s, group, instances, non_finite);
        match s.category {
            Category::Result => summary.results.push(agg),
            Category::Diagnostic => summary.diagnostics.push(agg),
        }
    }
    (summary, series)
}

/// The terminal table of result metrics: name, unit, group, count, mean,
/// p50, p99, max. Empty when there are none.
pub fn render_table(rows: &[MetricAggregate]) -> String {
    use std::fmt::Write as _;
    if rows.is_empty() {
        return String::new();
    }
    let cell = |v: Option<f64>| v.map_or_else(|| "-".to_string(), crate::text::num);
    // Columns line up for cells up to this wide; a wider cell pushes its row
    // right (a group id is any length, and a width past u16::MAX would not
    // format at all).
    const WIDEST_ALIGNED: usize = 40;
    let width = |w: usize, title: &str| w.max(title.len()).min(WIDEST_ALIGNED);
    // A plan names its metrics and units: shown, never obeyed, on the terminal.
    let shown: Vec<_> = rows
        .iter()
        .map(|a| (terminal(&a.name), terminal(a.unit.as_deref().unwrap_or("-")), terminal(&a.group)))
        .collect();
    let name_w = width(shown.iter().map(|s| s.0.len()).max().unwrap_or(0), "metric");
    let unit_w = width(shown.iter().map(|s| s.1.len()).max().unwrap_or(0), "unit");
    let group_w = width(shown.iter().map(|s| s.2.len()).max().unwrap_or(0), "group");
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<name_w$}  {:<unit_w$}  {:<group_w$}  {:>8}  {:>10}  {:>10}  {:>10}  {:>10}",
        "metric", "unit", "group", "count", "mean", "p50", "p99", "max"
    );
    for (a, (name, unit, group)) in rows.iter().zip(&shown) {
        let _ = writeln!(
            out,
            "{:<name_w$}  {:<unit_w$}  {:<group_w$}  {:>8}  {:>10}  {:>10}  {:>10}  {:>10}",
            name,
            unit,
            group,
            a.count,
            cell(a.mean),
            cell(a.p50),
            cell(a.p99),
            cell(a.max)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(instance: u32, group: usize, name: &str, kind: Kind, value: f64) -> Sample<'_> {
        Sample { t_ns: 0, instance, group, name, kind, category: Category::Result, unit: None, value }
    }

    #[test]
    fn nearest_rank_quantiles() {
        let v: Vec<f64> = (1..=1000).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), Some(500.0));
        assert_eq!(quantile(&v, 0.9), Some(900.0));
        assert_eq!(quantile(&v, 0.99), Some(990.0));
        assert_eq!(quantile(&v, 0.999), Some(999.0));
        assert_eq!(quantile(&[7.0], 0.999), Some(7.0));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn counters_sum_per_instance_and_gauges_keep_the_last() {
        let groups = vec!["a".to_string(), "b".to_string()];
        let samples = vec![
            sample(0, 0, "c", Kind::Counter, 1.0),
            sample(0, 0, "c", Kind::Counter, 2.0),
            sample(1, 0, "c", Kind::Counter, 10.0),
            sample(2, 1, "c", Kind::Counter, 5.0),
            sample(0, 0, "g", Kind::Gauge, 1.0),
            sample(0, 0, "g", Kind::Gauge, 4.0),
            sample(1, 0, "t", Kind::Timer, f64::NAN),
            sample(1, 0, "t", Kind::Timer, 0.5),
        ];
        let (summary, _) = aggregate(&groups, samples);
        assert_eq!(summary.points, 8);
        type Row<'a> = (&'a str, &'a str, u64, Option<f64>, Option<f64>);
        let rows: Vec<Row<'_>> =
            summary.results.iter().map(|a| (a.name.as_str(), a.group.as_str(), a.count, a.sum, a.max)).collect();
        assert_eq!(
            rows,
            vec![
                ("c", "a", 2, Some(13.0), Some(10.0)),
                ("c", "b", 1, Some(5.0), Some(5.0)),
                ("g", "a", 1, Some(4.0), Some(4.0)),
                ("t", "a", 1, Some(0.5), Some(0.5)),
            ]
        );
        let timer = &summary.results[3];
        assert_eq!((timer.unit.as_deref(), timer.non_finite), (Some("s"), 1));
    }

    #[test]
    fn the_table_renders_cells_wider_than_any_format_width() {
        let groups = vec!["g".repeat(70_000)];
        let unit = "u".repeat(70_000);
        let samples = vec![Sample { unit: Some(&unit), ..sample(0, 0, "latency", Kind::Point, 1.0) }];
        let (summary, _) = aggregate(&groups, samples);
        let table = render_table(&summary.results);
        assert!(table.lines().nth(1).is_some_and(|row| row.starts_with("latency ") && row.contains(&groups[0])));
    }
}
