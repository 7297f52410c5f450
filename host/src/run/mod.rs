//! One run of a plan: from checked inputs to what its instances did — not
//! where the results go, nor which of the ways to run it is used.
//!
//! Start at [`Run`]: [`Run::prepare`] checks a [`RunSpec`] against its plan
//! (compiling and linking it, [`prepare`]) and finds every input error before
//! anything is written or started; [`Run::execute`] runs the instances
//! ([`execute`]), whose ends [`outcome`] classifies; [`Run::summarize`]
//! tallies them ([`summary`]). Beside it: [`spec`] and [`record`] (the inputs,
//! and their `run.json` form), [`faults`] (a fault timeline), [`network`]
//! (the data network's layout a composition describes), [`observe`]
//! (sampling a run's progress), [`memory`] (the budget the whole run may
//! hold), [`threads`] (one run on several threads) and [`split`] (one run
//! across worker processes).
//!
//! This layer does not write the run directory ([`crate::outputs`]), render
//! anything for people ([`crate::report`]), or choose how to run
//! ([`crate::session`]); it imports none of them.

pub mod execute;
pub mod faults;
pub mod memory;
pub mod network;
pub mod observe;
pub mod outcome;
pub mod prepare;
pub mod record;
pub mod spec;
pub mod split;
pub mod summary;
pub mod threads;

pub use execute::{Execution, InstanceOutput, Part};
pub use faults::ScheduledFault;
pub use network::NetworkSpec;
pub use outcome::{InstanceOutcome, Outcome};
pub use prepare::{PreparedPlan, prepare};
pub use spec::{CompositionRef, GroupRequest, RunSpec};
pub use summary::RunSummary;

use crate::error::{Error, InputError};
use crate::instance::Placement;
use crate::manifest::Manifest;
use crate::sync::SyncSetting;
use netsim::shard::{ShardLayout, ShardLink};
use observe::{Observer, Progress};
use std::time::Duration;

/// A run checked against its plan and ready to execute: every error in its
/// inputs has been found, and nothing has been written or started.
pub struct Run {
    spec: RunSpec,
    prepared: PreparedPlan,
    placements: Vec<Placement>,
}

impl Run {
    /// Checks `spec` against its plan — the instance count, the memory it
    /// needs, the plan itself, the test case, every parameter, every fault —
    /// and prepares to host `hosted` of its instances in this process (all
    /// of them in a run in one process; a shard's in a worker; none, beyond
    /// `describe`, in the coordinator of a split run).
    pub fn prepare(spec: RunSpec, hosted: u32) -> Result<Run, Error> {
        let n = spec.instance_count();
        if n == 0 {
            return Err(InputError::new("a run needs at least one instance (--instances 1 or more)").into());
        }
        let components = spec.components();
        let shape = crate::component::Shape::covering_all(components.iter().map(|c| c.shape));
        crate::engine::check_address_space(hosted, shape.memories, spec.engine.memory_limit)?;
        crate::engine::check_mapping_limit(hosted, &shape)?;
        let prepared = prepare::prepare_all(&components, &spec.engine, hosted.max(1))?;
        check_request(&spec, &prepared)?;
        let placements = execute::placements(&spec, &prepared)?;
        for fault in &spec.faults {
            if let Some(bad) = fault.instances().find(|&s| s >= n) {
                return Err(
                    InputError::new(format!("a fault names instance {bad}, but the run has {n} instances")).into()
                );
            }
        }
        Ok(Run { spec, prepared, placements })
    }

    /// The inputs.
    pub fn spec(&self) -> &RunSpec {
        &self.spec
    }

    /// What the plan declares.
    pub fn manifest(&self) -> &Manifest {
        &self.prepared.manifest
    }

    /// Every instance's place: its group and its seq in it, by global seq.
    pub fn placements(&self) -> &[Placement] {
        &self.placements
    }

    /// Runs every instance in this process, with the sync states and topics
    /// kept by the backend `sync` names, showing `observer` the progress.
    /// The backend does not change the run's events or digest; if it fails
    /// mid-run, the run ends as `sync-failed` with the instances still
    /// waiting `crashed`.
    pub fn execute(&self, observer: Option<&dyn Observer>, sync: &SyncSetting) -> Result<Execution, Error> {
        let progress = Progress::new(self.spec.instance_count());
        execute::execute(self, observer, &progress, sync, Part::Whole)
    }

    /// Runs shard `layout` of a run split across processes (see
    /// [`netsim::shard`]), trading events with the other shards through
    /// `link` in windows no longer than `lookahead`. The result's
    /// per-instance entries are meaningful for this shard's instances only.
    pub fn execute_shard(
        &self,
        layout: ShardLayout,
        lookahead: Duration,
        link: &mut dyn ShardLink,
    ) -> Result<Execution, Error> {
        let progress = Progress::new(layout.nodes().len() as u32);
        execute::execute(self, None, &progress, &SyncSetting::Embedded, Part::Shard { layout, lookahead, link })
    }

    /// Tallies `execution` per group, with the run's metric aggregates.
    pub fn summarize(&self, execution: &Execution) -> RunSummary {
        RunSummary::new(&self.spec, &self.prepared.manifest.name, execution)
    }
}

/// Checks the request against every plan's manifest: the case exists and
/// the instance count is within its bounds. A program has no manifest: any
/// test case is its to interpret, at any size.
pub fn check_request(spec: &RunSpec, prepared: &PreparedPlan) -> Result<(), Error> {
    for component in prepared.components.iter().filter(|c| !c.entry.is_program()) {
        check_case(spec, &component.manifest)?;
    }
    Ok(())
}

fn check_case(spec: &RunSpec, manifest: &Manifest) -> Result<(), Error> {
    let Some(case) = manifest.case(&spec.test_case) else {
        return Err(InputError::new(format!(
            "plan {:?} has no test case {:?}; its test cases are: {}",
            manifest.name,
            spec.test_case,
            manifest.case_names()
        ))
        .into());
    };
    let n = spec.instance_count();
    if n < case.min_instances || n > case.max_instances {
        return Err(InputError::new(format!(
            "test case {:?} runs with {}..={} instances, not {n}",
            case.name, case.min_instances, case.max_instances
        ))
        .into());
    }
    Ok(())
}
