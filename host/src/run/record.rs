//! `run.json`: the inputs a run is a function of, recorded before it starts
//! and read back by a replay and by the workers of a split run.
//!
//! [`RunSpec::record_json`] writes it, [`RecordedRun`] reads it and turns it
//! back into a [`RunSpec`] on a component the reader found (by its hash:
//! the record names the plan, the run directory keeps a copy). Where the file
//! lives is the outputs' business; this module only encodes and decodes.

use super::faults::ScheduledFault;
use super::network::NetworkSpec;
use super::spec::{CompositionRef, GroupRequest, RunSpec};
use crate::component::PlanComponent;
use crate::engine::EngineSettings;
use crate::error::{Error, InputError};
use crate::limits::HostLimits;
use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The file name of the record in a run directory.
pub const RUN_FILE: &str = "run.json";

/// The refusal of `dir` where a run directory is wanted, `missing` being the
/// file it lacks: says what `dir` is instead, and for a file of a run
/// directory (`runs/x/run.json`, a path completed one level too far), which
/// directory to give.
pub fn not_a_run_directory(dir: &Path, missing: &str) -> InputError {
    const GIVE: &str = "give the directory a run wrote (its --out)";
    let shown = dir.display();
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            InputError::new(format!("{shown} does not exist; {GIVE}"))
        }
        Err(e) => InputError::new(format!("{shown} cannot be read as a run directory ({e}); {GIVE}")),
        Ok(meta) if meta.is_dir() => InputError::new(format!("{shown} is not a run directory (no {missing} in it)")),
        Ok(meta) if !meta.is_file() => InputError::new(format!("{shown} is not a directory; {GIVE}")),
        Ok(_) => match dir.parent().filter(|parent| parent.join(RUN_FILE).is_file()) {
            Some(parent) => {
                let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
                InputError::new(format!("{shown} is a file of run directory {}; give the directory", parent.display()))
            }
            None => InputError::new(format!("{shown} is a file, not a run directory; {GIVE}")),
        },
    }
}

/// The file name of the component copy kept in each run directory, so that a
/// replay does not depend on the plan file still being where it was.
pub const COMPONENT_COPY: &str = "plan.wasm";

/// The record as written.
#[derive(Serialize)]
struct RecordedInputs<'a> {
    tg_wasm_version: &'static str,
    component_path: String,
    component_sha256: &'a str,
    test_case: &'a str,
    seed: u64,
    groups: Vec<GroupOut<'a>>,
    global_params: &'a BTreeMap<String, String>,
    engine: &'a EngineSettings,
    sync_latency_ns: u128,
    /// It decides where a run stops.
    virtual_timeout_ns: Option<u128>,
    /// Recorded for the reader only: a run it ended cannot be replayed event for event.
    wall_timeout_ns: Option<u128>,
    component_copy: &'static str,
    faults: &'a [ScheduledFault],
    /// The data network's layout, when it is not the flat default.
    #[serde(skip_serializing_if = "NetworkSpec::is_flat")]
    network: &'a NetworkSpec,
    /// For people: which composition the groups came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    composition: &'a Option<CompositionRef>,
    limits: &'a HostLimits,
}

#[derive(Serialize)]
struct GroupOut<'a> {
    id: &'a str,
    instances: u32,
    params: &'a BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    component: Option<RecordedComponent>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    args: &'a [String],
}

/// A group's own component in `run.json`: where it was, its SHA-256, and the
/// name of its copy in the run directory.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecordedComponent {
    /// The path it was read from.
    pub path: PathBuf,
    /// Its SHA-256, hex.
    pub sha256: String,
    /// Its copy in the run directory.
    pub copy: String,
}

impl RecordedComponent {
    /// How `component` is recorded; its copy is named after its hash, so two
    /// groups running one component share the copy.
    pub fn of(component: &PlanComponent) -> RecordedComponent {
        RecordedComponent {
            path: component.path.clone(),
            sha256: component.sha256.clone(),
            copy: format!("{GROUP_COMPONENT_PREFIX}{}.wasm", &component.sha256[..16.min(component.sha256.len())]),
        }
    }
}

