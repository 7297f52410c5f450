//! Running every instance of a prepared plan to its outcome.
//!
//! Each instance is one task on netsim's executor: create a `Store`,
//! instantiate from the shared `InstancePre`, call `run`. Instances are
//! numbered through the groups in order. When the executor stops early
//! (deadlock, timeout, Ctrl-C) the unfinished instances are ended as
//! `stalled` with what each was waiting on (or `crashed`, if the sync service
//! or a split run broke under them, or they were busy), and everything they
//! printed is kept.

use super::observe::{Observer, Progress};
use super::outcome::{InstanceOutcome, LimitsInForce, Outcome, classify_error, stopped_reason, why_stopped};
use super::prepare::{PreparedPlan, instance_store};
use super::spec::RunSpec;
use crate::error::{Error, InputError};
use crate::instance::{GroupEnv, InstanceLimits, InstanceRecord, InstanceState, Placement, RecordedMessage, RunEnv};
use crate::metrics::{MetricPoint, MetricSink};
use crate::sync::SyncSetting;
use netsim::shard::{ShardLayout, ShardLink};
use netsim::trace::Records;
use netsim::{BlockedInstance, Executor, NodeDigest, NodeId, RunEnd, RunLimits, Sim, SimConfig, SimHandle, SimTime};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Everything a finished run produced.
///
/// A worker of a split run sends its own back to the coordinator (see
/// [`crate::run::split::result`]); the placements stay behind, as the
/// coordinator has them from the inputs.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Execution {
    /// The instances' places (group, group seq), by global seq.
    #[serde(skip)]
    pub placements: Vec<Placement>,
    /// How each instance ended, by global seq.
    pub outcomes: Vec<InstanceOutcome>,
    /// Output and messages of each instance, by global seq.
    pub records: Vec<InstanceOutput>,
    /// Why the executor stopped.
    pub end: RunEnd,
    /// What the unfinished instances waited on, if the run stopped early.
    pub blocked: Vec<BlockedInstance>,
    /// The trace digest (see [`netsim::combine_digests`]).
    pub digest: String,
    /// The digest of each instance's records (and the simulation's), in node order.
    pub node_digests: Vec<NodeDigest>,
    /// Number of traced events.
    pub trace_events: u64,
    /// The trace records, if kept.
    pub trace: Option<Records>,
    /// Virtual time when the run ended.
    pub virtual_time: SimTime,
    /// Wall time the run took (instances only, not preparation).
    pub wall_time: Duration,
    /// Simulation events processed.
    pub events: u64,
    /// How often an instance's task was resumed: at least once per wait, and
    /// once more each time fuel preempted a busy instance so that others run.
    pub polls: u64,
    /// Every metric point, in recording order.
    pub metrics: Vec<MetricPoint>,
    /// When sync states were signalled and barriers passed.
    pub states: Vec<netsim::StateMark>,
}

impl Execution {
    /// The metric points as aggregation samples, each with the index in
    /// `groups` of its instance's group.
    pub fn metric_samples(&self, groups: &[String]) -> Vec<crate::metrics::aggregate::Sample<'_>> {
        let group_of: Vec<usize> =
            self.placements.iter().map(|p| groups.iter().position(|g| *g == p.group.id).unwrap_or(0)).collect();
        crate::metrics::samples(&self.metrics, &group_of)
    }
}

/// What an instance printed and recorded, kept after the run.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct InstanceOutput {
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: Vec<u8>,
    /// Messages recorded with `record-message`, in order.
    pub messages: Vec<RecordedMessage>,
    /// Fuel it burned, of the budget each of its stores had (`--fuel`); a
    /// restarted instance's stores together.
    #[serde(default)]
    pub fuel_used: u64,
}

impl InstanceOutput {
    fn of(record: &InstanceRecord) -> InstanceOutput {
        InstanceOutput {
            stdout: record.stdout.contents(),
            stderr: record.stderr.contents(),
            messages: record.messages(),
            fuel_used: record.fuel_used.load(std::sync::atomic::Ordering::Relaxed),
        }
    }
}

/// How much of a run this process executes.
pub enum Part<'a> {
    /// All of it.
    Whole,
    /// One shard of a run split across processes or threads (see [`netsim::shard`]).
    Shard {
        /// Which shard.
        layout: ShardLayout,
        /// The longest window; at most the sync latency.
        lookahead: Duration,
        /// How it trades events with the other shards.
        link: &'a mut dyn ShardLink,
    },
}

