//! `tg:plan/metrics`: what plans measure, stamped with virtual time.
//!
//! Every value is traced (so metrics are part of the digest) and appended to
//! the run's [`MetricSink`]; aggregation happens when the run ends.

use crate::bindings::metrics::{Host, Metric};
use crate::instance::InstanceState;
use crate::report::aggregate::{Category as ReportCategory, Kind};
use netsim::{NodeId, SimTime};
use std::sync::{Arc, Mutex};

/// One recorded value.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
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
    pub category: ReportCategory,
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

/// Longest metric name accepted; longer names are cut so one plan cannot bloat outputs.
pub const MAX_METRIC_NAME_BYTES: usize = 256;

impl Host for InstanceState {
    fn record(&mut self, metric: Metric, value: f64) -> wasmtime::Result<()> {
        let mut name = metric.name;
        if name.len() > MAX_METRIC_NAME_BYTES {
            let mut cut = MAX_METRIC_NAME_BYTES;
            while !name.is_char_boundary(cut) {
                cut -= 1;
            }
            name.truncate(cut);
        }
        let node = self.node();
        let at = {
            let mut sim = self.sim.lock();
            // Bit pattern, not Display: the digest must not depend on float formatting.
            sim.record(node, "metric", format_args!("name={name:?} value={:016x}", value.to_bits()));
            sim.now()
        };
        self.metrics.push(MetricPoint {
            node,
            at,
            name,
            kind: metric.kind.into(),
            category: metric.category.into(),
            unit: metric.unit,
            tags: metric.tags,
            value,
        });
        Ok(())
    }
}
