//! Metrics a plan reports: results (what the test measures) and diagnostics
//! (what helps understand it), as Testground's `R()` and `D()`.
//!
//! Values go to the host at once, stamped with virtual time; the host does the
//! aggregation the metric's kind asks for.

use std::time::Duration;

use crate::bindings::tg::plan::metrics as host;

/// Records metrics of one category, with an optional unit and tags applied to
/// every value it records. Get one with [`RunEnv::r`](crate::RunEnv::r) or
/// [`RunEnv::d`](crate::RunEnv::d).
///
/// ```no_run
/// use std::time::Duration;
/// use tg_sdk::prelude::*;
///
/// fn case(env: &RunEnv) -> tg_sdk::Result<()> {
///     env.r().counter("messages", 1.0);
///     env.r().unit("bytes").tag("peer", "3").histogram("payload", 1024.0);
///     env.d().timer("handshake", Duration::from_millis(12));
///     Ok(())
/// }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a recorder records nothing until one of its methods is called"]
pub struct Recorder {
    category: host::Category,
    unit: Option<String>,
    tags: Vec<(String, String)>,
}

impl Recorder {
    pub(crate) fn results() -> Self {
        Recorder { category: host::Category::Result, unit: None, tags: Vec::new() }
    }

    pub(crate) fn diagnostics() -> Self {
        Recorder { category: host::Category::Diagnostic, unit: None, tags: Vec::new() }
    }

    /// Sets the unit of the values this recorder records.
    pub fn unit(mut self, unit: impl Into<String>) -> Self {
        self.unit = Some(unit.into());
        self
    }

    /// Adds a tag to the values this recorder records.
    pub fn tag(mut self, key: impl Into<String>, value: impl ToString) -> Self {
        self.tags.push((key.into(), value.to_string()));
        self
    }

    fn record(&self, name: &str, kind: host::MetricKind, unit: Option<&str>, value: f64) {
        let metric = host::Metric {
            name: name.to_owned(),
            kind,
            category: self.category,
            unit: self.unit.as_deref().or(unit).map(str::to_owned),
            tags: self.tags.clone(),
        };
        host::record(&metric, value);
    }

    /// Records a raw sample.
    pub fn point(&self, name: &str, value: f64) {
        self.record(name, host::MetricKind::Point, None, value);
    }

    /// Adds `delta` to a running total.
    pub fn counter(&self, name: &str, delta: f64) {
        self.record(name, host::MetricKind::Counter, None, delta);
    }

    /// Sets the latest value of a level.
    pub fn gauge(&self, name: &str, value: f64) {
        self.record(name, host::MetricKind::Gauge, None, value);
    }

    /// Records one observation of a distribution.
    pub fn histogram(&self, name: &str, value: f64) {
        self.record(name, host::MetricKind::Histogram, None, value);
    }

    /// Records a duration, in seconds (the unit is `s` unless set otherwise).
    pub fn timer(&self, name: &str, elapsed: Duration) {
        self.record(name, host::MetricKind::Timer, Some("s"), elapsed.as_secs_f64());
    }
}
