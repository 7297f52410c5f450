//! What idle sockets cost a busy one: `plans/tokio`'s `idle-sockets` and
//! `idle-sockets-poll` cases, two instances holding 1, 10, 100 and 1000 idle
//! TCP connections while they exchange UDP round trips. In `idle-sockets`
//! each connection is read by a tokio task, so armed in the runtime's reactor;
//! in `idle-sockets-poll` each wait is one `poll(2)` over std sockets, which
//! measures the host's and the SDK's poll path without tokio's reactor (whose
//! mio selector walks every registered socket after each wake). Each setting
//! runs with 0 and with `ROUNDS` round trips, in child processes; the
//! difference, over `ROUNDS`, is the cost of one round trip without the
//! connections' setup.
//!
//! Prints one JSON line per case and setting with that cost in microseconds
//! and its ratio to the same case's cost with one idle connection. Run with
//! `cargo bench -p tg-wasm --bench poll`; `TG_BENCH_ROUNDS` (default 3) sets
//! how many times each run is repeated (medians are reported).

mod support;

use support::{Round, build, median, run};

/// Round trips in the timed runs.
const ROUNDS: u32 = 4000;

fn main() {
    let repeats: usize = std::env::var("TG_BENCH_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(3).max(1);
    let plan = build("tokio");
    for case in ["idle-sockets", "idle-sockets-poll"] {
        bench_case(&plan, case, repeats);
    }
}

/// One case at every number of idle connections.
fn bench_case(plan: &std::path::Path, case: &str, repeats: usize) {
    let mut base = None;
    for idle in [1, 10, 100, 1000] {
        let wall = |rounds: u32| {
            let params = [format!("idle={idle}"), format!("rounds={rounds}"), "latency=1ms".to_string()];
            let params: Vec<&str> = params.iter().map(String::as_str).collect();
            let runs: Vec<Round> = (0..repeats).map(|_| run(plan, case, 2, &params, &[])).collect();
            (
                median(runs.iter().map(Round::run_wall_s).collect()),
                runs[0].summary["sim_events"].as_f64().unwrap_or(0.0),
            )
        };
        let (setup_s, setup_events) = wall(0);
        let (total_s, total_events) = wall(ROUNDS);
        let per_round_trip_us = (total_s - setup_s) / f64::from(ROUNDS) * 1e6;
        let per_event_us = (total_s - setup_s) / (total_events - setup_events) * 1e6;
        let base_us = *base.get_or_insert(per_round_trip_us);
        println!(
            "{}",
            serde_json::json!({
                "bench": "idle-sockets",
                "case": case,
                "idle_connections": idle,
                "round_trips": ROUNDS,
                "setup_wall_s_median": setup_s,
                "round_trip_us": per_round_trip_us,
                "event_us": per_event_us,
                "vs_one_idle": per_round_trip_us / base_us,
                "target": 1.5,
            })
        );
    }
}
