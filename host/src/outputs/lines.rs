//! The line files of a run directory: `metrics.jsonl` (every metric point)
//! and `states.jsonl` (the sync-state timeline), written after a run and read
//! back by `tg-wasm report`.
//!
//! `metrics.jsonl` has one object per point, in recording order:
//! `{"t_ns", "instance", "group", "name", "kind", "category", "unit", "tags", "value"}`
//! — virtual time in nanoseconds, global seq, group id, metric name, `point` |
//! `counter` | `gauge` | `histogram` | `timer`, `result` | `diagnostic`, unit or
//! null, tags as an object in the order given, and the value (null if not finite).
//!
//! `states.jsonl` has one object per mark: `{"t_ns", "state", "kind", "count"}`
//! where `kind` is `signal` (`count` is the state's count after the signals of
//! that instant) or `barrier-pass` (`count` barriers passed at that instant).
//!
//! Files are written through [`crate::files`], so a reader never sees half a
//! file. This module does not aggregate or render.

use crate::error::Error;
use crate::metrics::aggregate::Sample;
use crate::metrics::{Category, Kind};
use crate::report::{OutcomeLine, StateLine};
use crate::run::Execution;
use anyhow::Context as _;
use serde::ser::SerializeMap as _;
use serde::{Deserialize, Serialize, Serializer};
use std::io::BufRead as _;
use std::path::Path;

/// Tags serialized as a JSON object in the order the plan gave them.
struct Tags<'a>(&'a [(String, String)]);

impl Serialize for Tags<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

#[derive(Serialize)]
struct PointOut<'a> {
    t_ns: u64,
    instance: u32,
    group: &'a str,
    name: &'a str,
    kind: Kind,
    category: Category,
    unit: Option<&'a str>,
    tags: Tags<'a>,
    value: f64,
}

/// Writes every metric point of `execution` to `path`.
pub fn write_metrics(path: &Path, execution: &Execution) -> anyhow::Result<()> {
    crate::files::write_with(path, |out| {
        for p in &execution.metrics {
            let group = execution.placements.get(p.node.index()).map_or("?", |pl| pl.group.id.as_str());
            let line = PointOut {
                t_ns: p.at.as_nanos(),
                instance: p.node.0,
                group,
                name: &p.name,
                kind: p.kind,
                category: p.category,
                unit: p.unit.as_deref(),
                tags: Tags(&p.tags),
                value: p.value,
            };
            serde_json::to_writer(&mut *out, &line)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    })
}

/// One line of `metrics.jsonl`, read back.
#[derive(Debug, Deserialize)]
pub struct PointLine {
    /// Virtual time, ns.
    pub t_ns: u64,
    /// Global seq.
    pub instance: u32,
    /// Group id.
    pub group: String,
    /// Metric name.
    pub name: String,
    /// Kind.
    pub kind: Kind,
    /// Category.
    pub category: Category,
    /// Unit.
    pub unit: Option<String>,
    /// Value; null stands for a non-finite one.
    pub value: Option<f64>,
}

impl PointLine {
    /// The point as an aggregation sample, if its group is one of `groups`.
    pub fn sample<'a>(&'a self, groups: &[String]) -> Option<Sample<'a>> {
        Some(Sample {
            t_ns: self.t_ns,
            instance: self.instance,
            group: groups.iter().position(|g| *g == self.group)?,
            name: &self.name,
            kind: self.kind,
            category: self.category,
            unit: self.unit.as_deref(),
            value: self.value.unwrap_or(f64::NAN),
        })
    }
}

/// Reads `metrics.jsonl`; a missing file means no metrics.
pub fn read_metrics(path: &Path) -> Result<Vec<PointLine>, Error> {
    read_lines(path)
}

/// The records of a JSON-lines file; none if it is missing. A line that is
/// not a record is bad input (a file damaged or edited since the run).
fn read_lines<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Vec<T>, Error> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(anyhow::Error::from(e).context(format!("opening {}", path.display())).into()),
    };
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(serde_json::from_str(&line).map_err(|e| {
            Error::input(format!("{}:{}: not a record ({e}); the file was damaged", path.display(), i + 1))
        })?);
    }
    Ok(out)
}

/// Writes how each instance ended to `path`, one line per instance by global seq.
pub fn write_outcomes(path: &Path, execution: &Execution) -> anyhow::Result<()> {
    crate::files::write_with(path, |out| {
        for line in outcome_lines(execution) {
            serde_json::to_writer(&mut *out, &line)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    })
}

/// How each instance of `execution` ended, as `outcomes.jsonl` lines.
pub fn outcome_lines(execution: &Execution) -> Vec<OutcomeLine> {
    execution
        .placements
        .iter()
        .zip(&execution.outcomes)
        .zip(&execution.records)
        .map(|((p, o), r)| OutcomeLine {
            instance: p.node.0,
            group: p.group.id.clone(),
            outcome: o.outcome,
            reason: o.reason.clone(),
            at_ns: o.at_ns,
            fuel_used: r.fuel_used,
        })
        .collect()
}

/// Reads `outcomes.jsonl`; a missing file (a directory written before it existed) means none.
pub fn read_outcomes(path: &Path) -> Result<Vec<OutcomeLine>, Error> {
    read_lines(path)
}

/// Writes the state timeline to `path`.
pub fn write_states(path: &Path, marks: &[netsim::StateMark]) -> anyhow::Result<()> {
    crate::files::write_with(path, |out| {
        for m in marks {
            serde_json::to_writer(&mut *out, &StateLine::from(m))?;
            out.write_all(b"\n")?;
        }
        Ok(())
    })
}

/// Reads `states.jsonl`; a missing file means no states.
pub fn read_states(path: &Path) -> Result<Vec<StateLine>, Error> {
    read_lines(path)
}
