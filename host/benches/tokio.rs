//! What the async stack costs: one UDP ping workload written on tokio and on
//! blocking `std` (`plans/tokio`'s `udp-ping` and `udp-ping-std`), 1000
//! instances × 10 sequential round trips each on 10 ms links, run in
//! alternating rounds in child processes.
//!
//! Prints one JSON line per setting and one with the ratio of the medians
//! (tokio over std). Run with `cargo bench -p tg-wasm --bench tokio`;
//! `TG_BENCH_ROUNDS` (default 5) sets the rounds.

mod support;

use support::{Round, build, median, run};

const INSTANCES: u32 = 1000;

fn main() {
    let rounds: usize = std::env::var("TG_BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(5).max(1);
    let plan = build("tokio");
    let params = ["rounds=10", "latency=10ms"];
    let cases = ["udp-ping", "udp-ping-std"];
    let mut by_case: Vec<Vec<Round>> = cases.iter().map(|_| Vec::new()).collect();
    // Alternate, so that drift in the machine's load reaches both alike.
    for _ in 0..rounds {
        for (i, case) in cases.iter().enumerate() {
            by_case[i].push(run(&plan, case, INSTANCES, &params, &[]));
        }
    }
    let mut walls = Vec::new();
    for (case, runs) in cases.iter().zip(&by_case) {
        let wall = median(runs.iter().map(Round::run_wall_s).collect());
        walls.push(wall);
        let rss: Vec<f64> = runs.iter().filter_map(|r| r.peak_rss_kib).collect();
        let line = serde_json::json!({
            "bench": case,
            "instances": INSTANCES,
            "params": params,
            "rounds": rounds,
            "run_wall_s_median": wall,
            "process_wall_s_median": median(runs.iter().map(|r| r.process_wall_s).collect()),
            "virtual_s": runs[0].summary["virtual_time_ns"].as_f64().map(|ns| ns / 1e9),
            "peak_rss_mib_median": if rss.is_empty() { None } else { Some(median(rss) / 1024.0) },
            "sim_events": runs[0].summary["sim_events"],
            "round_trips_per_wall_s": f64::from(INSTANCES) * 10.0 / wall,
        });
        println!("{line}");
    }
    println!(
        "{}",
        serde_json::json!({"bench": "udp-ping-tokio-over-std", "instances": INSTANCES, "ratio": walls[0] / walls[1], "target": 1.5})
    );
}
