//! The summary of a run: outcomes per group with reasons, the digest, timings.
//!
//! [`RunSummary`] is what `summary.json` holds and what the terminal table is
//! drawn from. A run succeeds when every instance of every group is `ok`,
//! Testground's rule.

use super::execute::Execution;
use super::outcome::{Outcome, stopped_reason, why_stopped};
use super::spec::RunSpec;
use crate::text::{self, terminal};
use netsim::{BlockedInstance, RunEnd};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// At most this many distinct reasons are listed per group.
const MAX_REASONS_PER_GROUP: usize = 10;

/// A reason some instances of a group did not succeed.
#[derive(Clone, Debug, Serialize)]
pub struct ReasonCount {
    /// `failed`, `crashed` or `stalled`.
    pub outcome: Outcome,
    /// The reason. Instances the run stopped share one, in general words
    /// (`waiting on tcp read`, not which socket); each instance's own is in
    /// `outcomes.jsonl`.
    pub reason: String,
    /// How many instances ended this way.
    pub count: u32,
    /// The first such instance (global seq): the earliest to end, the lowest seq among those.
    pub first_instance: u32,
    /// Virtual time the first such instance ended, in nanoseconds.
    pub first_at_ns: u64,
    /// For instances the run stopped: whom they waited for, as far as the
    /// simulation can tell (those that never reached their barrier, the
    /// peers of their sockets), at most [`netsim::MAX_WAITING_FOR`], ascending.
    pub waiting_for: Vec<WaitedFor>,
}

/// An instance others waited for when the run stopped, and how it ended.
#[derive(Clone, Debug, Serialize)]
pub struct WaitedFor {
    /// Global seq.
    pub instance: u32,
    /// How it ended.
    pub outcome: Outcome,
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
    /// How many were still waiting when the run stopped.
    pub stalled: u32,
    /// Distinct reasons, earliest first.
    pub reasons: Vec<ReasonCount>,
}

/// The instance whose end came first among those that were not `ok`: where
/// to start looking.
#[derive(Clone, Debug, Serialize)]
pub struct FirstFailure {
    /// Global seq.
    pub instance: u32,
    /// Its group.
    pub group: String,
    /// `failed`, `crashed` or `stalled`.
    pub outcome: Outcome,
    /// Why.
    pub reason: String,
    /// Virtual time it ended, in nanoseconds.
    pub at_ns: u64,
}

/// The instance that burned the most fuel, and of what budget: how close
/// the run came to `--fuel`, which a larger run of the same plan may pass.
#[derive(Clone, Debug, Serialize)]
pub struct FuelUse {
    /// Global seq (the lowest of a tie).
    pub instance: u32,
    /// Fuel it burned (a restarted instance's stores together).
    pub used: u64,
    /// Each store's budget (`--fuel`).
    pub budget: u64,
}

impl FuelUse {
    /// The busiest of `used` (fuel per instance, by global seq) against
    /// `budget`; none if nothing was counted.
    fn busiest(used: impl IntoIterator<Item = u64>, budget: u64) -> Option<FuelUse> {
        let (instance, used) =
            used.into_iter().enumerate().fold((0, 0), |best, (i, u)| if u > best.1 { (i, u) } else { best });
        (used > 0).then_some(FuelUse { instance: instance as u32, used, budget })
    }

    /// A line for the terminal when the busiest instance burned more than
    /// half its budget without running out (running out is its crash
    /// reason already): a warning before a larger run crashes.
    fn warning(&self) -> Option<String> {
        (self.used > self.budget / 2 && self.used < self.budget).then(|| {
            format!(
                "fuel: instance {} burned {} of its {} fuel units ({}%); a longer or larger run may exhaust it (raise it with --fuel)",
                self.instance,
                self.used,
                self.budget,
                text::percent(self.used, self.budget)
            )
        })
    }
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
    /// The earliest instance to end without succeeding, if any: failed and
    /// crashed ones before stalled ones, which end when the run stops.
    pub first_failure: Option<FirstFailure>,
    /// How the run ended: `completed`, `deadlock`, `virtual-timeout`, `wall-timeout`, `interrupted`,
    /// `memory-budget`.
    pub end: &'static str,
    /// Up to 20 instances that were blocked when the run stopped early.
    pub blocked: Vec<BlockedSummary>,
    /// Total blocked instances.
    pub blocked_count: usize,
    /// The instance that burned the most fuel; none if no instance ran.
    pub fuel: Option<FuelUse>,
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
    /// written (a full disk, say) or a split run lost shards' results: its
    /// files are not to be trusted as the whole run's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incomplete: Option<String>,
    /// Whether `digest` leaves out instances whose records never arrived (a
    /// split run that lost shards' results): then it is not the run's digest.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub partial_digest: bool,
}

