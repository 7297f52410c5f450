//! The state of one instance: what its `Store` holds.
//!
//! An [`InstanceState`] is built per instance from the run-wide [`RunEnv`] and
//! the instance's place in it. Whatever must outlive the store — captured
//! output, the crash reason a panic hook reported, recorded messages — lives in
//! [`InstanceRecord`], shared with the run so that nothing is lost when an
//! instance is cancelled.

use crate::component::Shape;
use crate::plan::sync_events::SyncEvents;
use crate::wasi::io::{IoView, Pollables};
use crate::wasi::output::{CapturedOutput, StreamName};
use crate::wasi::random;
use netsim::{NodeId, SimHandle, SimTime};
use std::sync::{Arc, Mutex};
use std::task::Waker;
use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// What every instance of a run shares: the plan, the case, the seed.
#[derive(Clone, Debug)]
pub struct RunEnv {
    /// The plan's name from its manifest.
    pub test_plan: String,
    /// The test case.
    pub test_case: String,
    /// The run identifier given to plans; derived from the inputs, so replays see the same.
    pub test_run: String,
    /// The run's seed.
    pub seed: u64,
    /// Instances over all groups.
    pub instance_count: u32,
}

/// One group of instances and the parameters its instances see.
#[derive(Clone, Debug)]
pub struct GroupEnv {
    /// The group's name.
    pub id: String,
    /// How many instances it has.
    pub instance_count: u32,
    /// Its parameters, defaults applied, sorted by name.
    pub params: Vec<(String, String)>,
    /// The subnet its data addresses come from, as `TEST_SUBNET` gives it.
    pub subnet: String,
    /// A program's arguments, its name first (see [`crate::wasi::environment`]);
    /// none for a plan.
    pub args: Vec<String>,
    /// Which of the run's components its instances run.
    pub component: usize,
}

/// Where an instance stands in the run.
#[derive(Clone, Debug)]
pub struct Placement {
    /// Global sequence number.
    pub node: NodeId,
    /// Its group.
    pub group: Arc<GroupEnv>,
    /// Sequence number within the group.
    pub group_seq: u32,
}

/// A message a plan recorded with `record-message`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct RecordedMessage {
    /// Virtual time of the call.
    pub at: SimTime,
    /// The text.
    pub text: String,
}

/// What the run keeps of an instance beyond its store's life.
pub struct InstanceRecord {
    /// Captured standard output.
    pub stdout: CapturedOutput,
    /// Captured standard error.
    pub stderr: CapturedOutput,
    /// The reason the plan gave just before crashing (a panic message).
    pub crash_reason: Mutex<Option<String>>,
    /// Messages recorded with `record-message`.
    pub messages: Mutex<Vec<RecordedMessage>>,
    /// Their bytes so far, against [`InstanceLimits::message_bytes`]; restarts included.
    pub message_bytes: std::sync::atomic::AtomicU64,
    /// Fuel its stores burned, each counted when it is dropped; restarts included.
    pub fuel_used: std::sync::atomic::AtomicU64,
}

