//! The report's figures of result metrics: for each metric that varies, a
//! histogram stacked by group (a bin per integer, or per few integers, when
//! every value is whole; logarithmic bins when values span decades), its CDF
//! per group beside it, and the metric over virtual time (the median per
//! group with a 10th–90th percentile band, fault marks behind). Metrics that
//! never vary are listed in one table instead of drawn.
//!
//! This module draws what the metrics model computed; it does not aggregate.

use super::plot::{self, FaultSpan, Frame, Scale};
use crate::metrics::aggregate::Series;
use crate::metrics::timeline::TimeSeries;
use crate::text::{num, xml_escape};
use std::fmt::Write as _;

/// Histogram bins when values are not whole numbers: enough to show a shape, few enough to read.
pub const BINS: usize = 40;
/// Points a CDF line is drawn through per group, at most: more are not seen.
const CDF_POINTS: usize = 300;

/// Bin edges for values in `[lo, hi]`: a bin per integer (or per few) when
/// `whole`, geometric bins on a log scale, else [`BINS`] equal bins.
#[derive(Clone, Debug, PartialEq)]
pub struct Bins {
    /// `n + 1` increasing edges.
    pub edges: Vec<f64>,
    /// The x scale the bins are drawn on.
    pub scale: Scale,
    /// Whether each bin holds whole numbers only (labels say `3`, not `2.5 – 3.5`).
    pub whole: bool,
}

impl Bins {
    /// Bins for values from `lo` to `hi`, all whole numbers if `whole`.
    pub fn new(lo: f64, hi: f64, whole: bool) -> Bins {
        let scale = Scale::for_values(lo, hi);
        if let Scale::Log { .. } = scale {
            let (a, b) = (lo.ln(), hi.ln());
            let edges = (0..=BINS).map(|i| (a + (b - a) * i as f64 / BINS as f64).exp()).collect();
            return Bins { edges, scale, whole: false };
        }
        if whole {
            // Whole bins centred on the integers, each one integer wide or a whole few.
            let span = hi - lo + 1.0;
            let width = (span / BINS as f64).ceil().max(1.0);
            let n = (span / width).ceil() as usize;
            let edges: Vec<f64> = (0..=n).map(|i| lo - 0.5 + width * i as f64).collect();
            let scale = Scale::linear(edges[0], edges[n]);
            return Bins { edges, scale, whole: true };
        }
        if hi <= lo {
            return Bins { edges: vec![lo - 0.5, lo + 0.5], scale: Scale::linear(lo - 0.5, lo + 0.5), whole: false };
        }
        let edges = (0..=BINS).map(|i| lo + (hi - lo) * i as f64 / BINS as f64).collect();
        Bins { edges, scale: Scale::linear(lo, hi), whole: false }
    }

    /// How many bins.
    pub fn len(&self) -> usize {
        self.edges.len() - 1
    }

    /// The bin `v` falls in.
    pub fn of(&self, v: f64) -> usize {
        let i = self.edges.partition_point(|e| *e <= v);
        i.saturating_sub(1).min(self.len() - 1)
    }

    /// Bin `i` in words: `3`, `3 – 5`, or `2.5 – 3.1`.
    pub fn label(&self, i: usize) -> String {
        let (a, b) = (self.edges[i], self.edges[i + 1]);
        if self.whole {
            let (first, last) = ((a + 0.5).round(), (b - 0.5).round());
            if first == last { num(first) } else { format!("{} – {}", num(first), num(last)) }
        } else {
            format!("{} – {}", num(a), num(b))
        }
    }

    /// Where to put x ticks: round numbers on the scale (whole ones for whole bins).
    pub fn ticks(&self) -> Vec<f64> {
        let ticks = self.scale.ticks();
        if self.whole { ticks.into_iter().filter(|t| t.fract() == 0.0).collect() } else { ticks }
    }
}