/// Copies of groups' own components in a run directory are
/// `component-<first 16 hex digits of the SHA-256>.wasm`.
pub const GROUP_COMPONENT_PREFIX: &str = "component-";

impl RunSpec {
    /// `run.json`'s contents: the inputs the run is a function of, the plan by its hash.
    pub fn record_json(&self) -> anyhow::Result<Vec<u8>> {
        let inputs = RecordedInputs {
            tg_wasm_version: env!("CARGO_PKG_VERSION"),
            component_path: self.component.path.display().to_string(),
            component_sha256: &self.component.sha256,
            test_case: &self.test_case,
            seed: self.seed,
            groups: self
                .groups
                .iter()
                .map(|g| GroupOut {
                    id: &g.id,
                    instances: g.instances,
                    params: &g.params,
                    component: g.component.as_ref().map(RecordedComponent::of),
                    args: &g.args,
                })
                .collect(),
            global_params: &self.global_params,
            engine: &self.engine,
            sync_latency_ns: self.sync_latency.as_nanos(),
            virtual_timeout_ns: self.virtual_timeout.map(|d| d.as_nanos()),
            wall_timeout_ns: self.wall_timeout.map(|d| d.as_nanos()),
            component_copy: COMPONENT_COPY,
            faults: &self.faults,
            network: &self.network,
            composition: &self.composition,
            limits: &self.limits,
        };
        Ok(serde_json::to_vec_pretty(&inputs)?)
    }
}

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
    /// Its own component, if it had one.
    #[serde(default)]
    pub component: Option<RecordedComponent>,
    /// A program's arguments.
    #[serde(default)]
    pub args: Vec<String>,
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
    pub faults: Vec<ScheduledFault>,
    /// The data network's layout (absent: the flat default).
    #[serde(default)]
    pub network: NetworkSpec,
    /// The composition the groups came from, if any.
    #[serde(default)]
    pub composition: Option<CompositionRef>,
    /// What the plans may make the host hold (absent in runs recorded before
    /// the limits were: the defaults, which no such run passed unnoticed).
    #[serde(default)]
    pub limits: HostLimits,
}

impl RecordedRun {
    /// Reads `run.json` of run directory `dir`.
    pub fn read(dir: &Path) -> Result<RecordedRun, Error> {
        let path = dir.join(RUN_FILE);
        if !path.is_file() {
            return Err(not_a_run_directory(dir, RUN_FILE).into());
        }
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
        RecordedRun::parse(&text)
            .map_err(|e| InputError::new(format!("{} is not a readable {RUN_FILE}: {e}", path.display())).into())
    }

    /// Decodes a record.
    pub fn parse(text: &str) -> Result<RecordedRun, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The run's inputs as a [`RunSpec`] on `component`. The wall-time limit is
    /// left out: it never changes events, only where a run is cut off, and a
    /// replay runs to the end.
    pub fn spec(&self, component: PlanComponent, group_components: Vec<Option<PlanComponent>>) -> RunSpec {
        RunSpec {
            component,
            test_case: self.test_case.clone(),
            groups: self
                .groups
                .iter()
                .zip(group_components.into_iter().chain(std::iter::repeat(None)))
                .map(|(g, component)| GroupRequest {
                    id: g.id.clone(),
                    instances: g.instances,
                    params: g.params.clone(),
                    component,
                    args: g.args.clone(),
                })
                .collect(),
            global_params: self.global_params.clone(),
            seed: self.seed,
            engine: self.engine.clone(),
            sync_latency: Duration::from_nanos(self.sync_latency_ns),
            virtual_timeout: self.virtual_timeout_ns.map(Duration::from_nanos),
            wall_timeout: None,
            keep_trace: false,
            interrupt: None,
            memory: None,
            faults: self.faults.clone(),
            network: self.network.clone(),
            composition: self.composition.clone(),
            limits: self.limits,
        }
    }
}