impl RunSummary {
    /// Summarizes `execution` of `spec`.
    pub fn new(spec: &RunSpec, plan_name: &str, execution: &Execution) -> RunSummary {
        let mut groups: Vec<GroupSummary> = spec
            .groups
            .iter()
            .map(|g| GroupSummary {
                id: g.id.clone(),
                total: 0,
                ok: 0,
                failed: 0,
                crashed: 0,
                stalled: 0,
                reasons: Vec::new(),
            })
            .collect();
        let group_index: BTreeMap<&str, usize> =
            spec.groups.iter().enumerate().map(|(i, g)| (g.id.as_str(), i)).collect();
        let blocked: BTreeMap<u32, &BlockedInstance> = execution.blocked.iter().map(|b| (b.node.0, b)).collect();
        let stopped = why_stopped(&execution.end, spec.virtual_timeout);
        let mut reasons: Vec<BTreeMap<(Outcome, String), Gathered>> = vec![BTreeMap::new(); groups.len()];
        let mut first_failure: Option<(u64, bool, u32)> = None;
        for (placement, outcome) in execution.placements.iter().zip(&execution.outcomes) {
            let gi = group_index[placement.group.id.as_str()];
            let g = &mut groups[gi];
            let seq = placement.node.0;
            g.total += 1;
            match outcome.outcome {
                Outcome::Ok => g.ok += 1,
                Outcome::Failed => g.failed += 1,
                Outcome::Crashed => g.crashed += 1,
                Outcome::Stalled => g.stalled += 1,
            }
            if outcome.outcome == Outcome::Ok {
                continue;
            }
            // Failed and crashed instances come before stalled ones at the same instant: they are causes.
            let key = (outcome.at_ns, outcome.outcome == Outcome::Stalled, seq);
            if first_failure.is_none_or(|first| key < first) {
                first_failure = Some(key);
            }
            // Instances the run stopped are counted together by what they waited on, not by which socket or deadline.
            let (reason, waiting_for) = match blocked.get(&seq) {
                Some(b) => (stopped_reason(&stopped, &b.waits_on_kind), b.waiting_for.as_slice()),
                None => (outcome.reason.clone().unwrap_or_default(), &[][..]),
            };
            let entry = reasons[gi].entry((outcome.outcome, reason)).or_insert_with(|| Gathered {
                count: 0,
                first: (outcome.at_ns, seq),
                waiting_for: BTreeSet::new(),
            });
            entry.count += 1;
            entry.first = entry.first.min((outcome.at_ns, seq));
            entry.waiting_for.extend(waiting_for.iter().map(|n| n.0));
        }
        for (g, r) in groups.iter_mut().zip(reasons) {
            let mut list: Vec<ReasonCount> = r
                .into_iter()
                .map(|((outcome, reason), gathered)| ReasonCount {
                    outcome,
                    reason,
                    count: gathered.count,
                    first_instance: gathered.first.1,
                    first_at_ns: gathered.first.0,
                    waiting_for: gathered
                        .waiting_for
                        .into_iter()
                        .take(netsim::MAX_WAITING_FOR)
                        .filter_map(|seq| {
                            let outcome = execution.outcomes.get(seq as usize)?.outcome;
                            Some(WaitedFor { instance: seq, outcome })
                        })
                        .collect(),
                })
                .collect();
            list.sort_by_key(reason_order);
            list.truncate(MAX_REASONS_PER_GROUP);
            g.reasons = list;
        }
        let first_failure = first_failure.map(|(at_ns, _, seq)| {
            let outcome = &execution.outcomes[seq as usize];
            FirstFailure {
                instance: seq,
                group: execution.placements[seq as usize].group.id.clone(),
                outcome: outcome.outcome,
                reason: outcome.reason.clone().unwrap_or_default(),
                at_ns,
            }
        });
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
            first_failure,
            end: execution.end.name(),
            blocked: execution
                .blocked
                .iter()
                .take(20)
                .map(|b| BlockedSummary { instance: b.node.0, waits_on: b.waits_on.clone() })
                .collect(),
            blocked_count: execution.blocked.len(),
            fuel: FuelUse::busiest(execution.records.iter().map(|r| r.fuel_used), spec.engine.fuel),
            digest: execution.digest.clone(),
            trace_events: execution.trace_events,
            virtual_time_ns: execution.virtual_time.as_nanos(),
            wall_time_s: execution.wall_time.as_secs_f64(),
            sim_events: execution.events,
            metrics,
            component_sha256: spec.component.sha256.clone(),
            incomplete: None,
            partial_digest: false,
            tg_wasm_version: env!("CARGO_PKG_VERSION"),
        }
    }

    /// Whether every instance of every group succeeded.
    pub fn success(&self) -> bool {
        self.outcome == "success"
    }

    /// The terminal rendering: a table of groups, the reasons in the order
    /// their first instance ended (the root cause first), the verdict and
    /// the digest.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Columns line up for ids up to this long; a longer id pushes its row
        // right (and a width past u16::MAX would not format at all).
        const WIDEST_ALIGNED_ID: usize = 40;
        let ids: Vec<_> = self.groups.iter().map(|g| terminal(&g.id)).collect();
        let width = ids.iter().map(|id| id.len()).max().unwrap_or(5).clamp(5, WIDEST_ALIGNED_ID);
        let _ = writeln!(
            out,
            "{:<width$}  {:>8}  {:>8}  {:>8}  {:>8}  {:>8}",
            "group", "ok", "failed", "crashed", "stalled", "total"
        );
        for (g, id) in self.groups.iter().zip(&ids) {
            let _ = writeln!(
                out,
                "{:<width$}  {:>8}  {:>8}  {:>8}  {:>8}  {:>8}",
                id, g.ok, g.failed, g.crashed, g.stalled, g.total
            );
        }
        out.push_str(&self.render_reasons());
        if let Some(warning) = self.fuel.as_ref().and_then(FuelUse::warning) {
            let _ = writeln!(out, "{warning}");
        }
        out.push_str(&crate::metrics::aggregate::render_table(&self.metrics.results));
        let per_group: Vec<String> =
            self.groups.iter().zip(&ids).map(|(g, id)| format!("{id}:{}/{}", g.ok, g.total)).collect();
        let _ = writeln!(
            out,
            "run finished with outcome = {} ({}) — {}, {} virtual, {}, {:.2} s wall",
            self.outcome,
            per_group.join(", "),
            text::count(u64::from(self.instances), "instance"),
            netsim::SimTime::from_nanos(self.virtual_time_ns),
            text::count(self.sim_events, "event"),
            self.wall_time_s
        );
        let records = text::count(self.trace_events, "record");
        // Said on the line itself, so that it is not compared as the run's.
        let partial = if self.partial_digest { "; without the shards never heard from, so not the run's" } else { "" };
        let _ = writeln!(out, "trace digest {} (seed {}, {records}{partial})", self.digest, self.seed);
        out
    }

    /// Every group's reasons as lines, earliest first across groups: the
    /// first line is where to start looking.
    pub fn render_reasons(&self) -> String {
        let mut all: Vec<(&GroupSummary, &ReasonCount)> =
            self.groups.iter().flat_map(|g| g.reasons.iter().map(move |r| (g, r))).collect();
        all.sort_by_key(|a| reason_order(a.1));
        let mut out = String::new();
        for (g, r) in all {
            let _ = writeln!(out, "  {}: {}", terminal(&g.id), terminal(&r.describe()));
        }
        out
    }
}

