//! What a run is asked to do: its inputs, all in one value.
//!
//! A [`RunSpec`] is everything a run is a function of (with the tg-wasm
//! version). It is what `run.json` records and what a replay starts from.

use crate::component::PlanComponent;
use crate::engine::EngineSettings;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// One group of instances to start.
#[derive(Clone, Debug)]
pub struct GroupRequest {
    /// Group name.
    pub id: String,
    /// How many instances.
    pub instances: u32,
    /// Parameters for this group; they override the global ones.
    pub params: BTreeMap<String, String>,
    /// The component its instances run, when not the run's own: a
    /// composition may give each group its own (`plan = ...`).
    pub component: Option<PlanComponent>,
    /// A program's arguments (after its name); `${TEST_*}` in them is
    /// replaced per instance. Plans get none.
    pub args: Vec<String>,
}

impl GroupRequest {
    /// A group of `instances` running the run's own component, with no
    /// parameters or arguments of its own.
    pub fn new(id: impl Into<String>, instances: u32) -> GroupRequest {
        GroupRequest { id: id.into(), instances, params: BTreeMap::new(), component: None, args: Vec::new() }
    }
}

/// The composition a run's groups came from: for the people reading its
/// outputs, not an input the run is a function of.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CompositionRef {
    /// The file, as given.
    pub file: String,
    /// Its `[metadata] name`.
    pub name: Option<String>,
}

/// The inputs of one run.
#[derive(Clone)]
pub struct RunSpec {
    /// The plan.
    pub component: PlanComponent,
    /// The test case to run.
    pub test_case: String,
    /// Groups, in order; instances are numbered through them.
    pub groups: Vec<GroupRequest>,
    /// Parameters every group gets unless it sets its own.
    pub global_params: BTreeMap<String, String>,
    /// The seed every random stream derives from.
    pub seed: u64,
    /// Engine settings that can change behaviour.
    pub engine: EngineSettings,
    /// One-way latency to the sync service.
    pub sync_latency: Duration,
    /// End the run if virtual time would pass this.
    pub virtual_timeout: Option<Duration>,
    /// End the run if it takes longer than this in wall time.
    pub wall_timeout: Option<Duration>,
    /// Keep every trace record, not only the digest.
    pub keep_trace: bool,
    /// Set by Ctrl-C to end the run early.
    pub interrupt: Option<Arc<AtomicBool>>,
    /// Set when the process goes over its memory budget
    /// ([`super::memory::MemoryWatch`]), to end the run early.
    pub memory: Option<Arc<AtomicBool>>,
    /// Faults to inject, in any order (each carries its virtual time).
    pub faults: Vec<super::ScheduledFault>,
    /// The data network's layout: group subnets, NATs, inbound filters, regions, IPv6.
    pub network: super::NetworkSpec,
    /// The composition file the groups came from, if any (reports name it).
    pub composition: Option<CompositionRef>,
    /// What the plans may make the host hold (topic bytes, sync names, sockets, messages).
    pub limits: crate::limits::HostLimits,
}

impl RunSpec {
    /// What `tg-wasm run PLAN -t CASE -i N` does with no other option: one
    /// group called `single`, seed 0, default engine settings, free sync, no
    /// limits, no faults, digest only. Adjust the fields from there.
    ///
    /// ```no_run
    /// # fn f(plan: tg_wasm::component::PlanComponent) {
    /// let mut spec = tg_wasm::run::RunSpec::single_group(plan, "sync", 1000);
    /// spec.seed = 7;
    /// spec.global_params.insert("label".into(), "x".into());
    /// # }
    /// ```
    pub fn single_group(component: PlanComponent, test_case: impl Into<String>, instances: u32) -> RunSpec {
        RunSpec {
            component,
            test_case: test_case.into(),
            groups: vec![GroupRequest::new("single", instances)],
            global_params: BTreeMap::new(),
            seed: 0,
            engine: EngineSettings::default(),
            sync_latency: Duration::ZERO,
            virtual_timeout: None,
            wall_timeout: None,
            keep_trace: false,
            interrupt: None,
            memory: None,
            faults: Vec::new(),
            network: super::NetworkSpec::default(),
            composition: None,
            limits: crate::limits::HostLimits::default(),
        }
    }

    /// Instances over all groups. Groups that add up past `u32::MAX` count as
    /// `u32::MAX`, which no machine can host: the run is refused for its size
    /// instead of wrapping round to a small one.
    pub fn instance_count(&self) -> u32 {
        self.groups.iter().fold(0u32, |n, g| n.saturating_add(g.instances))
    }

    /// Every distinct component of the run, its own first, then the groups'
    /// in order of first use.
    pub fn components(&self) -> Vec<&PlanComponent> {
        let mut all = vec![&self.component];
        for c in self.groups.iter().filter_map(|g| g.component.as_ref()) {
            if !all.iter().any(|a| a.sha256 == c.sha256) {
                all.push(c);
            }
        }
        all
    }

    /// The index in [`RunSpec::components`] of the component group `index` runs.
    pub fn component_of_group(&self, index: usize) -> usize {
        let sha = self.groups[index].component.as_ref().map_or(&self.component.sha256, |c| &c.sha256);
        self.components().iter().position(|c| c.sha256 == *sha).unwrap_or(0)
    }

    /// The run identifier plans see: derived from the inputs only, so a replay
    /// sees the same identifier and two runs of the same inputs behave the same.
    pub fn test_run_id(&self) -> String {
        let mut key = format!("{}\n{}\n{}\n", self.component.sha256, self.test_case, self.seed);
        for g in &self.groups {
            key.push_str(&format!("{}={}:{:?}\n", g.id, g.instances, g.params));
            // Only what a group adds: runs without group components keep their identifiers.
            if let Some(component) = &g.component {
                key.push_str(&format!("component={}\n", component.sha256));
            }
            if !g.args.is_empty() {
                key.push_str(&format!("args={:?}\n", g.args));
            }
        }
        key.push_str(&format!("{:?}", self.global_params));
        crate::component::load::sha256_hex(key.as_bytes())[..12].to_string()
    }
}
