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
    /// Faults to inject, in any order (each carries its virtual time).
    pub faults: Vec<super::ScheduledFault>,
    /// The data network's layout: group subnets, NATs, inbound filters, regions, IPv6.
    pub network: super::NetworkSpec,
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
            groups: vec![GroupRequest { id: "single".into(), instances, params: BTreeMap::new() }],
            global_params: BTreeMap::new(),
            seed: 0,
            engine: EngineSettings::default(),
            sync_latency: Duration::ZERO,
            virtual_timeout: None,
            wall_timeout: None,
            keep_trace: false,
            interrupt: None,
            faults: Vec::new(),
            network: super::NetworkSpec::default(),
            limits: crate::limits::HostLimits::default(),
        }
    }

    /// Instances over all groups. Groups that add up past `u32::MAX` count as
    /// `u32::MAX`, which no machine can host: the run is refused for its size
    /// instead of wrapping round to a small one.
    pub fn instance_count(&self) -> u32 {
        self.groups.iter().fold(0u32, |n, g| n.saturating_add(g.instances))
    }

    /// The run identifier plans see: derived from the inputs only, so a replay
    /// sees the same identifier and two runs of the same inputs behave the same.
    pub fn test_run_id(&self) -> String {
        let mut key = format!("{}\n{}\n{}\n", self.component.sha256, self.test_case, self.seed);
        for g in &self.groups {
            key.push_str(&format!("{}={}:{:?}\n", g.id, g.instances, g.params));
        }
        key.push_str(&format!("{:?}", self.global_params));
        crate::component::load::sha256_hex(key.as_bytes())[..12].to_string()
    }
}
