//! Whole runs of the headline workloads, each in a child `tg-wasm` process so
//! that peak memory is the run's own: the DHT `find-peers` case at 1000 and
//! 5000 instances, a barrier storm (5000 instances × 100 barriers) and a
//! pub/sub storm (1000 instances × 10 messages, every instance reading all).
//!
//! Prints one JSON line per figure. Run with `cargo bench -p tg-wasm --bench dht`;
//! `TG_BENCH_ROUNDS` (default 3) sets the rounds per figure, and times and
//! memory are medians over them. Peak RSS is the child's maximum resident set
//! as `/usr/bin/time` reports it (null where that tool is missing); wall times
//! come from the run's `summary.json` (the instances' execution) and from the
//! child's lifetime (plus engine setup, instantiation and writing results).

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// One run's figures.
struct Round {
    process_wall_s: f64,
    peak_rss_kib: Option<f64>,
    summary: Value,
}

impl Round {
    fn run_wall_s(&self) -> f64 {
        self.summary["wall_time_s"].as_f64().unwrap_or(f64::NAN)
    }

    fn events_per_s(&self) -> f64 {
        self.summary["sim_events"].as_f64().unwrap_or(f64::NAN) / self.run_wall_s()
    }

    /// A result metric's aggregate field, e.g. `("hops", "p99")`.
    fn result(&self, name: &str, field: &str) -> Option<f64> {
        self.summary["metrics"]["results"].as_array()?.iter().find(|m| m["name"] == name)?[field].as_f64()
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn build(plan: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plans").join(plan);
    tg_wasm::builder::build(&dir).unwrap_or_else(|e| panic!("building plans/{plan}: {e}"))
}

/// Runs `tg-wasm run` in a child process and reads back its summary.
fn run(wasm: &Path, case: &str, instances: u32, params: &[&str]) -> Round {
    let out = std::env::temp_dir().join(format!("tg-wasm-bench-{}-{case}-{instances}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let rusage = out.with_extension("time");
    let time = Path::new("/usr/bin/time");
    let mut cmd = if time.exists() {
        let mut c = Command::new(time);
        c.arg("-f").arg("%M").arg("-o").arg(&rusage).arg(env!("CARGO_BIN_EXE_tg-wasm"));
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_tg-wasm"))
    };
    cmd.arg("run").arg(wasm).args(["--testcase", case, "--instances", &instances.to_string(), "--out"]).arg(&out);
    for p in params {
        cmd.args(["--param", p]);
    }
    let started = Instant::now();
    let output = cmd.output().expect("starting tg-wasm");
    let process_wall_s = started.elapsed().as_secs_f64();
    assert!(
        output.status.success(),
        "{case} × {instances} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).expect("summary.json")).expect("summary JSON");
    let peak_rss_kib = std::fs::read_to_string(&rusage).ok().and_then(|s| s.trim().lines().last()?.parse().ok());
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_file(&rusage);
    Round { process_wall_s, peak_rss_kib, summary }
}

/// Runs a workload `rounds` times and prints its figures as one JSON line.
fn bench(name: &str, wasm: &Path, case: &str, instances: u32, params: &[&str], rounds: usize) -> Vec<Round> {
    let runs: Vec<Round> = (0..rounds).map(|_| run(wasm, case, instances, params)).collect();
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

fn main() {
    let rounds: usize = std::env::var("TG_BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(3).max(1);
    let dht = build("dht");
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
