//! Sync states and topics in a real Redis server (`--sync redis://…`): the
//! same runs and digests as the embedded service, runs that share a server
//! without interfering, and a server that dies mid-run ending the run promptly
//! with partial results.

#[path = "support/redis.rs"]
mod redis_server;
mod support;

use netsim::RunEnd;
use redis_server::RedisServer;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{plan, run_with, spec, tempdir};
use tg_wasm::run::{Execution, RunSpec, RunSummary};
use tg_wasm::sync::SyncSetting;

fn run_on(spec: &RunSpec, sync: &SyncSetting) -> (RunSummary, Execution) {
    run_with(spec, &tempdir(), sync)
}

#[test]
fn example_and_network_give_the_embedded_digest_with_redis() {
    let server = RedisServer::start();
    let redis = SyncSetting::Redis(server.url());
    let mut latency = spec(plan("example"), "sync", 40, 3);
    latency.sync_latency = Duration::from_millis(2);
    let cases = [
        spec(plan("example"), "sync", 300, 0),
        latency,
        spec(plan("example"), "pubsub-storm", 20, 1),
        spec(plan("network"), "ping-pong", 6, 11),
    ];
    for s in &cases {
        let (embedded, _) = run_on(s, &SyncSetting::Embedded);
        let (with_redis, _) = run_on(s, &redis);
        assert!(embedded.success(), "{}", embedded.render());
        assert!(with_redis.success(), "{}", with_redis.render());
        assert_eq!(embedded.digest, with_redis.digest, "{} {}", s.test_case, s.instance_count());
        assert_eq!(embedded.sim_events, with_redis.sim_events);
        assert_eq!(server.dbsize(), 0, "a finished run deletes its keys");
    }
}

#[test]
fn two_runs_sharing_one_redis_do_not_interfere() {
    let server = RedisServer::start();
    let s = spec(plan("example"), "sync", 200, 7);
    let (embedded, _) = run_on(&s, &SyncSetting::Embedded);
    let redis = SyncSetting::Redis(server.url());
    // The same inputs, so the same run id: only the per-run nonce keeps their keys apart.
    let digests: Vec<String> = std::thread::scope(|scope| {
        let runs: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let (summary, _) = run_on(&s, &redis);
                    assert!(summary.success(), "{}", summary.render());
                    summary.digest
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().expect("run thread")).collect()
    });
    assert_eq!(digests, vec![embedded.digest.clone(), embedded.digest]);
    assert_eq!(server.dbsize(), 0);
}

/// Runs an endless `barrier-storm` on `server` and, once its keys are there,
/// has `lose` make the server lose them; returns what the run made of it.
fn lose_keys_mid_run(server: Arc<Mutex<RedisServer>>, lose: fn(&mut RedisServer)) -> (RunSummary, Execution) {
    let url = server.lock().unwrap().url();
    let mut s = spec(plan("example"), "barrier-storm", 20, 0);
    s.global_params.insert("barriers".into(), "1000000".into());
    s.wall_timeout = Some(Duration::from_secs(120));
    // The server lives until the run is over: the loser's clone alone would
    // drop it, killing the server, as soon as it has emptied it.
    let kept = server.clone();
    let loser = std::thread::spawn(move || {
        let started = Instant::now();
        while server.lock().unwrap().dbsize() < 2 {
            assert!(started.elapsed() < Duration::from_secs(60), "the run never wrote its keys");
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(300));
        lose(&mut server.lock().unwrap());
    });
    let finished = run_with(&s, &tempdir(), &SyncSetting::Redis(url));
    loser.join().unwrap();
    drop(kept);
    finished
}

#[track_caller]
fn assert_sync_failed_naming(summary: &RunSummary, exec: &Execution, port: u16, keys_gone: bool) {
    assert_eq!(summary.end, "sync-failed", "{}", summary.render());
    let RunEnd::SyncFailed(why) = &exec.end else { panic!("expected a sync failure, got {:?}", exec.end) };
    assert!(why.contains(&format!("Redis at 127.0.0.1:{port}")), "{why}");
    if keys_gone {
        assert!(why.contains("the run's keys are gone") && why.contains("restarted empty"), "{why}");
    }
    for o in &exec.outcomes {
        let reason = o.reason.as_deref().unwrap_or("");
        assert!(reason.contains("sync service failed: Redis at"), "the plan is not blamed: {reason}");
    }
}

/// A server that forgets the run (FLUSHALL, eviction) would answer every read
/// as if nothing was ever signalled: the run would deadlock blaming the plan.
#[test]
fn a_server_that_loses_the_runs_keys_mid_run_ends_it_as_sync_failed_naming_redis() {
    let server = Arc::new(Mutex::new(RedisServer::start()));
    let port = server.lock().unwrap().port;
    let (summary, exec) = lose_keys_mid_run(server, |s| {
        let _: String = s.query(&["FLUSHALL"]).expect("FLUSHALL");
    });
    assert_sync_failed_naming(&summary, &exec, port, true);
}

