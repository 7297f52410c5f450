//! What an instance costs, for 1000 and 5000 `plans/placebo` instances: time
//! to instantiate, time to instantiate, run and drop, and memory while idle
//! and while suspended — each beside raw wasmtime's floor where one exists.
//!
//! Prints one JSON line per figure. Run with `cargo bench -p tg-wasm --bench instances`.
//!
//! - `instantiate`: a store and an instance per instance, kept (µs per instance).
//! - `instantiate_run_drop`: every instance a task running `ok` (returns at
//!   once), as a run starts it ([`instance_store`], [`Entry::run`]): state,
//!   store, instantiation, `run`, drop (µs per instance). The host state is
//!   built inside the timed part, as a run builds it.
//! - `rss_per_idle_instance`: memory of instantiated instances that never ran.
//! - `rss_per_suspended_instance`: memory of instances that ran until they
//!   blocked — `stall` (a barrier nobody can reach) and `sleep` (an hour of
//!   virtual time) — measured once every instance waits, stores alive.
//! - `floor_us`, `*_floor`: the same engine and component under raw wasmtime,
//!   a `Store<()>` and every import a trap, instantiated (and dropped). It
//!   cannot run the plan, so instantiate+drop is the floor of
//!   instantiate+run+drop.
//!
//! Memory is the growth of the resident set (`kib_per_instance`, what `ps`
//! and `/usr/bin/time` count), with what it is made of: `shared_kib`, pages
//! mapped unchanged from a file — a plan's copy-on-write memory image, which
//! every instance maps and reads, one physical page for all of them (the
//! resident set counts it once per instance; `pss_kib` divides it among
//! them); none for `placebo`, whose image is small enough to be copied into
//! each instance (`tg_wasm::engine::COPIED_IMAGE_MAX`); `host_heap_kib`, the host's `malloc` heap (wasmtime's store and
//! instance, the instance's state and task); and `rest_kib`, the other
//! pages: the instances' own linear memory pages, tables and fiber stacks.
//!
//! Time is the median of several rounds in this one process, alternating, so
//! the numbers of one run compare with each other on a noisy shared machine.
//! Each memory figure is measured once, in a fresh child process of this
//! bench: in this one, heap freed by earlier rounds and fiber stacks the pool
//! keeps resident would make later figures look cheaper than they are.

use netsim::{Executor, NodeId, RunEnd, RunLimits, Sim, SimConfig, SimHandle, SimTime};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tg_wasm::engine::EngineSettings;
use tg_wasm::instance::{GroupEnv, InstanceLimits, InstanceRecord, InstanceState, Placement, RunEnv};
use tg_wasm::metrics::MetricSink;
use tg_wasm::run::PreparedPlan;
use tg_wasm::run::prepare::{Entry, instance_store};
use wasmtime::Store;
use wasmtime::component::{Component, Linker};

const ROUNDS: usize = 5;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

/// What the process holds, in bytes: resident, proportional, shared clean
/// (unchanged file pages mapped more than once), and `malloc`ed.
#[derive(Clone, Copy, Default)]
struct Memory {
    rss: u64,
    pss: u64,
    shared: u64,
    heap: u64,
}

impl Memory {
    fn now() -> Memory {
        let rollup = std::fs::read_to_string("/proc/self/smaps_rollup").unwrap_or_default();
        let field = |name: &str| -> u64 {
            rollup
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
                .map_or(0, |kib| kib * 1024)
        };
        Memory { rss: rss_bytes(), pss: field("Pss:"), shared: field("Shared_Clean:"), heap: heap_bytes() }
    }

    /// Growth from `before` to `self`, per instance of `n`, as a JSON fragment.
    fn per_instance(self, before: Memory, n: u32) -> String {
        let kib = |after: u64, before: u64| after.saturating_sub(before) as f64 / f64::from(n) / 1024.0;
        let (rss, shared, heap) =
            (kib(self.rss, before.rss), kib(self.shared, before.shared), kib(self.heap, before.heap));
        format!(
            "\"kib_per_instance\":{rss:.2},\"pss_kib\":{:.2},\"shared_kib\":{shared:.2},\"host_heap_kib\":{heap:.2},\"rest_kib\":{:.2}",
            kib(self.pss, before.pss),
            rss - shared - heap
        )
    }
}