impl ReasonCount {
    /// One line: how many, how and when the first ended, why, and whom the
    /// stalled waited for, with how each ended.
    pub fn describe(&self) -> String {
        let at = crate::text::duration_ns(self.first_at_ns);
        let first = if self.count == 1 {
            format!("instance {}", self.first_instance)
        } else {
            format!("first: instance {}", self.first_instance)
        };
        let mut line = format!("{} × {} at {at} ({first}): {}", self.count, self.outcome.as_str(), self.reason);
        if !self.waiting_for.is_empty() {
            let whom: Vec<String> =
                self.waiting_for.iter().map(|w| format!("{} ({})", w.instance, w.outcome.as_str())).collect();
            let _ =
                write!(line, " — waiting for instance{} {}", if whom.len() == 1 { "" } else { "s" }, whom.join(", "));
        }
        line
    }
}

/// What one reason gathers before it is a [`ReasonCount`].
#[derive(Clone)]
struct Gathered {
    count: u32,
    /// (virtual time, global seq) of the earliest instance.
    first: (u64, u32),
    waiting_for: BTreeSet<u32>,
}

/// Reasons in the order their first instance ended; at one instant, causes
/// (failed, crashed) before stalls, then the most frequent.
fn reason_order(r: &ReasonCount) -> (u64, bool, std::cmp::Reverse<u32>, u32) {
    (r.first_at_ns, r.outcome == Outcome::Stalled, std::cmp::Reverse(r.count), r.first_instance)
}
