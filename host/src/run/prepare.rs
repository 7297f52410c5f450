//! Getting a run's components ready: engine, compilation, linking, and what
//! each is — a `tg:plan` component (asked to `describe` itself) or a
//! `wasi:cli/command` program.
//!
//! Everything that can be wrong with a component itself — not a component, a
//! component of another world, an import tg-wasm does not provide — surfaces
//! here, before any instance starts, as an [`InputError`].

use crate::bindings::PlanPre;
use crate::component::{PlanComponent, Shape, compile};
use crate::engine::{self, EngineSettings, FUEL_YIELD_INTERVAL};
use crate::error::{Error, InputError};
use crate::instance::{GroupEnv, InstanceLimits, InstanceRecord, InstanceState, Placement, RunEnv};
use crate::manifest::Manifest;
use crate::metrics::MetricSink;
use netsim::{Executor, NodeId, RunEnd, RunLimits, Sim, SimConfig, SimHandle};
use std::sync::Arc;
use wasmtime::component::Linker;
use wasmtime::{Engine, Store};
use wasmtime_wasi::p2::bindings::CommandPre;

/// The components of a run, compiled and linked for one engine.
pub struct PreparedPlan {
    /// The engine they were compiled for.
    pub engine: Engine,
    /// What the run's own component declares (a program's: its name and no
    /// test case).
    pub manifest: Manifest,
    /// Every distinct component, the run's own first.
    pub components: Vec<PreparedComponent>,
    /// The settings the engine was built with.
    pub settings: EngineSettings,
    /// What one instance takes from the pool: enough for any of the components.
    pub shape: Shape,
}

/// One component of a run, ready to instantiate.
pub struct PreparedComponent {
    /// How its instances start and end.
    pub entry: Entry,
    /// What it declares.
    pub manifest: Manifest,
    /// Its SHA-256, hex.
    pub sha256: String,
}

impl PreparedComponent {
    /// What `tg-wasm describe` shows: a plan's manifest, or what a program
    /// is given and how it ends.
    pub fn render(&self) -> String {
        if !self.entry.is_program() {
            return self.manifest.render();
        }
        format!(
            "program {} (a wasi:cli command, not a tg:plan component)\n  \
             each instance runs its `main`: exit status 0 is ok, any other failed (with its last stderr line), a trap crashed\n  \
             run environment in variables: {}\n  \
             arguments: a composition's [groups.run] args, ${{TEST_*}} replaced per instance\n  \
             test cases: any name (TEST_CASE); parameters: any (TEST_INSTANCE_PARAMS, k=v|k=v)\n",
            self.manifest.name,
            crate::wasi::environment::VARIABLES.join(", ")
        )
    }
}

/// The test case a program runs when none is named: programs declare none.
pub const PROGRAM_DEFAULT_CASE: &str = "default";

/// How an instance of a component starts and what ends it.
#[derive(Clone)]
pub enum Entry {
    /// A `tg:plan` component: `run(test-case)`, whose result is the outcome.
    Plan(PlanPre<InstanceState>),
    /// A `wasi:cli/command` program: `run()`, whose exit status is the
    /// outcome. It gets the run environment as `TEST_*` variables.
    Program(CommandPre<InstanceState>),
}

/// What one instance's run returns: the test case's result (an error's text
/// for a failure), or the error that stopped it.
pub type InstanceResult = wasmtime::Result<Result<(), String>>;

/// A fresh store for `state` on `engine`, as every instance of a run gets
/// one: the instance's limits, `fuel`, and a yield every
/// [`FUEL_YIELD_INTERVAL`] units.
///
/// A run builds it when it makes the instance's task, not inside it: what a
/// task holds while its instance waits is then the store's handle, not room
/// for the state it was built from (with the boxed instantiation in
/// [`Entry::run`], the task of a waiting `placebo` instance shrank from 2.8
/// to 0.6 KiB).
pub fn instance_store(engine: &Engine, state: InstanceState, fuel: u64) -> wasmtime::Result<Store<InstanceState>> {
    let mut store = Store::new(engine, state);
    store.limiter(|s| &mut s.limits);
    store.set_fuel(fuel)?;
    store.fuel_async_yield_interval(Some(FUEL_YIELD_INTERVAL))?;
    Ok(store)
}

