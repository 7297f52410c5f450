//! The drawing primitives of the report's plots: scales (linear and
//! logarithmic) with ticks at round numbers, axes, legends, and the fault
//! marks every time axis carries. Plots are SVG, written as text.
//!
//! This module draws what it is given; it does not choose what to plot.

use crate::text::{duration_ns, num, xml_escape};
use std::fmt::Write as _;

/// Full plot width in SVG units; the page scales it to the window.
pub const WIDTH: f64 = 760.0;
/// A plot that shares its row with another.
pub const HALF_WIDTH: f64 = 376.0;

/// Distinguishable on white and for the common colour-vision deficiencies (Okabe–Ito).
pub const PALETTE: [&str; 8] = ["#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#555555"];

/// The colour of group `i`.
pub fn color(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// Where a plot draws, in SVG units: the area inside its axes.
#[derive(Clone, Copy, Debug)]
pub struct Frame {
    /// Left edge of the plotting area.
    pub left: f64,
    /// Top edge.
    pub top: f64,
    /// Width.
    pub width: f64,
    /// Height.
    pub height: f64,
}

impl Frame {
    /// The plotting area of an SVG `w` × `h`, leaving room for axes and a legend.
    pub fn new(w: f64, h: f64) -> Frame {
        let (left, right, top, bottom) = (58.0, 14.0, 28.0, 36.0);
        Frame { left, top, width: w - left - right, height: h - top - bottom }
    }

    /// Bottom edge.
    pub fn bottom(&self) -> f64 {
        self.top + self.height
    }

    /// The x of fraction `f` (0..=1) of the width.
    pub fn x(&self, f: f64) -> f64 {
        self.left + self.width * f.clamp(0.0, 1.0)
    }

    /// The y of fraction `f` (0..=1) of the height, from the bottom.
    pub fn y(&self, f: f64) -> f64 {
        self.bottom() - self.height * f.clamp(0.0, 1.0)
    }
}

/// How values map onto an axis.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scale {
    /// Evenly, over `[lo, hi]`.
    Linear { lo: f64, hi: f64 },
    /// By order of magnitude, over `[lo, hi]`, both above 0.
    Log { lo: f64, hi: f64 },
}

/// Values spanning at least this ratio (two decades), all above zero, get a log scale.
pub const LOG_RATIO: f64 = 100.0;

impl Scale {
    /// A linear scale over `[lo, hi]`, widened to a unit when the range is empty.
    pub fn linear(lo: f64, hi: f64) -> Scale {
        if hi > lo { Scale::Linear { lo, hi } } else { Scale::Linear { lo: lo - 0.5, hi: hi + 0.5 } }
    }

    /// A log scale for values in `[lo, hi]` if they span decades above zero, else linear.
    pub fn for_values(lo: f64, hi: f64) -> Scale {
        if lo > 0.0 && hi / lo >= LOG_RATIO { Scale::Log { lo, hi } } else { Scale::linear(lo, hi) }
    }

    /// Whether it is logarithmic.
    pub fn is_log(&self) -> bool {
        matches!(self, Scale::Log { .. })
    }

    /// Where `v` falls, as a fraction of the axis.
    pub fn frac(&self, v: f64) -> f64 {
        match *self {
            Scale::Linear { lo, hi } => (v - lo) / (hi - lo),
            Scale::Log { lo, hi } => (v.max(lo).ln() - lo.ln()) / (hi.ln() - lo.ln()),
        }
    }

    /// Tick values at round numbers within the scale: 1, 2 or 5 times a power of
    /// ten apart (linear), or powers of ten (log, with 2 and 5 between when few).
    pub fn ticks(&self) -> Vec<f64> {
        match *self {
            Scale::Linear { lo, hi } => nice_ticks(lo, hi, 6),
            Scale::Log { lo, hi } => {
                let (a, b) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
                let mults: &[f64] = if b - a <= 2 { &[1.0, 2.0, 5.0] } else { &[1.0] };
                (a..=b)
                    .flat_map(|e| mults.iter().map(move |m| m * 10f64.powi(e)))
                    .filter(|t| *t >= lo * (1.0 - 1e-9) && *t <= hi * (1.0 + 1e-9))
                    .collect()
            }
        }
    }
}

