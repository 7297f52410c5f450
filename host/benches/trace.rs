//! The wall-time cost of `--trace` (every record kept and written to
//! `trace.jsonl`) over a digest-only run, on 1000 instances of
//! `plans/network` ping-pong (or `plans/example` if there is no network plan).
//!
//! Prints one JSON line per mode and one with the overhead. Run with
//! `cargo bench -p tg-wasm --bench trace`. Rounds alternate between the modes
//! so that a noisy shared machine slows both alike; each figure is the median
//! of its rounds, timed around the whole run including writing the run
//! directory. Target: trace overhead ≤ 20%.

use std::path::Path;
use std::time::Instant;
use tg_wasm::run::RunSpec;

const ROUNDS: usize = 3;
const INSTANCES: u32 = 1000;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let plans = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plans");
    let (name, case) =
        if plans.join("network/Cargo.toml").is_file() { ("network", "ping-pong") } else { ("example", "sync") };
    let path = tg_wasm::builder::build(&plans.join(name)).expect("building the plan");
    let component = tg_wasm::component::load(&path).expect("loading the plan");
    let spec = |keep_trace| RunSpec { keep_trace, ..RunSpec::single_group(component.clone(), case, INSTANCES) };
    let root = std::env::temp_dir().join(format!("tg-wasm-bench-trace-{}", std::process::id()));
    // One unmeasured run of each mode: the component cache and the page cache warm up.
    let mut times: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    // The instances' execution alone (no preparation, no writing): where recording happens.
    let mut exec_times: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut events = 0;
    for round in 0..=ROUNDS {
        for (mode, keep_trace) in [false, true].into_iter().enumerate() {
            let out = root.join(format!("{round}-{mode}"));
            let started = Instant::now();
            let finished = tg_wasm::session::run(spec(keep_trace), &tg_wasm::session::RunOptions::new(&out))
                .expect("running the plan");
            let summary = finished.summary;
            let elapsed = started.elapsed().as_secs_f64();
            assert!(summary.success(), "{}", summary.render());
            events = summary.trace_events;
            if round > 0 {
                times[mode].push(elapsed);
                exec_times[mode].push(summary.wall_time_s);
            }
            let _ = std::fs::remove_dir_all(&out);
        }
    }
    let _ = std::fs::remove_dir_all(&root);
    let [digest_only, traced] = times.map(median);
    let [exec_digest_only, exec_traced] = exec_times.map(median);
    for (mode, s, e) in [("digest-only", digest_only, exec_digest_only), ("trace", traced, exec_traced)] {
        println!(
            "{{\"bench\":\"trace\",\"plan\":\"{name}/{case}\",\"instances\":{INSTANCES},\"events\":{events},\"mode\":\"{mode}\",\"median_s\":{s:.4},\"execution_median_s\":{e:.4},\"rounds\":{ROUNDS}}}"
        );
    }
    println!(
        "{{\"bench\":\"trace\",\"plan\":\"{name}/{case}\",\"instances\":{INSTANCES},\"trace_overhead_pct\":{:.1},\"execution_overhead_pct\":{:.1},\"target_pct\":20}}",
        (traced / digest_only - 1.0) * 100.0,
        (exec_traced / exec_digest_only - 1.0) * 100.0
    );
}