/// Whether every value of every series is the same: such a metric is listed, not drawn.
pub fn is_constant(series: &[&Series]) -> bool {
    let mut values = series.iter().flat_map(|s| s.values.iter());
    match values.next() {
        Some(first) => values.all(|v| v == first),
        None => true,
    }
}

/// A histogram of one metric, bars stacked by group; `names[g]` names group `g`.
pub fn histogram(h: &mut String, series: &[&Series], names: &[String], unit: Option<&str>, w: f64) {
    let lo = series.iter().filter_map(|s| s.values.first()).copied().fold(f64::INFINITY, f64::min);
    let hi = series.iter().filter_map(|s| s.values.last()).copied().fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() || !hi.is_finite() {
        h.push_str("<p class=\"muted\">No finite value.</p>");
        return;
    }
    let whole = series.iter().all(|s| s.values.iter().all(|v| v.fract() == 0.0));
    let bins = Bins::new(lo, hi, whole);
    let mut counts = vec![vec![0u64; series.len()]; bins.len()];
    for (gi, s) in series.iter().enumerate() {
        for v in &s.values {
            counts[bins.of(*v)][gi] += 1;
        }
    }
    let max_count = counts.iter().map(|c| c.iter().sum::<u64>()).max().unwrap_or(1).max(1);
    let height = 220.0;
    let f = Frame::new(w, height);
    let kind = if bins.scale.is_log() { "histogram, log scale" } else { "histogram" };
    plot::open(h, "histogram", w, height, kind);
    let entries: Vec<(String, &str)> = series
        .iter()
        .map(|s| {
            (format!("{} (n={})", names.get(s.group).map_or("?", String::as_str), s.values.len()), plot::color(s.group))
        })
        .collect();
    plot::legend(h, &f, &entries);
    let y = Scale::linear(0.0, max_count as f64);
    let per_instance =
        series.first().is_some_and(|s| matches!(s.kind, crate::metrics::Kind::Counter | crate::metrics::Kind::Gauge));
    plot::y_axis(
        h,
        &f,
        &Scale::Linear { lo: 0.0, hi: max_count as f64 },
        num,
        if per_instance { "instances" } else { "values" },
    );
    for (b, c) in counts.iter().enumerate() {
        let (x0, x1) = (f.x(bins.scale.frac(bins.edges[b])), f.x(bins.scale.frac(bins.edges[b + 1])));
        let mut below = 0u64;
        for (gi, &n) in c.iter().enumerate() {
            if n == 0 {
                continue;
            }
            let (y0, y1) = (f.y(y.frac(below as f64)), f.y(y.frac((below + n) as f64)));
            below += n;
            let group = series[gi].group;
            let _ = write!(
                h,
                "<rect x=\"{:.2}\" y=\"{y1:.2}\" width=\"{:.2}\" height=\"{:.2}\" fill=\"{}\"><title>{}: {n} in {}{}</title></rect>",
                x0 + 0.5,
                (x1 - x0 - 1.0).max(0.5),
                (y0 - y1).max(0.5),
                plot::color(group),
                xml_escape(names.get(group).map_or("?", String::as_str)),
                xml_escape(&bins.label(b)),
                unit.map(|u| format!(" {}", xml_escape(u))).unwrap_or_default()
            );
        }
    }
    plot::x_axis(h, &f, &bins.scale, &bins.ticks(), |t| plot::with_unit(t, unit));
    h.push_str("</svg>");
}