/// About `target` ticks over `[lo, hi]` at multiples of 1, 2 or 5 × 10^k.
pub fn nice_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    // NaN compares as not greater: a span that is empty or not a number gets one tick.
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) || !lo.is_finite() || !hi.is_finite() {
        return vec![lo];
    }
    let raw = (hi - lo) / target.max(1) as f64;
    let exponent = raw.log10().floor() as i32;
    let mantissa = [1.0, 2.0, 5.0, 10.0].into_iter().find(|m| m * 10f64.powi(exponent) >= raw).unwrap_or(10.0);
    // k × mantissa is a whole number; scaling it by a power of ten last keeps 0.03 from becoming 0.030000000000000002.
    let at = |k: i64| {
        let whole = k as f64 * mantissa;
        if exponent < 0 { whole / 10f64.powi(-exponent) } else { whole * 10f64.powi(exponent) }
    };
    let step = at(1);
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last).map(at).collect()
}

/// Ticks over `[0, end_ns]` of virtual time, at round durations.
pub fn time_ticks(end_ns: u64) -> Vec<u64> {
    nice_ticks(0.0, end_ns.max(1) as f64, 6).into_iter().map(|t| t.round() as u64).collect()
}

/// The value axis on the left: gridlines and labels at `ticks` of `scale`,
/// labelled with `label`, and its title.
pub fn y_axis(h: &mut String, f: &Frame, scale: &Scale, label: impl Fn(f64) -> String, title: &str) {
    for t in scale.ticks() {
        let y = f.y(scale.frac(t));
        let _ = write!(
            h,
            "<line x1=\"{}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\" stroke=\"#eceef2\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            f.left,
            f.left + f.width,
            f.left - 5.0,
            y + 4.0,
            xml_escape(&label(t))
        );
    }
    let my = f.top + f.height / 2.0;
    let _ = write!(
        h,
        "<line x1=\"{l}\" y1=\"{t}\" x2=\"{l}\" y2=\"{b}\" stroke=\"#8a93a5\"/>\
         <text x=\"11\" y=\"{my}\" transform=\"rotate(-90 11 {my})\" text-anchor=\"middle\">{}</text>",
        xml_escape(title),
        l = f.left,
        t = f.top,
        b = f.bottom(),
    );
}

/// The axis along the bottom: ticks and labels at `ticks` of `scale`.
pub fn x_axis(h: &mut String, f: &Frame, scale: &Scale, ticks: &[f64], label: impl Fn(f64) -> String) {
    let b = f.bottom();
    let _ = write!(h, "<line x1=\"{}\" y1=\"{b}\" x2=\"{}\" y2=\"{b}\" stroke=\"#8a93a5\"/>", f.left, f.left + f.width);
    for &t in ticks {
        let x = f.x(scale.frac(t));
        let _ = write!(
            h,
            "<line x1=\"{x:.1}\" y1=\"{b}\" x2=\"{x:.1}\" y2=\"{}\" stroke=\"#8a93a5\"/>\
             <text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            b + 4.0,
            b + 16.0,
            xml_escape(&label(t))
        );
    }
}

/// The time axis along the bottom, `[0, end_ns]`, ticks at round durations.
pub fn time_axis(h: &mut String, f: &Frame, end_ns: u64) {
    let scale = Scale::Linear { lo: 0.0, hi: end_ns.max(1) as f64 };
    let ticks: Vec<f64> = time_ticks(end_ns).into_iter().map(|t| t as f64).collect();
    x_axis(h, f, &scale, &ticks, |t| duration_ns(t as u64));
}

/// A number on an axis in `unit`.
pub fn with_unit(v: f64, unit: Option<&str>) -> String {
    match unit {
        Some(u) => format!("{} {u}", num(v)),
        None => num(v),
    }
}

/// One legend entry per (name, colour), along the top of the SVG.
pub fn legend(h: &mut String, f: &Frame, entries: &[(String, &str)]) {
    let mut x = f.left;
    for (name, color) in entries {
        let _ = write!(
            h,
            "<rect x=\"{x:.1}\" y=\"7\" width=\"10\" height=\"10\" fill=\"{color}\"/><text x=\"{:.1}\" y=\"16\">{}</text>",
            x + 14.0,
            xml_escape(name)
        );
        x += 26.0 + 6.5 * name.chars().count() as f64;
    }
}

/// A fault as the time axes show it: a span (a partition until healed, a
/// clog until released) or an instant (a crash, a restart).
#[derive(Clone, Debug, PartialEq)]
pub struct FaultSpan {
    /// `partition`, `clog`, `crash` or `restart`.
    pub kind: &'static str,
    /// When it began, ns.
    pub from_ns: u64,
    /// When it ended (healed, released), ns; `None` for an instant, or a
    /// span that lasted to the end of the run.
    pub to_ns: Option<u64>,
    /// Whether it is an instant.
    pub instant: bool,
    /// Whom it affected, in words (`sender ↔ receivers`, `instances 3, 4`).
    pub whom: String,
}