/// The groups' environments and every instance's place, in global-seq order.
pub fn placements(spec: &RunSpec, prepared: &PreparedPlan) -> Result<Vec<Placement>, Error> {
    let mut placements = Vec::with_capacity(spec.instance_count() as usize);
    for (index, group) in spec.groups.iter().enumerate() {
        let component = spec.component_of_group(index);
        let prepared_component = &prepared.components[component];
        let mut given = spec.global_params.clone();
        given.extend(group.params.clone());
        let (params, args) = if prepared_component.entry.is_program() {
            // A program reads its parameters as text from TEST_INSTANCE_PARAMS; its name leads its arguments.
            let name = prepared_component.manifest.name.clone();
            (given.into_iter().collect(), std::iter::once(name).chain(group.args.iter().cloned()).collect())
        } else {
            let case = prepared_component
                .manifest
                .case(&spec.test_case)
                .ok_or_else(|| InputError::new(format!("unknown test case {:?}", spec.test_case)))?;
            // A plain `run` has one unnamed-by-the-user group whose values all come from --param.
            let from_command_line = spec.groups.len() == 1 && group.params.is_empty();
            let place = if from_command_line { "--param".to_string() } else { format!("group {:?}", group.id) };
            if !group.args.is_empty() {
                return Err(InputError::new(format!(
                    "group {:?} gives arguments, but runs a tg:plan component, which takes parameters (params), not arguments",
                    group.id
                ))
                .into());
            }
            (crate::params::resolve(case, &given, &place)?, Vec::new())
        };
        let env = Arc::new(GroupEnv {
            id: group.id.clone(),
            instance_count: group.instances,
            params,
            subnet: spec.network.subnet_of(&group.id),
            args,
            component,
        });
        for group_seq in 0..group.instances {
            let node = NodeId(placements.len() as u32);
            placements.push(Placement { node, group: env.clone(), group_seq });
        }
    }
    Ok(placements)
}