impl InstanceRecord {
    /// An empty record for `node`.
    pub fn new(node: NodeId, sim: &SimHandle) -> InstanceRecord {
        InstanceRecord {
            stdout: CapturedOutput::new(node, StreamName::Stdout, sim.clone()),
            stderr: CapturedOutput::new(node, StreamName::Stderr, sim.clone()),
            crash_reason: Mutex::new(None),
            messages: Mutex::new(Vec::new()),
            message_bytes: std::sync::atomic::AtomicU64::new(0),
            fuel_used: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The crash reason the plan reported, if any.
    pub fn crash_reason(&self) -> Option<String> {
        self.crash_reason.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The recorded messages, in order.
    pub fn messages(&self) -> Vec<RecordedMessage> {
        self.messages.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Per-instance resource limits.
#[derive(Clone, Copy, Debug)]
pub struct InstanceLimits {
    /// Largest linear memory, in bytes.
    pub memory_bytes: usize,
    /// Most table elements.
    pub table_elements: usize,
    /// Most bytes of `record-message` text ([`crate::limits::HostLimits::message_bytes`]).
    pub message_bytes: u64,
    /// What one instance of the plan creates: core instances, tables, memories.
    pub shape: Shape,
}

impl InstanceLimits {
    /// The limits of an instance of a plan of `shape` under `memory_limit`
    /// bytes, recording at most `message_bytes` of messages.
    pub fn for_plan(memory_limit: u64, shape: Shape, message_bytes: u64) -> InstanceLimits {
        InstanceLimits {
            memory_bytes: usize::try_from(memory_limit).unwrap_or(usize::MAX),
            table_elements: crate::engine::table_elements(&shape),
            message_bytes,
            shape,
        }
    }
}

/// The data of one instance's `Store`.
pub struct InstanceState {
    pub(crate) placement: Placement,
    pub(crate) env: Arc<RunEnv>,
    pub(crate) sim: SimHandle,
    pub(crate) record: Arc<InstanceRecord>,
    pub(crate) metrics: crate::metrics::MetricSink,
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limits: StoreLimits,
    /// Most bytes of `record-message` text.
    pub(crate) message_budget: u64,
    /// The instance's recent timer wakes, shared by timers with the same deadline.
    last_timer: crate::wasi::clocks::LastTimer,
    /// Raised when a sync operation the plan started without waiting gets its reply.
    pub(crate) sync_events: Arc<SyncEvents>,
    /// The waker that raises [`Self::sync_events`].
    pub(crate) sync_waker: Waker,
    /// The pollables and streams the host checks in place in `wasi:io/poll`.
    pub(crate) pollables: Pollables,
}

impl InstanceState {
    /// The state of the instance at `placement`: no host directory, no host
    /// environment variable (the run's `TEST_*` ones instead, and a program's
    /// arguments), seeded randomness, captured output.
    pub fn new(
        env: Arc<RunEnv>,
        placement: Placement,
        sim: SimHandle,
        record: Arc<InstanceRecord>,
        metrics: crate::metrics::MetricSink,
        limits: InstanceLimits,
    ) -> InstanceState {
        let (secure, insecure, insecure_seed) = random::for_instance(env.seed, placement.node.0);
        // The environment and arguments are not given to the context:
        // `wasi:cli/environment` derives them from the placement when asked
        // (see `crate::wasi::environment`).
        let wasi = WasiCtx::builder()
            .stdout(record.stdout.clone())
            .stderr(record.stderr.clone())
            .secure_random(secure)
            .insecure_random(insecure)
            .insecure_random_seed(insecure_seed)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let (sync_events, sync_waker) = SyncEvents::new();
        let node = placement.node;
        let message_budget = limits.message_bytes;
        let limits = StoreLimitsBuilder::new()
            .memory_size(limits.memory_bytes)
            .table_elements(limits.table_elements)
            // What the plan creates at instantiation, with the room every plan
            // had before plans were measured.
            .instances((limits.shape.core_instances as usize).max(16))
            .tables((limits.shape.tables as usize).max(16))
            .memories((limits.shape.memories as usize).max(4))
            .trap_on_grow_failure(true)
            .build();
        InstanceState {
            placement,
            env,
            sim,
            record,
            metrics,
            wasi,
            table: ResourceTable::new(),
            limits,
            message_budget,
            last_timer: Default::default(),
            sync_events,
            sync_waker,
            pollables: Pollables::new(node),
        }
    }

    /// The instance's global sequence number.
    pub fn node(&self) -> NodeId {
        self.placement.node
    }

    pub(crate) fn wasi_mut(&mut self) -> &mut WasiCtx {
        &mut self.wasi
    }

    pub(crate) fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }

    /// What the sockets need: the instance, the simulation, the resource
    /// table, the pollables, and the sync events the control connection reads.
    pub(crate) fn sockets_parts(
        &mut self,
    ) -> (NodeId, &SimHandle, &mut ResourceTable, &mut Pollables, &Arc<SyncEvents>) {
        (self.placement.node, &self.sim, &mut self.table, &mut self.pollables, &self.sync_events)
    }

    /// What `wasi:io` needs.
    pub(crate) fn io_view(&mut self) -> IoView<'_> {
        IoView { sim: &self.sim, table: &mut self.table, pollables: &mut self.pollables }
    }

    /// What sync calls that watch for replies need: the sync events, the
    /// waker that raises them, the resource table and the pollables.
    pub(crate) fn sync_parts(&mut self) -> (&Arc<SyncEvents>, &Waker, &mut ResourceTable, &mut Pollables) {
        (&self.sync_events, &self.sync_waker, &mut self.table, &mut self.pollables)
    }

    /// What the clocks need: the instance, the simulation, the resource table
    /// and the latest timer wake.
    pub(crate) fn timer_parts(
        &mut self,
    ) -> (NodeId, &SimHandle, &mut ResourceTable, &mut Pollables, &mut crate::wasi::clocks::LastTimer) {
        (self.placement.node, &self.sim, &mut self.table, &mut self.pollables, &mut self.last_timer)
    }
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}
