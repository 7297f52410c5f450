//! Metrics over virtual time: for each metric and group, the distribution of
//! its values in consecutive windows of the run — what a time series with
//! quantile bands draws.
//!
//! What a window holds depends on the kind, as aggregation does
//! ([`super::aggregate`]): `point`, `histogram` and `timer` values recorded
//! in the window; for a `counter`, each instance's running total at the
//! window's end, and for a `gauge` each instance's latest value then, over
//! the instances that recorded by then. Quantiles are nearest rank, as in
//! the summary; non-finite values are left out.
//!
//! This module computes; it does not read files or draw.

use super::Kind;
use super::aggregate::{Sample, quantile};
use std::collections::BTreeMap;

/// Windows a run's virtual time is cut into: fine enough to show a partition
/// of a tenth of the run, few enough that each holds values to take quantiles of.
pub const WINDOWS: usize = 60;

/// The values of one metric and group in one window.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    /// Start of the window, ns (inclusive).
    pub from_ns: u64,
    /// End of the window, ns (exclusive, but for the last window).
    pub to_ns: u64,
    /// Values in the window.
    pub count: u64,
    /// Smallest value.
    pub min: f64,
    /// 10th percentile: the band's lower edge.
    pub p10: f64,
    /// Median: the line.
    pub p50: f64,
    /// 90th percentile: the band's upper edge.
    pub p90: f64,
    /// Largest value.
    pub max: f64,
}

/// One metric of one group over the run's virtual time.
#[derive(Clone, Debug)]
pub struct TimeSeries {
    /// Metric name.
    pub name: String,
    /// Kind.
    pub kind: Kind,
    /// Unit as recorded.
    pub unit: Option<String>,
    /// Group index.
    pub group: usize,
    /// Earliest recording, ns.
    pub first_ns: u64,
    /// Latest recording, ns.
    pub last_ns: u64,
    /// The windows with at least one value, in time order.
    pub windows: Vec<Window>,
}

type Key<'a> = (&'a str, Kind, Option<&'a str>, usize);

/// The series of every (metric, group) of `samples` over `[0, end_ns]`, cut
/// into `windows` windows, ordered by metric name, kind, unit and group.
pub fn over_time<'a>(samples: impl IntoIterator<Item = Sample<'a>>, end_ns: u64, windows: usize) -> Vec<TimeSeries> {
    let windows = windows.max(1);
    let mut by_key: BTreeMap<Key<'a>, Vec<(u64, u32, f64)>> = BTreeMap::new();
    for s in samples {
        by_key.entry((s.name, s.kind, s.unit, s.group)).or_default().push((s.t_ns, s.instance, s.value));
    }
    let end_ns = by_key.values().flatten().map(|p| p.0).max().unwrap_or(0).max(end_ns);
    // Every window as wide; the last one ends at `end_ns` itself.
    let width = (end_ns / windows as u64 + 1).max(1);
    let mut out = Vec::with_capacity(by_key.len());
    for ((name, kind, unit, group), mut points) in by_key {
        // Stable: points of one instant keep their recording order, so a counter's running total is exact.
        points.sort_by_key(|p| p.0);
        let first_ns = points.first().map_or(0, |p| p.0);
        let last_ns = points.last().map_or(0, |p| p.0);
        let mut series = TimeSeries {
            name: name.to_string(),
            kind,
            unit: unit.map(str::to_string),
            group,
            first_ns,
            last_ns,
            windows: Vec::new(),
        };
        let mut per_instance: BTreeMap<u32, f64> = BTreeMap::new();
        let mut next = 0;
        for w in 0..windows as u64 {
            let (from_ns, to_ns) = (w * width, ((w + 1) * width).min(end_ns.saturating_add(1)));
            if from_ns > end_ns {
                break;
            }
            let mut values = Vec::new();
            while next < points.len() && points[next].0 < to_ns {
                let (_, instance, value) = points[next];
                match kind {
                    Kind::Point | Kind::Histogram | Kind::Timer => values.push(value),
                    Kind::Counter => *per_instance.entry(instance).or_insert(0.0) += value,
                    Kind::Gauge => {
                        per_instance.insert(instance, value);
                    }
                }
                next += 1;
            }
            if matches!(kind, Kind::Counter | Kind::Gauge) {
                values = per_instance.values().copied().collect();
            }
            values.retain(|v| v.is_finite());
            if values.is_empty() {
                continue;
            }
            values.sort_by(f64::total_cmp);
            let q = |p| quantile(&values, p).unwrap_or(f64::NAN);
            series.windows.push(Window {
                from_ns,
                to_ns,
                count: values.len() as u64,
                min: values[0],
                p10: q(0.1),
                p50: q(0.5),
                p90: q(0.9),
                max: values[values.len() - 1],
            });
        }
        out.push(series);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Category;

    fn at(t_ns: u64, instance: u32, kind: Kind, value: f64) -> Sample<'static> {
        Sample { t_ns, instance, group: 0, name: "m", kind, category: Category::Result, unit: None, value }
    }

    #[test]
    fn points_fall_in_the_window_of_their_time() {
        // Ten windows of 100 ns over [0, 999]: values 1..=9 in window 1, 100 in window 9.
        let mut samples: Vec<Sample<'_>> = (1..=9).map(|v| at(100 + v, v as u32, Kind::Histogram, v as f64)).collect();
        samples.push(at(950, 0, Kind::Histogram, 100.0));
        let series = over_time(samples, 999, 10);
        assert_eq!(series.len(), 1);
        let w = &series[0].windows;
        assert_eq!(w.len(), 2, "{w:?}");
        assert_eq!((w[0].from_ns, w[0].to_ns, w[0].count), (100, 200, 9));
        assert_eq!((w[0].min, w[0].p10, w[0].p50, w[0].p90, w[0].max), (1.0, 1.0, 5.0, 9.0, 9.0));
        assert_eq!((w[1].from_ns, w[1].p50), (900, 100.0));
        assert_eq!((series[0].first_ns, series[0].last_ns), (101, 950));
    }

    #[test]
    fn counters_are_running_totals_and_gauges_the_latest_value_per_instance() {
        let samples = vec![
            at(0, 0, Kind::Counter, 1.0),
            at(0, 1, Kind::Counter, 5.0),
            at(500, 0, Kind::Counter, 2.0),
            at(0, 0, Kind::Gauge, 7.0),
            at(600, 0, Kind::Gauge, 3.0),
        ];
        let series = over_time(samples, 999, 2);
        let counter = series.iter().find(|s| s.kind == Kind::Counter).unwrap();
        // Window 0: totals 1 and 5; window 1: totals 3 and 5.
        assert_eq!(counter.windows.iter().map(|w| (w.min, w.max)).collect::<Vec<_>>(), [(1.0, 5.0), (3.0, 5.0)]);
        let gauge = series.iter().find(|s| s.kind == Kind::Gauge).unwrap();
        assert_eq!(gauge.windows.iter().map(|w| w.p50).collect::<Vec<_>>(), [7.0, 3.0]);
    }

    #[test]
    fn a_run_of_no_virtual_time_is_one_window() {
        let series = over_time(vec![at(0, 0, Kind::Point, 2.0), at(0, 1, Kind::Point, f64::NAN)], 0, WINDOWS);
        assert_eq!(series[0].windows.len(), 1);
        assert_eq!(series[0].windows[0].count, 1, "non-finite values are left out");
    }
}