impl Entry {
    /// Instantiates into `store` and runs `case` to its end.
    ///
    /// Instantiation's future is boxed: it is the largest this one awaits
    /// (1.2 KiB), and held inline it would stay reserved in every waiting
    /// instance's task for the whole run.
    pub async fn run(&self, store: &mut Store<InstanceState>, case: &str) -> InstanceResult {
        match self {
            Entry::Plan(pre) => {
                let plan = Box::pin(pre.instantiate_async(&mut *store)).await?;
                plan.call_run(&mut *store, case).await
            }
            Entry::Program(pre) => {
                let program = Box::pin(pre.instantiate_async(&mut *store)).await?;
                let status = match program.wasi_cli_run().call_run(&mut *store).await {
                    Ok(status) => status.map_err(|()| 1),
                    Err(e) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
                        Some(&wasmtime_wasi::I32Exit(code)) => {
                            if code == 0 {
                                Ok(())
                            } else {
                                Err(code)
                            }
                        }
                        None => {
                            // A Rust program's panic message went to stderr before its abort trapped.
                            let record = &store.data().record;
                            if let Some(panic) = panic_reason(&record.stderr.contents()) {
                                *record.crash_reason.lock().unwrap_or_else(|e| e.into_inner()) = Some(panic);
                            }
                            return Err(e);
                        }
                    },
                };
                Ok(status.map_err(|code| exit_reason(code, &store.data().record.stderr.contents())))
            }
        }
    }

    /// Whether this is a program rather than a plan.
    pub fn is_program(&self) -> bool {
        matches!(self, Entry::Program(_))
    }
}

/// The reason a program that exited with `code` failed: WASI 0.2 carries
/// only success or failure (every failing status arrives as 1), so the last
/// line the program wrote to stderr, which usually says why, goes with it.
fn exit_reason(code: i32, stderr: &[u8]) -> String {
    let stderr = String::from_utf8_lossy(stderr);
    let last = stderr.lines().rev().map(str::trim).find(|l| !l.is_empty());
    let status = if code == 1 { "a failure status".to_string() } else { format!("status {code}") };
    match last {
        Some(line) => format!("exited with {status}: {}", crate::text::truncate(line, MAX_REASON_LINE)),
        None => format!("exited with {status}"),
    }
}

/// The panic a Rust program reported on `stderr` (std's `thread '…'
/// panicked at <place>:` line, then the message), as a crash reason.
fn panic_reason(stderr: &[u8]) -> Option<String> {
    let stderr = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    let at = lines.iter().rposition(|l| l.starts_with("thread '") && l.contains(" panicked at "))?;
    let place = lines[at].split_once(" panicked at ").map_or("", |(_, p)| p.trim_end_matches(':'));
    let message = lines.get(at + 1).copied().unwrap_or_default();
    Some(format!("panicked at {place}: {}", crate::text::truncate(message, MAX_REASON_LINE)))
}

/// How much of a program's last stderr line a reason carries.
const MAX_REASON_LINE: usize = 512;

/// The linker every instance of a run uses: WASI (virtualized) plus `tg:plan`.
pub fn linker(engine: &Engine) -> anyhow::Result<Linker<InstanceState>> {
    let mut linker = Linker::new(engine);
    crate::wasi::add_to_linker(&mut linker)?;
    crate::plan::add_to_linker(&mut linker)?;
    Ok(linker)
}

/// Compiles and links `component` for a run of `instances`; a plan is asked
/// to describe itself.
pub fn prepare(component: &PlanComponent, settings: &EngineSettings, instances: u32) -> Result<PreparedPlan, Error> {
    prepare_all(&[component], settings, instances)
}

/// Compiles and links every one of `components` (the run's own first) into
/// one engine for a run of `instances`.
pub fn prepare_all(
    components: &[&PlanComponent],
    settings: &EngineSettings,
    instances: u32,
) -> Result<PreparedPlan, Error> {
    let shape = Shape::covering_all(components.iter().map(|c| c.shape));
    let engine = engine::build(settings, &shape, instances)?;
    let linker = linker(&engine)?;
    let mut prepared = Vec::with_capacity(components.len());
    for component in components {
        prepared.push(prepare_one(&engine, &linker, component, settings, shape)?);
    }
    Ok(PreparedPlan {
        engine,
        manifest: prepared[0].manifest.clone(),
        components: prepared,
        settings: settings.clone(),
        shape,
    })
}