#[test]
fn a_server_restarted_empty_mid_run_ends_it_as_sync_failed_naming_redis() {
    let server = Arc::new(Mutex::new(RedisServer::start()));
    let port = server.lock().unwrap().port;
    let (summary, exec) = lose_keys_mid_run(server, RedisServer::restart_empty);
    // Back within the retries (about 2 s), the server is found empty; later, it was unreachable. Either
    // way Redis is named, never the plan.
    assert_sync_failed_naming(&summary, &exec, port, false);
}

#[test]
fn killing_redis_mid_run_ends_the_run_with_partial_results() {
    let server = Arc::new(Mutex::new(RedisServer::start()));
    let url = server.lock().unwrap().url();
    let mut s = spec(plan("example"), "barrier-storm", 50, 0);
    // Long enough that the run is still syncing when the server dies.
    s.global_params.insert("barriers".into(), "100000".into());
    s.wall_timeout = Some(Duration::from_secs(120));
    let run_id = s.test_run_id();
    let killed_at = Arc::new(Mutex::new(None::<Instant>));
    let killer = {
        let (server, killed_at) = (server.clone(), killed_at.clone());
        std::thread::spawn(move || {
            let started = Instant::now();
            let keys: Vec<String> = loop {
                let keys: Vec<String> = server.lock().unwrap().query(&["KEYS", "tg:*"]).expect("KEYS");
                if !keys.is_empty() || started.elapsed() > Duration::from_secs(60) {
                    break keys;
                }
                std::thread::sleep(Duration::from_millis(5));
            };
            std::thread::sleep(Duration::from_millis(300));
            server.lock().unwrap().kill();
            *killed_at.lock().unwrap() = Some(Instant::now());
            keys
        })
    };
    let out = tempdir();
    let (summary, exec) = run_with(&s, &out, &SyncSetting::Redis(url.clone()));
    let ended = Instant::now();
    let keys = killer.join().unwrap();
    assert!(keys.iter().all(|k| k.starts_with(&format!("tg:{run_id}:"))), "keys are namespaced by run id: {keys:?}");

    let killed_at = killed_at.lock().unwrap().expect("the server was killed");
    let took = ended.duration_since(killed_at);
    assert!(took < Duration::from_secs(10), "the run ended {took:?} after the server died");
    let RunEnd::SyncFailed(why) = &exec.end else { panic!("expected a sync failure, got {:?}", exec.end) };
    let port = url.trim_start_matches("redis://").trim_end_matches("/0");
    assert!(why.contains(&format!("Redis at {port}")), "{why}");
    assert!(why.contains("tries"), "the message says it retried: {why}");

    assert!(!summary.success());
    assert_eq!(summary.end, "sync-failed");
    assert_eq!(exec.outcomes.len(), 50);
    for o in &exec.outcomes {
        let reason = o.reason.as_deref().unwrap_or("");
        assert_eq!(o.outcome.as_str(), "crashed", "{reason}");
        assert!(reason.contains("sync service failed: Redis at"), "{reason}");
    }
    // Partial results: what happened before the failure is in the run directory.
    let written = std::fs::read_to_string(out.join("summary.json")).expect("summary.json is written");
    assert!(written.contains("sync-failed"));
    assert!(!exec.states.is_empty(), "barriers passed before the failure are recorded");
}

/// `tg-wasm run plans/example -i 2 --sync URL`: its exit code and stderr.
fn run_with_sync_url(url: &str) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tg-wasm"))
        .args(["run", "plans/example", "--instances", "2", "--sync", url, "--out"])
        .arg(&tempdir())
        .current_dir(support::plans_dir().join(".."))
        .output()
        .expect("running tg-wasm");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn an_unreachable_redis_is_bad_input_on_the_command_line() {
    let port = redis_server::free_port();
    let (code, stderr) = run_with_sync_url(&format!("redis://127.0.0.1:{port}"));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains(&format!("cannot reach Redis at 127.0.0.1:{port}")), "{stderr}");
}

#[test]
fn a_database_the_server_does_not_have_is_refused_saying_so() {
    let server = RedisServer::start();
    let (code, stderr) =
        run_with_sync_url(&format!("{}/999999", server.url().strip_suffix("/0").expect("a URL of database 0")));
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("refused the connection") && stderr.contains("DB index is out of range"), "{stderr}");
    assert!(!stderr.contains("is redis-server running"), "the server is running: {stderr}");
}

#[test]
fn a_run_that_loses_redis_exits_non_zero_from_the_command_line() {
    let server = Arc::new(Mutex::new(RedisServer::start()));
    let url = server.lock().unwrap().url();
    let killer = {
        let server = server.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            while server.lock().unwrap().dbsize() == 0 && started.elapsed() < Duration::from_secs(60) {
                std::thread::sleep(Duration::from_millis(5));
            }
            std::thread::sleep(Duration::from_millis(200));
            server.lock().unwrap().kill();
        })
    };
    let out = Command::new(env!("CARGO_BIN_EXE_tg-wasm"))
        .args(["run", "plans/example", "--testcase", "barrier-storm", "--instances", "20"])
        .args(["--param", "barriers=100000", "--timeout", "2m", "--sync", &url, "--out"])
        .arg(&tempdir())
        .current_dir(support::plans_dir().join(".."))
        .output()
        .expect("running tg-wasm");
    killer.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("sync service failed: Redis at"), "{stdout}");
}
