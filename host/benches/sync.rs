//! The sync service on Redis (`--sync redis://…`) against the embedded one:
//! barrier latency and topic throughput, through real plan runs.
//!
//! - barrier: `plans/example` barrier-storm, every instance on every barrier;
//!   the figure is the execution's wall time divided by the barriers (one
//!   barrier round = every instance signals and is released).
//! - topic: `plans/example` pubsub-storm, every instance publishes `messages`
//!   and reads all of them; the figures are messages published per second and
//!   deliveries (messages × readers) per second.
//!
//! Starts its own `redis-server` on a free loopback port (Debian's package).
//! Prints one JSON line per case and backend, and one with the ratios. Run with
//! `cargo bench -p tg-wasm --bench sync`. Rounds alternate between the backends
//! so that a noisy machine slows both alike; each figure is a median. Both
//! backends must give the same digest, checked on every round.

#[path = "../tests/support/redis.rs"]
mod redis_server;

use std::collections::BTreeMap;
use std::path::Path;
use tg_wasm::run::RunSpec;
use tg_wasm::sync::SyncSetting;

const ROUNDS: usize = 3;
const INSTANCES: u32 = 100;
const BARRIERS: u64 = 50;
const MESSAGES: u64 = 10;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let plans = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plans");
    let path = tg_wasm::builder::build(&plans.join("example")).expect("building the plan");
    let component = tg_wasm::component::load(&path).expect("loading the plan");
    let spec = |case: &str, param: &str, value: u64| RunSpec {
        global_params: BTreeMap::from([(param.to_string(), value.to_string())]),
        ..RunSpec::single_group(component.clone(), case, INSTANCES)
    };
    let server = redis_server::RedisServer::start();
    let backends = [("embedded", SyncSetting::Embedded), ("redis", SyncSetting::Redis(server.url()))];
    let cases = [
        ("barrier-storm", spec("barrier-storm", "barriers", BARRIERS)),
        ("pubsub-storm", spec("pubsub-storm", "messages", MESSAGES)),
    ];
    let root = std::env::temp_dir().join(format!("tg-wasm-bench-sync-{}", std::process::id()));
    let mut medians = BTreeMap::new();
    for (case, spec) in &cases {
        let mut times: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
        let mut digests = [String::new(), String::new()];
        // Round 0 is unmeasured: the component cache and the server warm up.
        for round in 0..=ROUNDS {
            for (b, (_, sync)) in backends.iter().enumerate() {
                let out = root.join(format!("{case}-{round}-{b}"));
                let options =
                    tg_wasm::session::RunOptions { sync: sync.clone(), ..tg_wasm::session::RunOptions::new(&out) };
                let summary = tg_wasm::session::run(spec.clone(), &options).expect("running the plan").summary;
                assert!(summary.success(), "{}", summary.render());
                digests[b] = summary.digest.clone();
                if round > 0 {
                    times[b].push(summary.wall_time_s);
                }
                let _ = std::fs::remove_dir_all(&out);
            }
            assert_eq!(digests[0], digests[1], "{case}: the backends must give the same run");
        }
        for (b, (backend, _)) in backends.iter().enumerate() {
            let s = median(times[b].clone());
            medians.insert((*case, *backend), s);
            let figures = if *case == "barrier-storm" {
                format!("\"barriers\":{BARRIERS},\"barrier_round_ms\":{:.3}", s * 1e3 / BARRIERS as f64)
            } else {
                let published = u64::from(INSTANCES) * MESSAGES;
                format!(
                    "\"messages\":{published},\"messages_per_s\":{:.0},\"deliveries_per_s\":{:.0}",
                    published as f64 / s,
                    (published * u64::from(INSTANCES)) as f64 / s
                )
            };
            println!(
                "{{\"bench\":\"sync\",\"case\":\"{case}\",\"backend\":\"{backend}\",\"instances\":{INSTANCES},\"execution_median_s\":{s:.4},{figures},\"rounds\":{ROUNDS}}}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&root);
    let ratio = |case| medians[&(case, "redis")] / medians[&(case, "embedded")];
    println!(
        "{{\"bench\":\"sync\",\"redis_over_embedded\":{{\"barrier_latency\":{:.2},\"topic_time\":{:.2}}},\"note\":\"ratios of wall time, >1 means Redis is slower\"}}",
        ratio("barrier-storm"),
        ratio("pubsub-storm")
    );
}