/// The CDF of one metric per group: the share of values at or below x, on
/// the histogram's scale.
pub fn cdf(h: &mut String, series: &[&Series], names: &[String], unit: Option<&str>, w: f64) {
    let lo = series.iter().filter_map(|s| s.values.first()).copied().fold(f64::INFINITY, f64::min);
    let hi = series.iter().filter_map(|s| s.values.last()).copied().fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() || !hi.is_finite() {
        return;
    }
    let scale = Scale::for_values(lo, hi);
    let height = 220.0;
    let f = Frame::new(w, height);
    plot::open(h, "cdf", w, height, if scale.is_log() { "CDF, log scale" } else { "CDF" });
    let entries: Vec<(String, &str)> =
        series.iter().map(|s| (names.get(s.group).cloned().unwrap_or_default(), plot::color(s.group))).collect();
    plot::legend(h, &f, &entries);
    let y = Scale::Linear { lo: 0.0, hi: 1.0 };
    plot::y_axis(h, &f, &y, |t| format!("{}%", num(t * 100.0)), "share at or below");
    for s in series {
        let n = s.values.len();
        if n == 0 {
            continue;
        }
        let step = n.div_ceil(CDF_POINTS).max(1);
        let mut d = format!("M{:.2},{:.2}", f.x(scale.frac(s.values[0])), f.y(0.0));
        let mut last_y = 0.0;
        for i in (0..n).step_by(step).chain(std::iter::once(n - 1)) {
            let x = f.x(scale.frac(s.values[i]));
            let share = (i + 1) as f64 / n as f64;
            let _ = write!(d, " L{x:.2},{:.2} L{x:.2},{:.2}", f.y(last_y), f.y(share));
            last_y = share;
        }
        let _ = write!(
            h,
            "<path d=\"{d}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"><title>{}</title></path>",
            plot::color(s.group),
            xml_escape(names.get(s.group).map_or("?", String::as_str))
        );
    }
    let ticks = match scale {
        Scale::Log { .. } => scale.ticks(),
        Scale::Linear { .. } => scale.ticks(),
    };
    plot::x_axis(h, &f, &scale, &ticks, |t| plot::with_unit(t, unit));
    h.push_str("</svg>");
}

/// One metric over virtual time `[0, end_ns]`: per group, the median of each
/// window as a line and its 10th–90th percentiles as a band, faults behind.
pub fn over_time(
    h: &mut String,
    series: &[&TimeSeries],
    names: &[String],
    unit: Option<&str>,
    end_ns: u64,
    faults: &[FaultSpan],
) {
    let lo = series.iter().flat_map(|s| &s.windows).map(|w| w.p10).fold(f64::INFINITY, f64::min);
    let hi = series.iter().flat_map(|s| &s.windows).map(|w| w.p90).fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() || !hi.is_finite() {
        return;
    }
    let y = match Scale::for_values(lo, hi) {
        log @ Scale::Log { .. } => log,
        // From zero when the values are all positive and not far above it: bars of time read better so.
        Scale::Linear { .. } if lo >= 0.0 && lo < hi / 2.0 => Scale::linear(0.0, hi),
        _ => Scale::linear(lo, hi),
    };
    let height = 230.0;
    let f = Frame::new(plot::WIDTH, height);
    let t = Scale::Linear { lo: 0.0, hi: end_ns.max(1) as f64 };
    plot::open(h, "timeseries", plot::WIDTH, height, "over virtual time");
    let entries: Vec<(String, &str)> = series
        .iter()
        .map(|s| (format!("{} median, p10–p90", names.get(s.group).map_or("?", String::as_str)), plot::color(s.group)))
        .collect();
    plot::legend(h, &f, &entries);
    plot::fault_marks(h, &f, end_ns, faults);
    plot::y_axis(h, &f, &y, |v| plot::with_unit(v, unit), "value");
    for s in series {
        let color = plot::color(s.group);
        let name = xml_escape(names.get(s.group).map_or("?", String::as_str));
        // Consecutive windows form one run of the line; a window without values breaks it.
        let mut runs: Vec<Vec<&crate::metrics::timeline::Window>> = Vec::new();
        for w in &s.windows {
            match runs.last_mut() {
                Some(run) if run.last().is_some_and(|p| p.to_ns == w.from_ns) => run.push(w),
                _ => runs.push(vec![w]),
            }
        }
        for run in &runs {
            let mid = |w: &crate::metrics::timeline::Window| f.x(t.frac((w.from_ns + w.to_ns) as f64 / 2.0));
            let mut band = String::new();
            let mut line = String::new();
            for (i, w) in run.iter().enumerate() {
                let _ = write!(band, "{}{:.2},{:.2}", if i == 0 { "M" } else { " L" }, mid(w), f.y(y.frac(w.p90)));
                let _ = write!(line, "{}{:.2},{:.2}", if i == 0 { "M" } else { " L" }, mid(w), f.y(y.frac(w.p50)));
            }
            for w in run.iter().rev() {
                let _ = write!(band, " L{:.2},{:.2}", mid(w), f.y(y.frac(w.p10)));
            }
            band.push_str(" Z");
            let _ = write!(
                h,
                "<path class=\"band\" d=\"{band}\" fill=\"{color}\" fill-opacity=\"0.2\" stroke=\"{color}\" stroke-opacity=\"0.3\" stroke-width=\"1\"><title>{name}: 10th–90th percentile</title></path>"
            );
            if run.len() == 1 {
                let w = run[0];
                let _ = write!(
                    h,
                    "<circle cx=\"{:.2}\" cy=\"{:.2}\" r=\"3\" fill=\"{color}\"><title>{name}: median {} ({} values)</title></circle>",
                    mid(w),
                    f.y(y.frac(w.p50)),
                    num(w.p50),
                    w.count
                );
            } else {
                let _ = write!(
                    h,
                    "<path d=\"{line}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"><title>{name}: median</title></path>"
                );
            }
        }
    }
    plot::time_axis(h, &f, end_ns);
    h.push_str("</svg>");
}

