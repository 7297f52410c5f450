//! Whole runs of the headline workloads, each in a child `tg-wasm` process so
//! that peak memory is the run's own: the DHT `find-peers` case at 1000 and
//! 5000 instances, a barrier storm (5000 instances × 100 barriers), a
//! pub/sub storm (1000 instances × 10 messages, every instance reading all),
//! and the 5000-instance DHT on 2 threads of one process (`--threads`) and
//! split across 1, 2 and 4 worker processes (`--workers`, through a
//! `redis-server` the bench starts) against one thread.
//!
//! Prints one JSON line per figure. Run with `cargo bench -p tg-wasm --bench dht`;
//! `TG_BENCH_ROUNDS` (default 3) sets the rounds per figure, and times and
//! memory are medians over them; `TG_BENCH_ONLY=workers` (or `single`) runs
//! one part, `TG_BENCH_ONLY=threads` only one thread against two. With
//! workers, peak RSS is the largest single process's. Peak RSS is the child's
//! maximum resident set as `/usr/bin/time` reports it (null where that tool is missing); wall times
//! come from the run's `summary.json` (the instances' execution) and from the
//! child's lifetime (plus engine setup, instantiation and writing results).

#[path = "../tests/support/redis.rs"]
mod redis_server;
mod support;

use std::path::Path;
use support::{Round, build, median, run};

/// Runs a workload `rounds` times and prints its figures as one JSON line.
fn bench(name: &str, wasm: &Path, case: &str, instances: u32, params: &[&str], rounds: usize) -> Vec<Round> {
    let runs: Vec<Round> = (0..rounds).map(|_| run(wasm, case, instances, params, &[])).collect();
    let first = &runs[0].summary;
    let rss: Vec<f64> = runs.iter().filter_map(|r| r.peak_rss_kib).collect();
    let line = serde_json::json!({
        "bench": name,
        "instances": instances,
        "params": params,
        "rounds": rounds,
        "run_wall_s_median": median(runs.iter().map(Round::run_wall_s).collect()),
        "process_wall_s_median": median(runs.iter().map(|r| r.process_wall_s).collect()),
        "virtual_s": first["virtual_time_ns"].as_f64().map(|ns| ns / 1e9),
        "peak_rss_mib_median": if rss.is_empty() { None } else { Some(median(rss) / 1024.0) },
        "sim_events": first["sim_events"],
        "events_per_wall_s_median": median(runs.iter().map(Round::events_per_s).collect()),
    });
    println!("{line}");
    runs
}

/// The 5000-instance DHT on one thread, on two threads of one process, and
/// (unless `threads_only`) split across 1, 2 and 4 workers, in alternating
/// rounds (the machine's load drifts; each round sees all settings). Every
/// setting must give the same digest.
fn split(dht: &Path, rounds: usize, threads_only: bool) {
    let server = redis_server::RedisServer::start();
    let url = server.url();
    // A split run needs a sync latency; every setting gets the same one, so all give one digest.
    let common = ["--sync-latency", "10ms"];
    let mut kinds = vec![("one thread", "--threads", 1), ("threads", "--threads", 2)];
    if !threads_only {
        kinds.extend([("workers", "--workers", 1), ("workers", "--workers", 2), ("workers", "--workers", 4)]);
    }
    let settings: Vec<(&str, Vec<String>)> = kinds
        .into_iter()
        .map(|(name, flag, count)| {
            let mut args: Vec<String> = common.iter().map(|s| s.to_string()).collect();
            if flag == "--workers" {
                args.extend(["--sync".into(), url.clone()]);
            }
            args.extend([flag.to_string(), count.to_string()]);
            (name, args)
        })
        .collect();
    let mut by_setting: Vec<Vec<Round>> = settings.iter().map(|_| Vec::new()).collect();
    for _ in 0..rounds {
        for (i, (_, args)) in settings.iter().enumerate() {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            by_setting[i].push(run(dht, "find-peers", 5000, &[], &args));
        }
    }
    let digest = by_setting[0][0].summary["digest"].clone();
    let single_wall = median(by_setting[0].iter().map(Round::run_wall_s).collect());
    for ((name, args), runs) in settings.iter().zip(&by_setting) {
        for r in runs {
            assert_eq!(r.summary["digest"], digest, "{name} {args:?} gave another digest");
        }
        let wall = median(runs.iter().map(Round::run_wall_s).collect());
        let rss: Vec<f64> = runs.iter().filter_map(|r| r.peak_rss_kib).collect();
        let count = |flag: &str| args.iter().position(|a| a == flag).map(|i| &args[i + 1]);
        let line = serde_json::json!({
            "bench": "dht-find-peers-split",
            "instances": 5000,
            "setting": name,
            "threads": count("--threads"),
            "workers": count("--workers"),
            "rounds": rounds,
            "run_wall_s_median": wall,
            "process_wall_s_median": median(runs.iter().map(|r| r.process_wall_s).collect()),
            "speedup_vs_one_thread": single_wall / wall,
            "largest_process_peak_rss_mib_median": if rss.is_empty() { None } else { Some(median(rss) / 1024.0) },
            "sim_events": runs[0].summary["sim_events"],
            "digest": runs[0].summary["digest"],
        });
        println!("{line}");
    }
}

fn main() {
    let rounds: usize = std::env::var("TG_BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(3).max(1);
    let only = std::env::var("TG_BENCH_ONLY").unwrap_or_default();
    let dht = build("dht");
    if only != "single" {
        split(&dht, rounds, only == "threads");
    }
    if only == "workers" || only == "threads" {
        return;
    }
    for n in [1000, 5000] {
        let runs = bench("dht-find-peers", &dht, "find-peers", n, &[], rounds);
        // What the run achieved, from its metrics (the same every round: same seed).
        let r = &runs[0];
        let ok = r.result("lookups-ok", "sum").unwrap_or(0.0);
        let failed = r.result("lookups-failed", "sum").unwrap_or(0.0);
        let line = serde_json::json!({
            "bench": "dht-find-peers-quality",
            "instances": n,
            "lookups": ok + failed,
            "success_rate": ok / (ok + failed),
            "hops_mean": r.result("hops", "mean"),
            "hops_p99": r.result("hops", "p99"),
            "time_to_find_mean_s": r.result("time-to-find", "mean"),
            "time_to_find_p99_s": r.result("time-to-find", "p99"),
        });
        println!("{line}");
    }
    let example = build("example");
    // Sync operations never wait on the clock, so virtual time stays at zero;
    // the figures that matter are rates per wall second.
    let runs = bench("barrier-storm", &example, "barrier-storm", 5000, &["barriers=100"], rounds);
    let wall = median(runs.iter().map(Round::run_wall_s).collect());
    println!(
        "{}",
        serde_json::json!({"bench": "barrier-storm-rate", "instances": 5000, "barriers_per_wall_s": 100.0 / wall, "signals_per_wall_s": 5000.0 * 100.0 / wall})
    );
    let runs = bench("pubsub-storm", &example, "pubsub-storm", 1000, &["messages=10"], rounds);
    let wall = median(runs.iter().map(Round::run_wall_s).collect());
    println!(
        "{}",
        serde_json::json!({"bench": "pubsub-storm-rate", "instances": 1000, "published_per_wall_s": 1000.0 * 10.0 / wall, "deliveries_per_wall_s": 1000.0 * 1000.0 * 10.0 / wall})
    );
}