fn prepare_one(
    engine: &Engine,
    linker: &Linker<InstanceState>,
    component: &PlanComponent,
    settings: &EngineSettings,
    shape: Shape,
) -> Result<PreparedComponent, Error> {
    let compiled = compile(engine, component)?;
    let shown = component.path.display();
    let instance_pre = linker.instantiate_pre(&compiled).map_err(|e| {
        InputError::new(format!(
            "{shown} cannot be linked: {}; a plan may import tg:plan@0.1.0 and WASI 0.2 (build it against this tg-wasm's tg-sdk)",
            crate::text::one_line(&e)
        ))
    })?;
    let sha256 = component.sha256.clone();
    let plan_error = match PlanPre::new(instance_pre.clone()) {
        Ok(pre) => {
            let manifest = describe(engine, &pre, settings, shape)?;
            return Ok(PreparedComponent { entry: Entry::Plan(pre), manifest, sha256 });
        }
        Err(e) => e,
    };
    match CommandPre::new(instance_pre) {
        Ok(pre) => Ok(PreparedComponent {
            entry: Entry::Program(pre),
            manifest: Manifest { name: program_name(component), test_cases: Vec::new() },
            sha256,
        }),
        Err(_) => Err(InputError::new(format!(
            "{shown} is neither a tg:plan component ({}) nor a program: a plan exports `describe` and `run` \
             from world tg:plan/plan@0.1.0, a program exports wasi:cli/run (a binary crate built for wasm32-wasip2)",
            crate::text::one_line(&plan_error)
        ))
        .into()),
    }
}

/// A program's name: its file's, without `.wasm`.
fn program_name(component: &PlanComponent) -> String {
    component.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "program".into())
}

/// The fuel `describe` may burn, whatever `--fuel` gives the instances: a
/// manifest costs a few thousand units, and this budget (the default one)
/// still stops an endless `describe` within about half a CPU-second. Charging
/// it the instances' budget would make a small `--fuel` fail before any
/// instance ran, with a trap in tg-wasm's own step instead of the instances'
/// outcomes.
pub const DESCRIBE_FUEL: u64 = engine::DEFAULT_FUEL;

/// Instantiates the plan once, outside any run, and calls `describe`.
fn describe(
    engine: &Engine,
    pre: &PlanPre<InstanceState>,
    settings: &EngineSettings,
    shape: Shape,
) -> Result<Manifest, Error> {
    let sim = SimHandle::new(Sim::new(SimConfig::default()));
    let env = Arc::new(RunEnv {
        test_plan: String::new(),
        test_case: String::new(),
        test_run: String::new(),
        seed: 0,
        instance_count: 1,
    });
    let group = Arc::new(GroupEnv {
        id: "describe".into(),
        instance_count: 1,
        params: Vec::new(),
        subnet: String::new(),
        args: Vec::new(),
        component: 0,
    });
    let node = NodeId(0);
    let record = Arc::new(InstanceRecord::new(node, &sim));
    let limits = InstanceLimits::for_plan(settings.memory_limit, shape, crate::limits::DEFAULT_MESSAGE_BYTES);
    let state = InstanceState::new(
        env,
        Placement { node, group, group_seq: 0 },
        sim.clone(),
        record.clone(),
        MetricSink::default(),
        limits,
    );
    let (engine, pre) = (engine.clone(), pre.clone());
    let mut exec = Executor::new(sim);
    exec.spawn(
        node,
        Box::pin(async move {
            let mut store = Store::new(&engine, state);
            store.limiter(|s| &mut s.limits);
            store.set_fuel(DESCRIBE_FUEL)?;
            let plan = pre.instantiate_async(&mut store).await?;
            plan.call_describe(&mut store).await
        }),
    );
    let mut result = None;
    let end = exec.run(&RunLimits::default(), |_, r| result = Some(r));
    match (end, result) {
        (RunEnd::Completed, Some(Ok(m))) => Ok(m.into()),
        (_, Some(Err(e))) if e.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::OutOfFuel) => {
            Err(InputError::new(format!(
                "the plan's `describe` did not return within {DESCRIBE_FUEL} fuel units (an endless loop in \
                 `describe`? it has this budget whatever --fuel gives the instances)"
            ))
            .into())
        }
        (_, Some(Err(e))) => Err(InputError::new(format!(
            "the plan's `describe` failed: {}",
            record.crash_reason().unwrap_or_else(|| crate::text::one_line(&e))
        ))
        .into()),
        _ => Err(InputError::new("the plan's `describe` blocked; it must not wait on sync, timers or sockets").into()),
    }
}