/// Bytes `malloc` has handed out (glibc).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn heap_bytes() -> u64 {
    // SAFETY: `mallinfo2` only reads the allocator's statistics.
    let info = unsafe { libc::mallinfo2() };
    (info.uordblks + info.hblkhd) as u64
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn heap_bytes() -> u64 {
    0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// The host side of `n` instances of `case` with `params`, as a run builds it.
struct Instances {
    sim: SimHandle,
    env: Arc<RunEnv>,
    group: Arc<GroupEnv>,
    limits: InstanceLimits,
}

impl Instances {
    fn new(prepared: &PreparedPlan, n: u32, case: &str, params: &[(&str, &str)]) -> Instances {
        let sim = SimHandle::new(Sim::new(SimConfig { instances: n, ..SimConfig::default() }));
        let env = Arc::new(RunEnv {
            test_plan: "placebo".into(),
            test_case: case.into(),
            test_run: "bench".into(),
            seed: 0,
            instance_count: n,
        });
        let group = Arc::new(GroupEnv {
            id: "single".into(),
            instance_count: n,
            params: params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            subnet: String::new(),
            args: Vec::new(),
            component: 0,
        });
        let limits = InstanceLimits::for_plan(
            prepared.settings.memory_limit,
            prepared.shape,
            tg_wasm::limits::DEFAULT_MESSAGE_BYTES,
        );
        Instances { sim, env, group, limits }
    }

    fn state(&self, i: u32) -> InstanceState {
        let node = NodeId(i);
        let record = Arc::new(InstanceRecord::new(node, &self.sim));
        let placement = Placement { node, group: self.group.clone(), group_seq: i };
        InstanceState::new(self.env.clone(), placement, self.sim.clone(), record, MetricSink::default(), self.limits)
    }
}

fn plan_entry(prepared: &PreparedPlan) -> Entry {
    let entry = prepared.components[0].entry.clone();
    assert!(!entry.is_program(), "placebo is a plan");
    entry
}

/// Instantiates `n` instances and keeps them: µs per instance, and the
/// memory before and with them.
fn instantiate(prepared: &PreparedPlan, n: u32) -> (f64, Memory, Memory) {
    let Entry::Plan(pre) = plan_entry(prepared) else { unreachable!() };
    let before = Memory::now();
    let instances = Instances::new(prepared, n, "ok", &[]);
    let states: Vec<InstanceState> = (0..n).map(|i| instances.state(i)).collect();
    let (engine, fuel) = (prepared.engine.clone(), prepared.settings.fuel);
    let mut exec = Executor::new(instances.sim.clone());
    exec.spawn(
        NodeId(0),
        Box::pin(async move {
            let started = Instant::now();
            let mut live = Vec::with_capacity(states.len());
            for state in states {
                let mut store = Store::new(&engine, state);
                store.set_fuel(fuel).expect("fuel");
                let plan = pre.instantiate_async(&mut store).await.expect("instantiate");
                live.push((store, plan));
            }
            (started.elapsed(), Memory::now(), live)
        }),
    );
    let mut result = None;
    exec.run(&RunLimits::default(), |_, r| result = Some(r));
    let (elapsed, after, live) = result.expect("instantiation finished");
    drop(live);
    (elapsed.as_secs_f64() * 1e6 / f64::from(n), before, after)
}

/// Raw wasmtime on the same engine and component: `n` empty stores, each
/// with an instance whose imports all trap. With `keep`, the instances are
/// kept (the idle floor); without, each store is dropped at once (the floor
/// of instantiate+run+drop). Returns µs per instance, and the memory before
/// and with the instances kept.
fn floor(prepared: &PreparedPlan, component: &Component, n: u32, keep: bool) -> (f64, Memory, Memory) {
    let mut linker: Linker<()> = Linker::new(&prepared.engine);
    linker.define_unknown_imports_as_traps(component).expect("trapping imports");
    let pre = linker.instantiate_pre(component).expect("pre-instantiating");
    let (engine, fuel) = (prepared.engine.clone(), prepared.settings.fuel);
    let sim = SimHandle::new(Sim::new(SimConfig { instances: 1, ..SimConfig::default() }));
    let before = Memory::now();
    let mut exec = Executor::new(sim);
    exec.spawn(
        NodeId(0),
        Box::pin(async move {
            let started = Instant::now();
            let mut live = Vec::with_capacity(if keep { n as usize } else { 0 });
            for _ in 0..n {
                let mut store = Store::new(&engine, ());
                store.set_fuel(fuel).expect("fuel");
                let instance = pre.instantiate_async(&mut store).await.expect("instantiate");
                if keep {
                    live.push((store, instance));
                }
            }
            (started.elapsed(), Memory::now(), live)
        }),
    );
    let mut result = None;
    exec.run(&RunLimits::default(), |_, r| result = Some(r));
    let (elapsed, after, live) = result.expect("floor finished");
    drop(live);
    (elapsed.as_secs_f64() * 1e6 / f64::from(n), before, after)
}

/// Runs `n` instances of `ok` to their end: µs per instance.
fn run_and_drop(prepared: &PreparedPlan, n: u32) -> f64 {
    let entry = plan_entry(prepared);
    let instances = Instances::new(prepared, n, "ok", &[]);
    let mut exec = Executor::new(instances.sim.clone());
    let started = Instant::now();
    for i in 0..n {
        let (entry, store) =
            (entry.clone(), instance_store(&prepared.engine, instances.state(i), prepared.settings.fuel));
        exec.spawn(NodeId(i), Box::pin(async move { entry.run(&mut store?, "ok").await }));
    }
    let mut ok = 0u32;
    let end = exec.run(&RunLimits::default(), |_, r| {
        assert!(matches!(r, Ok(Ok(()))), "placebo `ok` must succeed");
        ok += 1;
    });
    let elapsed = started.elapsed();
    assert_eq!((end, ok), (RunEnd::Completed, n));
    elapsed.as_secs_f64() * 1e6 / f64::from(n)
}

/// Runs `n` instances of `case` until every one waits: the memory before and with them.
fn suspended(prepared: &PreparedPlan, n: u32, case: &str, params: &[(&str, &str)]) -> (Memory, Memory) {
    let entry = plan_entry(prepared);
    let before = Memory::now();
    let instances = Instances::new(prepared, n, case, params);
    let mut exec = Executor::new(instances.sim.clone());
    for i in 0..n {
        let (entry, case) = (entry.clone(), case.to_string());
        let store = instance_store(&prepared.engine, instances.state(i), prepared.settings.fuel);
        exec.spawn(NodeId(i), Box::pin(async move { entry.run(&mut store?, &case).await }));
    }
    // Long before any sleep ends: every instance has started and waits.
    let limits = RunLimits { virtual_deadline: Some(SimTime::ZERO + Duration::from_secs(1)), ..RunLimits::default() };
    let end =
        exec.run(&limits, |node, r| panic!("instance {node:?} of `{case}` ended: {:?}", r.map_err(|e| e.to_string())));
    assert!(matches!(end, RunEnd::Deadlock | RunEnd::VirtualTimeout), "`{case}` ended {end:?}");
    assert_eq!(exec.live(), n as usize, "every instance of `{case}` waits");
    let after = Memory::now();
    exec.cancel_unfinished();
    (before, after)
}

/// Set in a child process of this bench: one memory figure to measure, as
/// `<figure> <instances> <placebo.wasm>`.
const CHILD: &str = "TG_BENCH_INSTANCES_CHILD";

/// The memory figures, each measured in a fresh child process.
const MEMORY_FIGURES: [&str; 4] = ["idle", "idle-floor", "stall", "sleep"];

/// One memory figure, as the JSON fields [`Memory::per_instance`] gives.
fn memory_figure(figure: &str, n: u32, component: &tg_wasm::component::PlanComponent) -> String {
    let prepared = tg_wasm::run::prepare(component, &EngineSettings::default(), n).expect("preparing placebo");
    let (before, after) = match figure {
        "idle" => {
            let (_, before, after) = instantiate(&prepared, n);
            (before, after)
        }
        "idle-floor" => {
            let compiled = tg_wasm::component::compile(&prepared.engine, component).expect("compiling placebo");
            let (_, before, after) = floor(&prepared, &compiled, n, true);
            (before, after)
        }
        "stall" => suspended(&prepared, n, "stall", &[]),
        "sleep" => suspended(&prepared, n, "sleep", &[("duration", "1h")]),
        other => panic!("no memory figure {other:?}"),
    };
    after.per_instance(before, n)
}

fn memory_in_child(figure: &str, n: u32, path: &std::path::Path) -> String {
    let exe = std::env::current_exe().expect("this bench's path");
    let out = std::process::Command::new(exe)
        .env(CHILD, format!("{figure} {n} {}", path.display()))
        .output()
        .expect("starting the bench's child");
    assert!(out.status.success(), "{figure} at {n}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD) {
        let mut words = spec.splitn(3, ' ');
        let (figure, n, path) = (words.next(), words.next(), words.next());
        let (Some(figure), Some(Ok(n)), Some(path)) = (figure, n.map(str::parse), path) else {
            panic!("{CHILD}={spec:?}: expected `<figure> <instances> <wasm>`")
        };
        let component = tg_wasm::component::load(std::path::Path::new(path)).expect("loading placebo");
        println!("{}", memory_figure(figure, n, &component));
        return;
    }
    let plans = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plans/placebo");
    let path = tg_wasm::builder::build(&plans).expect("building plans/placebo");
    let component = tg_wasm::component::load(&path).expect("loading placebo");
    let settings = EngineSettings::default();
    for n in [1000u32, 5000] {
        let prepared = tg_wasm::run::prepare(&component, &settings, n).expect("preparing placebo");
        let compiled = tg_wasm::component::compile(&prepared.engine, &component).expect("compiling placebo");
        let mut times: [Vec<f64>; 4] = Default::default();
        for _ in 0..ROUNDS {
            // Alternate, so that drift in the machine's load reaches every figure alike.
            times[0].push(instantiate(&prepared, n).0);
            times[1].push(floor(&prepared, &compiled, n, true).0);
            times[2].push(run_and_drop(&prepared, n));
            times[3].push(floor(&prepared, &compiled, n, false).0);
        }
        let [instantiated, instantiated_floor, run, run_floor] = times.map(median);
        let [idle, idle_floor, stall, sleep] = MEMORY_FIGURES.map(|f| memory_in_child(f, n, &path));
        println!(
            "{{\"bench\":\"instantiate\",\"instances\":{n},\"us_per_instance_median\":{instantiated:.2},\"floor_us\":{instantiated_floor:.2},\"rounds\":{ROUNDS}}}"
        );
        println!(
            "{{\"bench\":\"instantiate_run_drop\",\"instances\":{n},\"us_per_instance_median\":{run:.2},\"floor_us\":{run_floor:.2},\"over_floor\":{:.2},\"rounds\":{ROUNDS}}}",
            run / run_floor
        );
        println!("{{\"bench\":\"rss_per_idle_instance\",\"instances\":{n},{idle}}}");
        println!("{{\"bench\":\"rss_per_idle_instance_floor\",\"instances\":{n},{idle_floor}}}");
        println!("{{\"bench\":\"rss_per_suspended_instance\",\"instances\":{n},\"case\":\"stall\",{stall}}}");
        println!("{{\"bench\":\"rss_per_suspended_instance\",\"instances\":{n},\"case\":\"sleep\",{sleep}}}");
    }
}
