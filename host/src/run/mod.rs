//! One run of a plan, from inputs to outputs.
//!
//! [`spec`] holds the inputs, [`prepare`] compiles and links the plan and
//! checks the request against its manifest, [`execute`] runs the instances,
//! [`outcome`] classifies how each ended, [`summary`] tallies them and
//! [`directory`] writes the run directory. [`run`] does all of it; [`split`]
//! runs it across worker processes. [`network`] lays out the data network a
//! composition describes.

pub mod directory;
pub mod execute;
pub mod faults;
pub mod network;
pub mod outcome;
pub mod prepare;
pub mod spec;
pub mod split;
pub mod summary;

pub use execute::{Execution, InstanceOutput, Part, execute, execute_observed, execute_part, execute_with_sync};
pub use faults::ScheduledFault;
pub use network::NetworkSpec;
pub use outcome::{InstanceOutcome, Outcome};
pub use prepare::{PreparedPlan, prepare};
pub use spec::{GroupRequest, RunSpec};
pub use summary::RunSummary;

use crate::error::InputError;
use std::path::Path;

/// Checks the request against the plan's manifest: the case exists and the
/// instance count is within its bounds.
pub fn check_request(spec: &RunSpec, prepared: &PreparedPlan) -> Result<(), InputError> {
    let manifest = &prepared.manifest;
    let Some(case) = manifest.case(&spec.test_case) else {
        return Err(InputError::new(format!(
            "plan {:?} has no test case {:?}; its test cases are: {}",
            manifest.name,
            spec.test_case,
            manifest.case_names()
        )));
    };
    let n = spec.instance_count();
    if n < case.min_instances || n > case.max_instances {
        return Err(InputError::new(format!(
            "test case {:?} runs with {}..={} instances, not {n}",
            case.name, case.min_instances, case.max_instances
        )));
    }
    Ok(())
}

/// Prepares, checks, executes and records a run; writes the run directory to `out`.
pub fn run(spec: &RunSpec, out: &Path) -> anyhow::Result<(RunSummary, Execution)> {
    run_observed(spec, out, None)
}

/// Like [`run`], showing `observer` the run's progress while it executes.
pub fn run_observed(
    spec: &RunSpec,
    out: &Path,
    observer: Option<&dyn crate::report::progress::Observer>,
) -> anyhow::Result<(RunSummary, Execution)> {
    run_with_sync(spec, out, observer, &crate::sync::SyncSetting::Embedded)
}

/// Like [`run_observed`], with the sync states and topics kept by the backend
/// `sync` names (`--sync`). The outputs are written even when the backend
/// fails mid-run: the summary then says `sync-failed`.
pub fn run_with_sync(
    spec: &RunSpec,
    out: &Path,
    observer: Option<&dyn crate::report::progress::Observer>,
    sync: &crate::sync::SyncSetting,
) -> anyhow::Result<(RunSummary, Execution)> {
    if spec.instance_count() == 0 {
        return Err(InputError::new("a run needs at least one instance (--instances 1 or more)").into());
    }
    crate::engine::check_address_space(spec.instance_count(), spec.engine.memory_limit)?;
    crate::engine::check_mapping_limit(spec.instance_count())?;
    let prepared = prepare(&spec.component, &spec.engine, spec.instance_count())?;
    check_request(spec, &prepared)?;
    directory::write_inputs(out, spec)?;
    let execution = execute_with_sync(spec, &prepared, observer, sync)?;
    let summary = RunSummary::new(spec, &prepared.manifest.name, &execution);
    directory::write_outputs(out, &summary, &execution)?;
    crate::report::write_outputs(out, &summary, &execution)?;
    Ok((summary, execution))
}
