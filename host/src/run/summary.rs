//! The summary of a run: outcomes per group with reasons, the digest, timings.
//!
//! [`RunSummary`] is what `summary.json` holds and what the terminal table is
//! drawn from. A run succeeds when every instance of every group is `ok`,
//! Testground's rule.

use super::execute::Execution;
use super::outcome::Outcome;
use super::spec::RunSpec;
use netsim::RunEnd;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// At most this many distinct reasons are listed per group.
const MAX_REASONS_PER_GROUP: usize = 10;

/// A reason some instances of a group did not succeed.
#[derive(Clone, Debug, Serialize)]
pub struct ReasonCount {
    /// `failed` or `crashed`.
    pub outcome: Outcome,
    /// The reason.
    pub reason: String,
    /// How many instances ended this way.
    pub count: u32,
    /// The first such instance (global seq).
    pub first_instance: u32,
}

/// Outcomes of one group.
#[derive(Clone, Debug, Serialize)]
pub struct GroupSummary {
    /// Group name.
    pub id: String,
    /// Instances in the group.
    pub total: u32,
    /// How many succeeded.
    pub ok: u32,
    /// How many failed.
    pub failed: u32,
    /// How many crashed.
    pub crashed: u32,
    /// Distinct reasons, most frequent first.
    pub reasons: Vec<ReasonCount>,
}

/// An instance still blocked when the run stopped early.
#[derive(Clone, Debug, Serialize)]
pub struct BlockedSummary {
    /// Global seq.
    pub instance: u32,
    /// What it waited on.
    pub waits_on: Vec<String>,
}

/// Everything a person or a CI job wants to know after a run.
#[derive(Clone, Debug, Serialize)]
pub struct RunSummary {
    /// `success` or `failure`.
    pub outcome: &'static str,
    /// Plan name.
    pub plan: String,
    /// Test case.
    pub test_case: String,
    /// Run identifier given to plans.
    pub run_id: String,
    /// Seed.
    pub seed: u64,
    /// Instance count.
    pub instances: u32,
    /// Per group.
    pub groups: Vec<GroupSummary>,
    /// How the run ended: `completed`, `deadlock`, `virtual-timeout`, `wall-timeout`, `interrupted`.
    pub end: &'static str,
    /// Up to 20 instances that were blocked when the run stopped early.
    pub blocked: Vec<BlockedSummary>,
    /// Total blocked instances.
    pub blocked_count: usize,
    /// SHA-256 over the trace.
    pub digest: String,
    /// Events in the trace.
    pub trace_events: u64,
    /// Virtual time at the end, in nanoseconds.
    pub virtual_time_ns: u64,
    /// Wall time of the instances' execution, in seconds.
    pub wall_time_s: f64,
    /// Simulation events processed.
    pub sim_events: u64,
    /// Metric aggregates per metric and group, results and diagnostics apart.
    pub metrics: crate::metrics::aggregate::MetricsSummary,
    /// SHA-256 of the plan component.
    pub component_sha256: String,
    /// tg-wasm version.
    pub tg_wasm_version: &'static str,
    /// Why the run directory is incomplete, when an output could not be
    /// written (a full disk, say): its files are not to be trusted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<String>,
}

