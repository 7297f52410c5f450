//! The engine's speed on a workload every network simulator can run:
//! `plans/network`'s `round-trips` — N instances, each making M sequential
//! 64-byte UDP round trips to seeded random peers and answering every ping,
//! 10 ms one way, a 1 s resend timer that never fires — at N × M = 100 × 100,
//! 1000 × 100, 5000 × 10 and 10000 × 10, on 1 and 2 threads.
//!
//! Each run is a child `tg-wasm` process (see `support`), with
//! `--sync-latency 10ms` so that every setting has the same lookahead and the
//! same digest (which the bench checks). With `TG_BENCH_BASELINE` set to
//! another `tg-wasm` binary, that binary runs the same wasm on one thread in
//! the same rounds, for a side-by-side comparison.
//!
//! Prints one JSON line per workload and setting: medians over the rounds of
//! the run's wall time (the instances' execution, from `summary.json`), the
//! child's CPU time and peak RSS (`/usr/bin/time`), the events, and the cost
//! per round trip; then one line per workload with the ratios. Run with
//! `cargo bench -p tg-wasm --bench round_trips`; `TG_BENCH_ROUNDS` (default 3)
//! sets the rounds, `TG_BENCH_ONLY=100x100` (comma-separated `NxM`) the workloads.
//! A workload more instances than `vm.max_map_count` allows (10,000 under
//! Linux's default) is skipped with a line saying so and how to raise it.

mod support;

use std::path::{Path, PathBuf};
use support::{Round, baseline_binary, build, median, run_binary, this_binary};

/// The workloads, as (instances, round trips each).
const WORKLOADS: [(u32, u32); 4] = [(100, 100), (1000, 100), (5000, 10), (10_000, 10)];

/// One way of running a workload.
struct Setting {
    name: String,
    binary: PathBuf,
    threads: u32,
}

fn settings() -> Vec<Setting> {
    let mut settings: Vec<Setting> = [1, 2]
        .into_iter()
        .map(|t| Setting { name: format!("{t} thread(s)"), binary: this_binary().to_path_buf(), threads: t })
        .collect();
    if let Some(binary) = baseline_binary() {
        // On one thread, as named: left to its default, a baseline takes every core.
        settings.push(Setting { name: "baseline, 1 thread".into(), binary, threads: 1 });
    }
    settings
}

fn run_setting(setting: &Setting, wasm: &Path, n: u32, m: u32) -> Round {
    let rounds = format!("rounds={m}");
    let threads = setting.threads.to_string();
    let extra = ["--sync-latency", "10ms", "--threads", &threads];
    run_binary(&setting.binary, wasm, "round-trips", n, &[&rounds, "latency=10ms", "resend=1s"], &extra)
}

fn main() {
    let rounds: usize = std::env::var("TG_BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(3).max(1);
    let only = std::env::var("TG_BENCH_ONLY").unwrap_or_default();
    let wasm = build("network");
    let shape = tg_wasm::component::Shape::of(&std::fs::read(&wasm).expect("reading the plan")).expect("a component");
    let settings = settings();
    for (n, m) in WORKLOADS {
        if !only.is_empty() && !only.split(',').any(|w| w == format!("{n}x{m}")) {
            continue;
        }
        // 10,000 instances need more mappings than Linux's default limit:
        // the other workloads are still worth their figures.
        if let Err(why) = tg_wasm::engine::check_mapping_limit(n, &shape) {
            println!(
                "{}",
                serde_json::json!({"bench": "round-trips", "instances": n, "round_trips_each": m, "skipped": why.message()})
            );
            continue;
        }
        let mut by_setting: Vec<Vec<Round>> = settings.iter().map(|_| Vec::new()).collect();
        // Alternate, so that drift in the machine's load reaches every setting alike.
        for _ in 0..rounds {
            for (i, setting) in settings.iter().enumerate() {
                by_setting[i].push(run_setting(setting, &wasm, n, m));
            }
        }
        let digest = &by_setting[0][0].summary["digest"];
        let round_trips = f64::from(n) * f64::from(m);
        let mut walls = Vec::new();
        for (setting, runs) in settings.iter().zip(&by_setting) {
            for r in runs {
                assert_eq!(r.summary["outcome"], "success", "{} {n}x{m}: {}", setting.name, r.summary);
                if setting.binary == this_binary() {
                    assert_eq!(&r.summary["digest"], digest, "{} gave another digest at {n}x{m}", setting.name);
                }
            }
            let wall = median(runs.iter().map(Round::run_wall_s).collect());
            let cpu: Vec<f64> = runs.iter().filter_map(|r| r.cpu_s).collect();
            let rss: Vec<f64> = runs.iter().filter_map(|r| r.peak_rss_kib).collect();
            walls.push(wall);
            let line = serde_json::json!({
                "bench": "round-trips",
                "instances": n,
                "round_trips_each": m,
                "setting": setting.name,
                "rounds": rounds,
                "run_wall_s_median": wall,
                "process_wall_s_median": median(runs.iter().map(|r| r.process_wall_s).collect()),
                "process_cpu_s_median": if cpu.is_empty() { None } else { Some(median(cpu)) },
                "peak_rss_mib_median": if rss.is_empty() { None } else { Some(median(rss) / 1024.0) },
                "sim_events": runs[0].summary["sim_events"],
                "run_wall_us_per_round_trip": wall * 1e6 / round_trips,
                "digest": runs[0].summary["digest"],
            });
            println!("{line}");
        }
        let mut ratios = serde_json::json!({
            "bench": "round-trips-ratios",
            "instances": n,
            "round_trips_each": m,
            "two_threads_over_one": walls[0] / walls[1],
        });
        if walls.len() > 2 {
            ratios["baseline_over_one_thread"] = serde_json::json!(walls[2] / walls[0]);
            ratios["baseline_over_two_threads"] = serde_json::json!(walls[2] / walls[1]);
        }
        println!("{ratios}");
    }
}