/// Runs `part` of `run`, showing `observer` its `progress`: see
/// [`super::Run::execute`] and [`super::Run::execute_shard`].
pub(super) fn execute(
    run: &super::Run,
    observer: Option<&dyn Observer>,
    progress: &Progress,
    sync: &SyncSetting,
    part: Part<'_>,
) -> Result<Execution, Error> {
    let (spec, prepared) = (&run.spec, &run.prepared);
    let placements = run.placements.clone();
    let n = placements.len() as u32;
    let backend = match part {
        Part::Whole => sync.open(&spec.test_run_id())?,
        Part::Shard { .. } => SyncSetting::Embedded.open(&spec.test_run_id())?,
    };
    let config = SimConfig {
        instances: n,
        sync_latency: spec.sync_latency,
        keep_trace: spec.keep_trace,
        seed: spec.seed,
        net: netsim::NetworkConfig::default(),
        limits: spec.limits.sim(),
    };
    let mut world = Sim::with_sync_backend(config, backend);
    if !spec.network.is_flat() {
        if let Part::Shard { .. } = part
            && let Some(why) = spec.network.split_refusal()
        {
            return Err(crate::error::InputError::new(why).into());
        }
        let topology = spec.network.topology(&spec.groups)?;
        world.net_mut().set_topology(&topology).map_err(|e| crate::error::InputError::new(format!("network: {e}")))?;
    }
    let layout = match &part {
        Part::Whole => ShardLayout::whole(n),
        Part::Shard { layout, .. } => {
            world.split(*layout);
            *layout
        }
    };
    if !spec.network.is_flat() {
        // The layout is an input the packets alone might not reveal (two NAT types can treat a run's
        // packets alike): it goes into the digest, as a plan's `configure` does. A record of the
        // simulation's own, kept by the first shard of a split run, so every split gives one digest.
        world.record(NodeId::SIM, "net.topology", format_args!("{:?}", spec.network));
    }
    let sim = SimHandle::new(world);
    progress.add_sim(&sim);
    let env = Arc::new(RunEnv {
        test_plan: prepared.manifest.name.clone(),
        test_case: spec.test_case.clone(),
        test_run: spec.test_run_id(),
        seed: spec.seed,
        instance_count: n,
    });
    let metrics = MetricSink::default();
    let limits = InstanceLimits::for_plan(prepared.settings.memory_limit, prepared.shape, spec.limits.message_bytes);
    let fuel = prepared.settings.fuel;
    // Checked by `Run::prepare`: every fault names instances of the run.
    for fault in &spec.faults {
        sim.lock().schedule_fault(fault.at(), fault.to_fault());
    }
    let records: Vec<Arc<InstanceRecord>> =
        placements.iter().map(|p| Arc::new(InstanceRecord::new(p.node, &sim))).collect();
    // One way to start an instance, used at the start and by injected restarts:
    // a fresh store, so a restarted instance begins from its initial memory.
    let make_task = |node: NodeId| -> netsim::Task<InstanceResult> {
        let placement = placements[node.index()].clone();
        let record = records[node.index()].clone();
        let entry = prepared.components[placement.group.component].entry.clone();
        let state = InstanceState::new(env.clone(), placement, sim.clone(), record, metrics.clone(), limits);
        let store = instance_store(&prepared.engine, state, fuel);
        let (case, sim) = (spec.test_case.clone(), sim.clone());
        Box::pin(async move {
            sim.lock().record(node, "instance.start", format_args!(""));
            let mut store = FuelMeter { store: store?, budget: fuel };
            entry.run(&mut store.store, &case).await
        })
    };
    // The instances' wall time includes building their states and stores.
    let started = Instant::now();
    let mut exec = Executor::new(sim.clone());
    for node in layout.nodes() {
        exec.spawn(NodeId(node), make_task(NodeId(node)));
    }
    let run_limits = RunLimits {
        virtual_deadline: spec.virtual_timeout.map(|d| SimTime::ZERO + d),
        wall_deadline: spec.wall_timeout.map(|d| started + d),
        interrupt: spec.interrupt.clone(),
        memory: spec.memory.clone(),
    };
    let limits_in_force =
        LimitsInForce { memory_limit: prepared.settings.memory_limit, fuel, sockets: spec.limits.sockets };
    let mut outcomes: Vec<Option<InstanceOutcome>> = vec![None; n as usize];
    let end = super::observe::watch(progress, observer, || {
        let mut supervisor = RunSupervisor {
            make_task: &make_task,
            sim: &sim,
            records: &records,
            outcomes: &mut outcomes,
            limits: &limits_in_force,
            progress,
        };
        match part {
            Part::Whole => exec.run_supervised(&run_limits, &mut supervisor),
            Part::Shard { lookahead, link, .. } => {
                netsim::shard::run_shard(&mut exec, link, lookahead, &run_limits, &mut supervisor)
            }
        }
    });

    let unfinished = exec.unfinished();
    let (blocked, stopped_at) = {
        let sim = sim.lock();
        (sim.blocked(&unfinished), sim.now())
    };
    let why = why_stopped(&end, spec.virtual_timeout);
    for b in &blocked {
        let reason = noting_socket_limit(&sim, b.node, limits_in_force.sockets, stopped_reason(&why, &b.waits_on));
        // The trace calls every instance the run stopped `crashed`, as it did
        // before `stalled` was told apart: how a report names an end must not
        // change a run's digest.
        record_end(&sim, b.node, Outcome::Crashed, &reason);
        let outcome = if stalls(&end) && !b.waits_on.is_empty() {
            InstanceOutcome::stalled(reason)
        } else {
            InstanceOutcome::crashed(reason)
        };
        outcomes[b.node.index()] = Some(outcome.at(stopped_at));
    }
    exec.cancel_unfinished();
    let polls = exec.polls();
    let wall_time = started.elapsed();
    for r in &records {
        r.stdout.finish();
        r.stderr.finish();
    }

    let mut sim = sim.lock();
    // What was recorded after the run stopped counts, in a shard as in a whole run.
    sim.commit_window(None);
    if let Err(e) = sim.close_sync() {
        // The keys expire on their own; a failed cleanup must not hide the run's results.
        tracing::warn!("could not delete this run's sync keys (they expire within 24 h): {e}");
    }
    Ok(Execution {
        placements,
        outcomes: outcomes.into_iter().map(|o| o.unwrap_or_else(|| InstanceOutcome::crashed("never ran"))).collect(),
        records: records.iter().map(|r| InstanceOutput::of(r)).collect(),
        end,
        blocked,
        digest: sim.trace().digest_hex(),
        node_digests: sim.trace().node_digests(),
        trace_events: sim.trace().len(),
        trace: sim.trace_mut().take_records(),
        virtual_time: sim.now(),
        wall_time,
        events: sim.events_processed(),
        polls,
        metrics: metrics.take(),
        states: sim.take_state_timeline(),
    })
}

