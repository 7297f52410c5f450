//! A recorded run read back: `run.json` into a [`RunSpec`] again.
//!
//! This is the reading side of [`crate::run::directory::write_inputs`]. It finds
//! the component the run used — the copy kept in the run directory first, the
//! recorded path otherwise — and refuses one whose SHA-256 is not the recorded
//! one: replaying other bytes would prove nothing. It does not run anything.

use crate::component::{self, PlanComponent};
use crate::engine::EngineSettings;
use crate::error::InputError;
use crate::run::directory::COMPONENT_COPY;
use crate::run::{GroupRequest, RunSpec};
use anyhow::Context as _;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The inputs file of a run directory.
pub const INPUTS_FILE: &str = "run.json";

/// One group as `run.json` records it.
#[derive(Clone, Debug, Deserialize)]
pub struct RecordedGroup {
    /// Name.
    pub id: String,
    /// Instances.
    pub instances: u32,
    /// Params.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
}

/// The inputs of a run as `run.json` records them.
#[derive(Clone, Debug, Deserialize)]
pub struct RecordedRun {
    /// The tg-wasm version that made the run.
    pub tg_wasm_version: String,
    /// The plan component's path as given to the run.
    pub component_path: PathBuf,
    /// SHA-256 of the component.
    pub component_sha256: String,
    /// Test case.
    pub test_case: String,
    /// Seed.
    pub seed: u64,
    /// Groups, in order.
    pub groups: Vec<RecordedGroup>,
    /// Global params.
    #[serde(default)]
    pub global_params: BTreeMap<String, String>,
    /// Engine settings.
    pub engine: EngineSettings,
    /// Sync latency in nanoseconds.
    #[serde(default)]
    pub sync_latency_ns: u64,
    /// Virtual-time limit in nanoseconds.
    #[serde(default)]
    pub virtual_timeout_ns: Option<u64>,
    /// Wall-time limit in nanoseconds.
    #[serde(default)]
    pub wall_timeout_ns: Option<u64>,
    /// The component copy's file name in the run directory (absent in runs
    /// recorded before copies were kept).
    #[serde(default)]
    pub component_copy: Option<String>,
    /// Faults injected, each at its virtual time.
    #[serde(default)]
    pub faults: Vec<crate::run::ScheduledFault>,
    /// The data network's layout (absent: the flat default).
    #[serde(default)]
    pub network: crate::run::NetworkSpec,
}

/// Reads `run.json` of run directory `dir`.
pub fn read(dir: &Path) -> anyhow::Result<RecordedRun> {
    let path = dir.join(INPUTS_FILE);
    if !path.is_file() {
        return Err(
            InputError::new(format!("{} is not a run directory (no {INPUTS_FILE} in it)", dir.display())).into()
        );
    }
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text)
        .map_err(|e| InputError::new(format!("{} is not a readable {INPUTS_FILE}: {e}", path.display())).into())
}

/// Where a component was found for a replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ComponentSource {
    /// The copy kept in the run directory.
    Copy(PathBuf),
    /// The path the run recorded (no copy was kept).
    RecordedPath(PathBuf),
}

impl ComponentSource {
    /// The file.
    pub fn path(&self) -> &Path {
        match self {
            ComponentSource::Copy(p) | ComponentSource::RecordedPath(p) => p,
        }
    }
}

/// Loads the component `recorded` ran, preferring the copy in `dir`, and
/// refuses it if its SHA-256 differs from the recorded one.
pub fn component(dir: &Path, recorded: &RecordedRun) -> Result<(PlanComponent, ComponentSource), InputError> {
    let copy = dir.join(recorded.component_copy.as_deref().unwrap_or(COMPONENT_COPY));
    let source = if copy.is_file() {
        ComponentSource::Copy(copy)
    } else if recorded.component_path.is_file() {
        ComponentSource::RecordedPath(recorded.component_path.clone())
    } else {
        return Err(InputError::new(format!(
            "cannot replay {}: it holds no {COMPONENT_COPY} and the recorded plan {} does not exist",
            dir.display(),
            recorded.component_path.display()
        )));
    };
    let component = component::load(source.path())?;
    if component.sha256 != recorded.component_sha256 {
        return Err(InputError::new(format!(
            "refusing to replay {}: {} has sha256 {}, but the run recorded {}; the plan changed since the run",
            dir.display(),
            source.path().display(),
            short(&component.sha256),
            short(&recorded.component_sha256),
        )));
    }
    Ok((component, source))
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(16)]
}

impl RecordedRun {
    /// The run's inputs as a [`RunSpec`] on `component`. The wall-time limit is
    /// left out: it never changes events, only where a run is cut off, and a
    /// replay runs to the end.
    pub fn spec(&self, component: PlanComponent) -> RunSpec {
        RunSpec {
            component,
            test_case: self.test_case.clone(),
            groups: self
                .groups
                .iter()
                .map(|g| GroupRequest { id: g.id.clone(), instances: g.instances, params: g.params.clone() })
                .collect(),
            global_params: self.global_params.clone(),
            seed: self.seed,
            engine: self.engine.clone(),
            sync_latency: Duration::from_nanos(self.sync_latency_ns),
            virtual_timeout: self.virtual_timeout_ns.map(Duration::from_nanos),
            wall_timeout: None,
            keep_trace: false,
            interrupt: None,
            faults: self.faults.clone(),
            network: self.network.clone(),
        }
    }
}
