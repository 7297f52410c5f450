//! Instantiation cost and memory per instance, for 1000 and 5000 placebo instances.
//!
//! Prints one JSON line per figure. Run with `cargo bench -p tg-wasm --bench instances`.
//! Time is the median of several rounds in this one process, so the numbers of
//! one run compare with each other on a noisy shared machine; memory is the
//! first round's, before the allocator has heap to reuse.

use netsim::{Executor, NodeId, RunLimits, Sim, SimConfig, SimHandle};
use std::sync::Arc;
use std::time::Instant;
use tg_wasm::engine::EngineSettings;
use tg_wasm::instance::{GroupEnv, InstanceLimits, InstanceRecord, InstanceState, Placement, RunEnv};
use tg_wasm::metrics::MetricSink;
use wasmtime::Store;

const ROUNDS: usize = 5;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let plans = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plans/placebo");
    let path = tg_wasm::builder::build(&plans).expect("building plans/placebo");
    let component = tg_wasm::component::load(&path).expect("loading placebo");
    let settings = EngineSettings::default();
    for n in [1000u32, 5000] {
        let prepared = tg_wasm::run::prepare(&component, &settings, n).expect("preparing placebo");
        let mut us_per_instance = Vec::new();
        let mut rss_per_instance = Vec::new();
        for _ in 0..ROUNDS {
            // Measure from before the host state is built: an idle instance costs its store too.
            let rss_before = rss_bytes();
            let sim = SimHandle::new(Sim::new(SimConfig { instances: n, ..SimConfig::default() }));
            let env = Arc::new(RunEnv {
                test_plan: "placebo".into(),
                test_case: "ok".into(),
                test_run: "bench".into(),
                seed: 0,
                instance_count: n,
                on_threads: false,
            });
            let group = Arc::new(GroupEnv {
                id: "single".into(),
                instance_count: n,
                params: Vec::new(),
                subnet: String::new(),
                args: Vec::new(),
                component: 0,
            });
            let limits = InstanceLimits::for_plan(
                settings.memory_limit,
                component.shape,
                tg_wasm::limits::DEFAULT_MESSAGE_BYTES,
            );
            let states: Vec<InstanceState> = (0..n)
                .map(|i| {
                    let node = NodeId(i);
                    let record = Arc::new(InstanceRecord::new(node, &sim));
                    let placement = Placement { node, group: group.clone(), group_seq: i };
                    InstanceState::new(env.clone(), placement, sim.clone(), record, MetricSink::default(), limits)
                })
                .collect();
            let engine = prepared.engine.clone();
            let tg_wasm::run::prepare::Entry::Plan(pre) = prepared.components[0].entry.clone() else {
                panic!("placebo is a plan")
            };
            let mut exec = Executor::new(sim.clone());
            exec.spawn(
                NodeId(0),
                Box::pin(async move {
                    let started = Instant::now();
                    let mut live = Vec::with_capacity(states.len());
                    for state in states {
                        let mut store = Store::new(&engine, state);
                        store.set_fuel(u64::MAX / 2).expect("fuel");
                        let plan = pre.instantiate_async(&mut store).await.expect("instantiate");
                        live.push((store, plan));
                    }
                    let elapsed = started.elapsed();
                    let rss = rss_bytes();
                    (elapsed, rss, live)
                }),
            );
            let mut result = None;
            exec.run(&RunLimits::default(), |_, r| result = Some(r));
            let (elapsed, rss_after, live) = result.expect("instantiation finished");
            us_per_instance.push(elapsed.as_secs_f64() * 1e6 / f64::from(n));
            rss_per_instance.push(rss_after.saturating_sub(rss_before) as f64 / f64::from(n) / 1024.0);
            drop(live);
        }
        println!(
            "{{\"bench\":\"instantiate\",\"instances\":{n},\"us_per_instance_median\":{:.2},\"rounds\":{ROUNDS}}}",
            median(us_per_instance)
        );
        // The first round only: later rounds reuse heap the allocator kept from the
        // first, which would make memory look cheaper than it is.
        println!(
            "{{\"bench\":\"rss_per_idle_instance\",\"instances\":{n},\"kib_per_instance_first_round\":{:.2}}}",
            rss_per_instance[0]
        );
    }
}