impl RunSummary {
    /// Summarizes `execution` of `spec`.
    pub fn new(spec: &RunSpec, plan_name: &str, execution: &Execution) -> RunSummary {
        let mut groups: Vec<GroupSummary> = spec
            .groups
            .iter()
            .map(|g| GroupSummary { id: g.id.clone(), total: 0, ok: 0, failed: 0, crashed: 0, reasons: Vec::new() })
            .collect();
        let mut reasons: Vec<BTreeMap<(Outcome, String), (u32, u32)>> = vec![BTreeMap::new(); groups.len()];
        let group_index: BTreeMap<&str, usize> =
            spec.groups.iter().enumerate().map(|(i, g)| (g.id.as_str(), i)).collect();
        for (placement, outcome) in execution.placements.iter().zip(&execution.outcomes) {
            let gi = group_index[placement.group.id.as_str()];
            let g = &mut groups[gi];
            g.total += 1;
            match outcome.outcome {
                Outcome::Ok => g.ok += 1,
                Outcome::Failed => g.failed += 1,
                Outcome::Crashed => g.crashed += 1,
            }
            if let Some(reason) = &outcome.reason {
                let entry = reasons[gi].entry((outcome.outcome, reason.clone())).or_insert((0, placement.node.0));
                entry.0 += 1;
            }
        }
        for (g, r) in groups.iter_mut().zip(reasons) {
            let mut list: Vec<ReasonCount> = r
                .into_iter()
                .map(|((outcome, reason), (count, first_instance))| ReasonCount {
                    outcome,
                    reason,
                    count,
                    first_instance,
                })
                .collect();
            list.sort_by(|a, b| b.count.cmp(&a.count).then(a.first_instance.cmp(&b.first_instance)));
            list.truncate(MAX_REASONS_PER_GROUP);
            g.reasons = list;
        }
        let success = execution.end == RunEnd::Completed && groups.iter().all(|g| g.ok == g.total);
        let group_ids: Vec<String> = groups.iter().map(|g| g.id.clone()).collect();
        let (metrics, _) = crate::metrics::aggregate::aggregate(&group_ids, execution.metric_samples(&group_ids));
        RunSummary {
            outcome: if success { "success" } else { "failure" },
            plan: plan_name.to_string(),
            test_case: spec.test_case.clone(),
            run_id: spec.test_run_id(),
            seed: spec.seed,
            instances: spec.instance_count(),
            groups,
            end: execution.end.name(),
            blocked: execution
                .blocked
                .iter()
                .take(20)
                .map(|b| BlockedSummary { instance: b.node.0, waits_on: b.waits_on.clone() })
                .collect(),
            blocked_count: execution.blocked.len(),
            digest: execution.digest.clone(),
            trace_events: execution.trace_events,
            virtual_time_ns: execution.virtual_time.as_nanos(),
            wall_time_s: execution.wall_time.as_secs_f64(),
            sim_events: execution.events,
            metrics,
            component_sha256: spec.component.sha256.clone(),
            incomplete: None,
            tg_wasm_version: env!("CARGO_PKG_VERSION"),
        }
    }

    /// Whether every instance of every group succeeded.
    pub fn success(&self) -> bool {
        self.outcome == "success"
    }

    /// The terminal rendering: a table of groups, reasons, the verdict and the digest.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Columns line up for ids up to this long; a longer id pushes its row
        // right (and a width past u16::MAX would not format at all).
        const WIDEST_ALIGNED_ID: usize = 40;
        let width = self.groups.iter().map(|g| g.id.len()).max().unwrap_or(5).clamp(5, WIDEST_ALIGNED_ID);
        let _ = writeln!(out, "{:<width$}  {:>8}  {:>8}  {:>8}  {:>8}", "group", "ok", "failed", "crashed", "total");
        for g in &self.groups {
            let _ = writeln!(out, "{:<width$}  {:>8}  {:>8}  {:>8}  {:>8}", g.id, g.ok, g.failed, g.crashed, g.total);
        }
        for g in &self.groups {
            for r in &g.reasons {
                let _ = writeln!(
                    out,
                    "  {} {} × {} (first: instance {}): {}",
                    g.id,
                    r.count,
                    r.outcome.as_str(),
                    r.first_instance,
                    r.reason
                );
            }
        }
        if self.blocked_count > 0 {
            let _ =
                writeln!(out, "{} instance(s) were blocked when the run stopped ({}):", self.blocked_count, self.end);
            for b in self.blocked.iter().take(5) {
                let _ = writeln!(out, "  instance {}: {}", b.instance, b.waits_on.join("; "));
            }
        }
        out.push_str(&crate::metrics::aggregate::render_table(&self.metrics.results));
        let per_group: Vec<String> = self.groups.iter().map(|g| format!("{}:{}/{}", g.id, g.ok, g.total)).collect();
        let _ = writeln!(
            out,
            "run finished with outcome = {} ({}) — {} instances, {} virtual, {:.2} s wall",
            self.outcome,
            per_group.join(", "),
            self.instances,
            netsim::SimTime::from_nanos(self.virtual_time_ns),
            self.wall_time_s
        );
        let _ = writeln!(out, "trace digest {} ({} events, seed {})", self.digest, self.trace_events, self.seed);
        out
    }
}
