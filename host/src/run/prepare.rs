//! Getting a plan ready to run: engine, compilation, linking, `describe`.
//!
//! Everything that can be wrong with the plan itself — not a component, a
//! component of another world, an import tg-wasm does not provide — surfaces
//! here, before any instance starts, as an [`InputError`].

use crate::bindings::PlanPre;
use crate::component::{PlanComponent, Shape, compile};
use crate::engine::{self, EngineSettings};
use crate::error::{Error, InputError};
use crate::instance::{GroupEnv, InstanceLimits, InstanceRecord, InstanceState, Placement, RunEnv};
use crate::manifest::Manifest;
use crate::metrics::MetricSink;
use netsim::{Executor, NodeId, RunEnd, RunLimits, Sim, SimConfig, SimHandle};
use std::sync::Arc;
use wasmtime::component::Linker;
use wasmtime::{Engine, Store};

/// A compiled, linked plan and its manifest.
pub struct PreparedPlan {
    /// The engine it was compiled for.
    pub engine: Engine,
    /// Linked and type-checked against the `plan` world.
    pub pre: PlanPre<InstanceState>,
    /// What `describe` returned.
    pub manifest: Manifest,
    /// The settings the engine was built with.
    pub settings: EngineSettings,
    /// What one instance takes from the pool.
    pub shape: Shape,
}

/// The linker every instance of a run uses: WASI (virtualized) plus `tg:plan`.
pub fn linker(engine: &Engine) -> anyhow::Result<Linker<InstanceState>> {
    let mut linker = Linker::new(engine);
    crate::wasi::add_to_linker(&mut linker)?;
    crate::plan::add_to_linker(&mut linker)?;
    Ok(linker)
}

/// Compiles and links `component` for a run of `instances`, then asks it to describe itself.
pub fn prepare(component: &PlanComponent, settings: &EngineSettings, instances: u32) -> Result<PreparedPlan, Error> {
    let engine = engine::build(settings, &component.shape, instances)?;
    let compiled = compile(&engine, component)?;
    let linker = linker(&engine)?;
    let shown = component.path.display();
    let instance_pre = linker.instantiate_pre(&compiled).map_err(|e| {
        InputError::new(format!(
            "{shown} cannot be linked: {}; a plan may import tg:plan@0.1.0 and WASI 0.2 (build it against this tg-wasm's tg-sdk)",
            crate::text::one_line(&e)
        ))
    })?;
    let pre = PlanPre::new(instance_pre).map_err(|e| {
        InputError::new(format!(
            "{shown} is not a tg:plan component: {}; a plan exports `describe` and `run` from world tg:plan/plan@0.1.0",
            crate::text::one_line(&e)
        ))
    })?;
    let manifest = describe(&engine, &pre, settings, component.shape)?;
    Ok(PreparedPlan { engine, pre, manifest, settings: settings.clone(), shape: component.shape })
}

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
    let group = Arc::new(GroupEnv { id: "describe".into(), instance_count: 1, params: Vec::new() });
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
    let (engine, pre, fuel) = (engine.clone(), pre.clone(), settings.fuel);
    let mut exec = Executor::new(sim);
    exec.spawn(
        node,
        Box::pin(async move {
            let mut store = Store::new(&engine, state);
            store.limiter(|s| &mut s.limits);
            store.set_fuel(fuel)?;
            let plan = pre.instantiate_async(&mut store).await?;
            plan.call_describe(&mut store).await
        }),
    );
    let mut result = None;
    let end = exec.run(&RunLimits::default(), |_, r| result = Some(r));
    match (end, result) {
        (RunEnd::Completed, Some(Ok(m))) => Ok(m.into()),
        (_, Some(Err(e))) => Err(InputError::new(format!(
            "the plan's `describe` failed: {}",
            record.crash_reason().unwrap_or_else(|| crate::text::one_line(&e))
        ))
        .into()),
        _ => Err(InputError::new("the plan's `describe` blocked; it must not wait on sync, timers or sockets").into()),
    }
}