impl FaultSpan {
    /// A line describing it.
    pub fn describe(&self) -> String {
        match (self.instant, self.to_ns) {
            (true, _) => format!("{} {} at {}", self.kind, self.whom, duration_ns(self.from_ns)),
            (false, Some(to)) => {
                format!("{} {} from {} to {}", self.kind, self.whom, duration_ns(self.from_ns), duration_ns(to))
            }
            (false, None) => format!("{} {} from {} to the end", self.kind, self.whom, duration_ns(self.from_ns)),
        }
    }

    fn color(&self) -> &'static str {
        match self.kind {
            "partition" => "#d43d3d",
            "clog" => "#e08a00",
            "crash" => "#8b1a1a",
            _ => "#2e9d52",
        }
    }
}

/// The faults drawn over a time plot of `[0, end_ns]`: spans as shaded bands
/// behind the data, instants as dashed lines, each titled with what it was.
pub fn fault_marks(h: &mut String, f: &Frame, end_ns: u64, faults: &[FaultSpan]) {
    let scale = Scale::Linear { lo: 0.0, hi: end_ns.max(1) as f64 };
    for fault in faults {
        let x0 = f.x(scale.frac(fault.from_ns as f64));
        let title = xml_escape(&fault.describe());
        if fault.instant {
            let _ = write!(
                h,
                "<line class=\"fault-mark\" x1=\"{x0:.1}\" y1=\"{}\" x2=\"{x0:.1}\" y2=\"{}\" stroke=\"{}\" \
                 stroke-width=\"1.5\" stroke-dasharray=\"4 3\"><title>{title}</title></line>",
                f.top,
                f.bottom(),
                fault.color()
            );
        } else {
            let x1 = f.x(scale.frac(fault.to_ns.unwrap_or(end_ns) as f64));
            let _ = write!(
                h,
                "<rect class=\"fault-mark\" x=\"{x0:.1}\" y=\"{}\" width=\"{:.1}\" height=\"{}\" fill=\"{}\" \
                 fill-opacity=\"0.12\"><title>{title}</title></rect>",
                f.top,
                (x1 - x0).max(1.5),
                f.height,
                fault.color()
            );
        }
    }
}

/// Opens an SVG plot of `w` × `h` with CSS classes `class` and an accessible `label`.
pub fn open(h: &mut String, class: &str, w: f64, height: f64, label: &str) {
    let _ = write!(
        h,
        "<svg class=\"plot {class}\" viewBox=\"0 0 {w} {height}\" role=\"img\" aria-label=\"{}\">",
        xml_escape(label)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_fall_on_round_numbers() {
        assert_eq!(nice_ticks(0.0, 10.0, 5), [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(nice_ticks(3.0, 97.0, 6), [20.0, 40.0, 60.0, 80.0]);
        assert_eq!(nice_ticks(0.013, 0.071, 6), [0.02, 0.03, 0.04, 0.05, 0.06, 0.07]);
        assert_eq!(time_ticks(17_600_000_000), [0, 5_000_000_000, 10_000_000_000, 15_000_000_000]);
        let log = Scale::for_values(0.5, 2000.0);
        assert!(log.is_log());
        assert_eq!(log.ticks(), [1.0, 10.0, 100.0, 1000.0]);
        assert!(!Scale::for_values(1.0, 50.0).is_log());
        assert!(!Scale::for_values(0.0, 5000.0).is_log(), "zero has no logarithm");
    }

    #[test]
    fn fault_spans_are_bands_and_instants_lines() {
        let f = Frame::new(WIDTH, 200.0);
        let mut h = String::new();
        let span =
            FaultSpan { kind: "partition", from_ns: 1_000, to_ns: Some(2_000), instant: false, whom: "a ↔ b".into() };
        let crash = FaultSpan { kind: "crash", from_ns: 3_000, to_ns: None, instant: true, whom: "instance 3".into() };
        fault_marks(&mut h, &f, 4_000, &[span.clone(), crash]);
        assert_eq!(h.matches("class=\"fault-mark\"").count(), 2);
        assert!(h.contains("<rect class=\"fault-mark\"") && h.contains("<line class=\"fault-mark\""));
        assert_eq!(span.describe(), "partition a ↔ b from 1 µs to 2 µs");
    }
}