use super::prepare::InstanceResult;

/// An instance's store that counts the fuel it burned into the instance's
/// record when it is dropped: when its instance ends, however it ends, and
/// also when the run stops it in the middle (a task cancelled at the end).
struct FuelMeter {
    store: wasmtime::Store<InstanceState>,
    budget: u64,
}

impl Drop for FuelMeter {
    fn drop(&mut self) {
        // Fuel is always on in a run's engine; were it not, nothing was counted.
        let left = self.store.get_fuel().unwrap_or(self.budget);
        let used = self.budget.saturating_sub(left);
        self.store.data().record.fuel_used.fetch_add(used, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Turns finished, crashed and restarted tasks into outcomes.
struct RunSupervisor<'a, F> {
    make_task: &'a F,
    sim: &'a SimHandle,
    records: &'a [Arc<InstanceRecord>],
    outcomes: &'a mut Vec<Option<InstanceOutcome>>,
    limits: &'a LimitsInForce,
    progress: &'a Progress,
}

impl<F: Fn(NodeId) -> netsim::Task<InstanceResult>> netsim::Supervisor<InstanceResult> for RunSupervisor<'_, F> {
    fn done(&mut self, node: NodeId, result: InstanceResult) {
        let record = &self.records[node.index()];
        let outcome = match result {
            Ok(Ok(())) => InstanceOutcome::ok(),
            Ok(Err(reason)) => InstanceOutcome::failed(reason),
            Err(e) => classify_error(&e, record.crash_reason(), self.limits),
        };
        let outcome = match outcome {
            InstanceOutcome { outcome, reason: Some(reason), at_ns } => InstanceOutcome {
                outcome,
                reason: Some(noting_socket_limit(self.sim, node, self.limits.sockets, reason)),
                at_ns,
            },
            other => other,
        };
        self.finish(node, outcome);
    }

    fn crashed(&mut self, node: NodeId) {
        let at = self.sim.lock().now();
        self.finish(node, InstanceOutcome::crashed(format!("crashed by fault injection at {at}")));
    }

    fn restart(&mut self, node: NodeId) -> Option<netsim::Task<InstanceResult>> {
        // The instance's last outcome is the one that counts: a restarted
        // instance that then succeeds is ok.
        if let Some(before) = self.outcomes[node.index()].take() {
            self.progress.instance_restarted(before.outcome);
        }
        *self.records[node.index()].crash_reason.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.sim.lock().record(node, "instance.restart", format_args!(""));
        Some((self.make_task)(node))
    }
}

impl<F> RunSupervisor<'_, F> {
    fn finish(&mut self, node: NodeId, outcome: InstanceOutcome) {
        record_end(self.sim, node, outcome.outcome, outcome.reason.as_deref().unwrap_or(""));
        let at = self.sim.lock().now();
        self.progress.instance_done(outcome.outcome);
        self.outcomes[node.index()] = Some(outcome.at(at));
    }
}

/// Whether a run that ended so leaves its waiting instances `stalled`: they
/// waited on something nothing would complete (a deadlock), or they were
/// still waiting when a limit (time or memory) or an interrupt stopped the run. When the sync
/// service or a split run's transport failed, the run broke under them:
/// they are `crashed`, for that reason.
fn stalls(end: &RunEnd) -> bool {
    matches!(
        end,
        RunEnd::Deadlock | RunEnd::VirtualTimeout | RunEnd::WallTimeout | RunEnd::Interrupted | RunEnd::MemoryBudget
    )
}

/// `reason`, with the socket limit named when `node` was refused a socket
/// for it: a refusal surfaces in the plan as a bare error code, or as a wait
/// that never ends (a connection its peer could not accept).
fn noting_socket_limit(sim: &SimHandle, node: NodeId, sockets: u32, reason: String) -> String {
    if sim.lock().net().socket_limit_hit(node) {
        format!("{reason}; {}", crate::limits::socket_limit_note(sockets))
    } else {
        reason
    }
}

fn record_end(sim: &SimHandle, node: NodeId, outcome: Outcome, reason: &str) {
    sim.lock().record(node, "instance.end", format_args!("outcome={} reason={reason:?}", outcome.as_str()));
}
