//! `tg:plan/metrics`: what plans measure, stamped with virtual time.
//!
//! Every value is traced (so metrics are part of the digest) and appended to
//! the run's [`crate::metrics::MetricSink`]; aggregation happens when the run
//! ends. The model itself is [`crate::metrics`].

use crate::bindings::metrics::{self as wit, Host, Metric};
use crate::instance::InstanceState;
use crate::metrics::{Category, Kind, MetricPoint};

/// Longest metric name accepted; longer names are cut so one plan cannot bloat outputs.
pub const MAX_METRIC_NAME_BYTES: usize = 256;

/// Longest unit, tag name or tag value kept, cut as names are: a unit is a
/// word (`ms`, `bytes/s`), and every point carries its own copy.
pub const MAX_METRIC_LABEL_BYTES: usize = 64;

/// Most tags kept on one point; later ones are dropped.
pub const MAX_METRIC_TAGS: usize = 16;

impl Host for InstanceState {
    fn record(&mut self, metric: Metric, value: f64) -> wasmtime::Result<()> {
        let name = cut(metric.name, MAX_METRIC_NAME_BYTES);
        let unit = metric.unit.map(|u| cut(u, MAX_METRIC_LABEL_BYTES));
        let tags = (metric.tags.into_iter().take(MAX_METRIC_TAGS))
            .map(|(k, v)| (cut(k, MAX_METRIC_LABEL_BYTES), cut(v, MAX_METRIC_LABEL_BYTES)))
            .collect();
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
            kind: kind(metric.kind),
            category: category(metric.category),
            unit,
            tags,
            value,
        });
        Ok(())
    }
}

/// `text` cut to at most `max` bytes, at a character boundary.
fn cut(mut text: String, max: usize) -> String {
    let end = crate::text::truncate(&text, max).len();
    text.truncate(end);
    text
}

/// The model's kind of a `tg:plan/metrics` kind.
fn kind(k: wit::MetricKind) -> Kind {
    match k {
        wit::MetricKind::Point => Kind::Point,
        wit::MetricKind::Counter => Kind::Counter,
        wit::MetricKind::Gauge => Kind::Gauge,
        wit::MetricKind::Histogram => Kind::Histogram,
        wit::MetricKind::Timer => Kind::Timer,
    }
}

/// The model's category of a `tg:plan/metrics` category.
fn category(c: wit::Category) -> Category {
    match c {
        wit::Category::Result => Category::Result,
        wit::Category::Diagnostic => Category::Diagnostic,
    }
}
