//! The metrics model: what a plan records, the points a run keeps, and their
//! aggregation — below both the run, which collects points, and the report,
//! which presents them.
//!
//! - [`Kind`] and [`Category`]: how a metric aggregates, and whether it is a
//!   result or a diagnostic (as `tg:plan/metrics` declares them).
//! - [`MetricPoint`] and [`MetricSink`]: one recorded value, and where a run's
//!   instances append theirs.
//! - [`aggregate`]: from points to statistics per metric and group.
//! - [`timeline`]: from points to each metric's distribution over virtual time.
//!
//! This module knows nothing of wasm, the run or files: the host adapter that
//! receives `record` calls is [`crate::plan::metrics`], writing and reading
//! `metrics.jsonl` is the outputs'.

pub mod aggregate;
pub mod timeline;

use netsim::{NodeId, SimTime};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};

/// How a metric aggregates (mirrors `tg:plan/metrics.metric-kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A raw sample.
    Point,
    /// Added to a per-instance total.
    Counter,
    /// The latest value per instance.
    Gauge,
    /// One observation of a distribution.
    Histogram,
    /// A duration in seconds.
    Timer,
}

impl Kind {
    /// The lowercase name used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Point => "point",
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
            Kind::Timer => "timer",
        }
    }
}

/// Result or diagnostic (mirrors `tg:plan/metrics.category`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// What the test measured.
    Result,
    /// How the test ran.
    Diagnostic,
}

impl Category {
    /// The lowercase name used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Result => "result",
            Category::Diagnostic => "diagnostic",
        }
    }
}

/// One recorded value.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MetricPoint {
    /// The instance that recorded it.
    pub node: NodeId,
    /// Virtual time of the recording.
    pub at: SimTime,
    /// Metric name.
    pub name: String,
    /// How it aggregates.
    pub kind: Kind,
    /// Result or diagnostic.
    pub category: Category,
    /// Unit, if given.
    pub unit: Option<String>,
    /// Tags, in the order given.
    pub tags: Vec<(String, String)>,
    /// The value.
    pub value: f64,
}

/// Where every instance's metric points go, in recording order.
#[derive(Clone, Default)]
pub struct MetricSink(Arc<Mutex<Vec<MetricPoint>>>);

impl MetricSink {
    /// Appends one point.
    pub fn push(&self, point: MetricPoint) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(point);
    }

    /// Takes every point recorded so far.
    pub fn take(&self) -> Vec<MetricPoint> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// `points` as aggregation samples; `group_of[node]` is the index of each
/// instance's group in the run's group list.
pub fn samples<'a>(points: &'a [MetricPoint], group_of: &[usize]) -> Vec<aggregate::Sample<'a>> {
    points
        .iter()
        .map(|p| aggregate::Sample {
            t_ns: p.at.as_nanos(),
            instance: p.node.0,
            group: group_of.get(p.node.index()).copied().unwrap_or(0),
            name: &p.name,
            kind: p.kind,
            category: p.category,
            unit: p.unit.as_deref(),
            value: p.value,
        })
        .collect()
}