/// Metrics whose every value is the same, as one table: nothing to draw.
pub fn constant_table(h: &mut String, rows: &[(&Series, &str)]) {
    if rows.is_empty() {
        return;
    }
    h.push_str(
        "<h3>Constant metrics</h3><p class=\"muted\">Every value the same: listed, not drawn.</p>\
         <table><tr><th>metric</th><th>kind</th><th>group</th><th>count</th><th>value</th></tr>",
    );
    for (s, group) in rows {
        let value = s.values.first().map_or_else(|| "–".to_string(), |v| plot::with_unit(*v, s.unit.as_deref()));
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            xml_escape(&s.name),
            s.kind.as_str(),
            xml_escape(group),
            s.values.len(),
            xml_escape(&value)
        );
    }
    h.push_str("</table>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_numbers_get_a_bin_each_centred_on_them() {
        let bins = Bins::new(1.0, 7.0, true);
        assert_eq!(bins.len(), 7);
        assert_eq!(bins.edges[0], 0.5);
        assert_eq!((bins.of(1.0), bins.of(4.0), bins.of(7.0)), (0, 3, 6));
        assert_eq!(bins.label(3), "4");
        assert!(bins.ticks().iter().all(|t| t.fract() == 0.0), "{:?}", bins.ticks());
    }

    #[test]
    fn many_whole_numbers_share_bins_of_whole_width() {
        let bins = Bins::new(0.0, 199.0, true);
        assert_eq!(bins.len(), 40);
        assert_eq!(bins.label(0), "0 – 4");
        assert_eq!(bins.of(199.0), 39);
    }

    #[test]
    fn values_spanning_decades_get_log_bins_and_others_even_ones() {
        let log = Bins::new(0.001, 10.0, false);
        assert!(log.scale.is_log());
        assert!((log.edges[BINS] - 10.0).abs() < 1e-9);
        assert_eq!(log.of(0.001), 0);
        assert_eq!(log.of(10.0), BINS - 1);
        let even = Bins::new(1.5, 9.5, false);
        assert!(!even.scale.is_log());
        assert_eq!(even.len(), BINS);
        assert_eq!(even.label(0), "1.5 – 1.7");
    }
}
