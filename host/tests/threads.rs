//! A run on several threads of one process (`--threads`): the digest of the
//! same run on one thread and split across worker processes, for every case
//! of every plan that has a lookahead; runs that cannot be split run on one
//! thread and say so in one line.

#[path = "support/redis.rs"]
mod redis_server;
mod support;

use redis_server::RedisServer;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;
use support::{plan, tempdir};
use tg_wasm::run::split::SplitSettings;
use tg_wasm::run::threads::ThreadPlan;
use tg_wasm::run::{Run, RunSpec};
use tg_wasm::session::{self, Mode, RunOptions};
use tg_wasm::sync::SyncSetting;

const TG_WASM: &str = env!("CARGO_BIN_EXE_tg-wasm");

/// Every plan of the repository, by directory.
const PLANS: [&str; 9] = ["placebo", "example", "hostile", "network", "nat", "dht", "tokio", "wstd", "libp2p-kad"];

/// The lookahead of every run here: the sync latency.
const LOOKAHEAD: Duration = Duration::from_millis(1);

fn on_threads(threads: u32) -> ThreadPlan {
    ThreadPlan { threads, lookahead: LOOKAHEAD }
}

/// Every case of `plan_dir`'s plan at a small size (4 instances, or what the case allows), with
/// the lookahead as sync latency, and a link latency above it where the case's default is none.
fn small_cases(plan_dir: &str) -> Vec<RunSpec> {
    let component = plan(plan_dir);
    let settings = tg_wasm::engine::EngineSettings::default();
    let manifest = tg_wasm::run::prepare::prepare(&component, &settings, 1).expect("the plan loads").manifest;
    manifest
        .test_cases
        .iter()
        .map(|case| {
            let n = 4u32.clamp(case.min_instances, case.max_instances);
            let mut s = RunSpec::single_group(component.clone(), &case.name, n);
            s.sync_latency = LOOKAHEAD;
            s.virtual_timeout = Some(Duration::from_secs(600));
            if case.params.iter().any(|p| p.name == "latency" && p.default.as_deref() == Some("0s")) {
                s.global_params.insert("latency".into(), "5ms".into());
            }
            s
        })
        .collect()
}

/// The digest, events and end of `spec` split across two worker processes,
/// and the busiest instance's fuel.
fn on_workers(spec: &RunSpec, server: &RedisServer) -> (String, u64, String, Option<(u32, u64)>) {
    let settings = SplitSettings {
        url: server.url(),
        workers: 2,
        local_workers: 2,
        lookahead: None,
        worker_exe: PathBuf::from(TG_WASM),
    };
    let out = tempdir();
    let options =
        RunOptions { mode: Mode::Workers(settings), sync: SyncSetting::Redis(server.url()), ..RunOptions::new(&*out) };
    let finished = session::run(spec.clone(), &options).expect("the split run should start");
    let fuel = finished.summary.fuel.as_ref().map(|f| (f.instance, f.used));
    (finished.summary.digest, finished.summary.sim_events, finished.summary.end.to_string(), fuel)
}

#[test]
fn one_two_and_three_threads_and_two_workers_give_one_digest_for_every_case_with_a_lookahead() {
    let server = RedisServer::start();
    let (mut split, mut whole_only) = (Vec::new(), Vec::new());
    for plan_dir in PLANS {
        for s in small_cases(plan_dir) {
            let what = format!("{plan_dir} {} × {}", s.test_case, s.instance_count());
            let n = s.instance_count();
            let run = Run::prepare(s.clone(), n).unwrap_or_else(|e| panic!("{what}: {e}"));
            let one = run.execute(None, &SyncSetting::Embedded).unwrap_or_else(|e| panic!("{what}: {e}"));
            if n < 2 {
                whole_only.push(format!("{what} (one instance)"));
                continue;
            }
            let two = run.try_on_threads(on_threads(2), None).unwrap_or_else(|e| panic!("{what}: {e}"));
            if let netsim::RunEnd::SplitFailed(why) = &two.end {
                // Links faster than the lookahead.
                whole_only.push(format!("{what}: {why}"));
                continue;
            }
            split.push(what.clone());
            assert_eq!(one.end, two.end, "{what}: 2 threads");
            assert_eq!(one.digest, two.digest, "{what}: 2 threads");
            assert_eq!((one.events, one.trace_events), (two.events, two.trace_events), "{what}: 2 threads");
            assert_eq!(one.virtual_time, two.virtual_time, "{what}: 2 threads");
            let outcomes = |e: &tg_wasm::run::Execution| e.outcomes.iter().map(|o| o.outcome).collect::<Vec<_>>();
            assert_eq!(outcomes(&one), outcomes(&two), "{what}: 2 threads");
            // What an instance computes does not depend on where it runs: nor does the fuel it burns.
            let fuel = |e: &tg_wasm::run::Execution| e.records.iter().map(|r| r.fuel_used).collect::<Vec<_>>();
            assert_eq!(fuel(&one), fuel(&two), "{what}: 2 threads");
            if n >= 3 {
                let three = run.try_on_threads(on_threads(3), None).unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_eq!(one.digest, three.digest, "{what}: 3 threads");
                assert_eq!(one.events, three.events, "{what}: 3 threads");
            }
            let (digest, events, end, busiest) = on_workers(&s, &server);
            assert_eq!((&one.digest, one.events), (&digest, events), "{what}: 2 workers (ended {end})");
            let fuel = fuel(&one);
            let most = fuel.iter().copied().max().filter(|&u| u > 0);
            let first = most.map(|m| (fuel.iter().position(|&u| u == m).unwrap() as u32, m));
            assert_eq!(first, busiest, "{what}: 2 workers, the busiest instance's fuel");
        }
    }
    eprintln!("split on threads: {}\non one thread only:\n  {}", split.join(", "), whole_only.join("\n  "));
    // What certainly has a lookahead: sync only, shaped links.
    for expected in [
        "example sync × 4",
        "example barrier-storm × 4",
        "placebo ok × 4",
        "network ping-pong × 4",
        "network gridlock × 4",
        "network round-trips × 4",
        "network heartbeat × 4",
        "dht find-peers × 4",
        "tokio udp-ping × 4",
    ] {
        assert!(split.iter().any(|s| s == expected), "{expected} ran on threads: {split:?}\n{whole_only:?}");
    }
    assert_eq!(server.dbsize(), 0);
}

/// A fault a plan injects itself travels as a sync operation does, so a run
/// whose plan clogs a path, or crashes and restarts an instance, splits like
/// any other: one digest on one, two and three threads and on two workers.
#[test]
fn faults_a_plan_injects_itself_give_one_digest_on_threads_and_on_workers() {
    let server = RedisServer::start();
    for inject in ["clog", "crash"] {
        let mut s = RunSpec::single_group(plan("network"), "heartbeat", 3);
        s.sync_latency = LOOKAHEAD;
        s.global_params.insert("latency".into(), "5ms".into());
        s.global_params.insert("inject".into(), inject.into());
        let run = Run::prepare(s.clone(), 3).unwrap();
        let one = run.execute(None, &SyncSetting::Embedded).unwrap();
        assert_eq!(one.end, netsim::RunEnd::Completed, "{inject}");
        assert!(one.outcomes.iter().all(|o| o.outcome == tg_wasm::run::Outcome::Ok), "{inject}: {:?}", one.outcomes);
        for threads in [2, 3] {
            let split = run.try_on_threads(on_threads(threads), None).unwrap();
            assert_eq!(split.end, one.end, "{inject}: {threads} threads");
            assert_eq!((&split.digest, split.events), (&one.digest, one.events), "{inject}: {threads} threads");
        }
        let (digest, events, end, _) = on_workers(&s, &server);
        assert_eq!((&digest, events), (&one.digest, one.events), "{inject}: 2 workers (ended {end})");
    }
    assert_eq!(server.dbsize(), 0);
}

/// `tg-wasm run` with `args` in a fresh directory: exit code, stderr, summary.
fn tg_wasm(args: &[&str]) -> (Option<i32>, String, serde_json::Value) {
    let out = tempdir();
    let result = Command::new(TG_WASM).args(args).arg("--json").arg("--out").arg(&out).output().expect("tg-wasm");
    let summary = serde_json::from_slice(&result.stdout).unwrap_or(serde_json::Value::Null);
    (result.status.code(), String::from_utf8_lossy(&result.stderr).into_owned(), summary)
}

#[test]
fn a_run_that_cannot_use_threads_says_why_in_one_line_and_gives_the_one_thread_digest() {
    let example = plan("example").path;
    let network = plan("network").path;
    let (example, network) = (example.to_str().unwrap(), network.to_str().unwrap());
    let cases: [(&[&str], &str); 3] = [
        // No sync latency: no lookahead.
        (&["run", example, "-t", "sync", "-i", "4"], "the run has no lookahead"),
        // A window longer than the sync latency would let a sync operation arrive inside it.
        (
            &["run", example, "-t", "sync", "-i", "4", "--sync-latency", "1ms", "--lookahead", "5ms"],
            "--lookahead must be above zero and at most the sync latency (1ms), not 5ms",
        ),
        // Unshaped links are faster than the lookahead: found in the first window.
        (
            &["run", network, "-t", "ping-pong", "-i", "4", "--sync-latency", "1ms"],
            "sooner than the window of a split run allows",
        ),
    ];
    for (args, why) in cases {
        let (code, _, one) = tg_wasm(&[args, &["--threads", "1"][..]].concat());
        assert_eq!(code, Some(0), "{args:?}: {one}");
        let (code, stderr, two) = tg_wasm(&[args, &["--threads", "2"][..]].concat());
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{args:?}: one line, not {stderr:?}");
        // One line as cargo writes a warning: no timestamp, no module path.
        assert!(lines[0].starts_with("warning: --threads: ") && lines[0].contains(why), "{args:?}: {stderr}");
        assert_eq!(one["digest"], two["digest"], "{args:?}");
        assert_eq!(one["outcome"], "success", "{args:?}: {one}");
        // The machine's default says nothing of it, but for a --lookahead the user gave that cannot work.
        let (_, stderr, default) = tg_wasm(args);
        if args.contains(&"--lookahead") {
            assert!(stderr.trim().starts_with("warning: --lookahead: ") && stderr.contains(why), "{args:?}: {stderr}");
            assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        } else {
            assert_eq!(stderr.trim(), "", "{args:?}");
        }
        assert_eq!(default["digest"], one["digest"], "{args:?}");
    }
}

#[test]
fn a_large_run_left_on_one_core_for_want_of_a_lookahead_is_told_how_to_use_them_all() {
    let placebo = plan("placebo").path;
    let placebo = placebo.to_str().unwrap();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (code, stderr, _) = tg_wasm(&["run", placebo, "-i", "1000"]);
    assert_eq!(code, Some(0), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    if cores > 1 {
        assert_eq!(lines.len(), 1, "one line, not {stderr:?}");
        assert!(lines[0].contains(&format!("1000 instances run on one of {cores} cores")), "{stderr}");
        assert!(lines[0].contains("--sync-latency 1ms") && lines[0].contains("changes the run"), "{stderr}");
    } else {
        assert!(lines.is_empty(), "one core: nothing to say, not {stderr:?}");
    }
    // Smaller runs, runs with a lookahead, and runs whose threads were chosen are not told.
    for args in [
        &["run", placebo, "-i", "999"][..],
        &["run", placebo, "-i", "1000", "--sync-latency", "1ms"],
        &["run", placebo, "-i", "1000", "--threads", "1"],
    ] {
        let (code, stderr, _) = tg_wasm(args);
        assert_eq!(code, Some(0), "{args:?}: {stderr}");
        assert_eq!(stderr.trim(), "", "{args:?}");
    }
}

#[test]
fn threads_that_can_split_the_run_give_its_digest_from_the_command_line() {
    let network = plan("network").path;
    let run = ["run", network.to_str().unwrap(), "-t", "round-trips", "-i", "6", "-p", "rounds=3", "--sync-latency"];
    let digests: Vec<serde_json::Value> = ["1", "2", "3"]
        .iter()
        .map(|t| {
            let (code, stderr, summary) = tg_wasm(&[&run[..], &["10ms", "--threads", t]].concat());
            assert_eq!(code, Some(0), "{t} threads: {stderr}");
            assert_eq!(stderr.trim(), "", "{t} threads run split, silently");
            assert_eq!(summary["outcome"], "success", "{summary}");
            summary["digest"].clone()
        })
        .collect();
    assert!(digests.iter().all(|d| d == &digests[0] && d.is_string()), "{digests:?}");
    let (code, said, _) = tg_wasm(&[&run[..], &["10ms", "--threads", "0"]].concat());
    assert_eq!(code, Some(2));
    assert!(said.contains("--threads 0 runs nothing"), "{said}");
}

/// `--check-determinism` checks the run as it runs without it: on the threads
/// asked, every repetition alike, and a fall back to one thread said once.
#[test]
fn check_determinism_runs_every_repetition_on_the_threads_asked() {
    let network = plan("network").path;
    let network = network.to_str().unwrap();
    let split = ["run", network, "-t", "round-trips", "-i", "6", "-p", "rounds=3", "--sync-latency", "10ms"];
    let (_, _, one) = tg_wasm(&[&split[..], &["--threads", "1"]].concat());
    let (code, stderr, checked) = tg_wasm(&[&split[..], &["--threads", "2", "--check-determinism=3"]].concat());
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        stderr.trim(),
        format!("determinism check passed: 3 runs gave digest {}", one["digest"].as_str().unwrap())
    );
    assert_eq!(checked["digest"], one["digest"], "the summary is the first run's");
    // Unshaped links are faster than the lookahead: the first run falls back, the others start on one thread.
    let fast = ["run", network, "-t", "ping-pong", "-i", "4", "--sync-latency", "1ms", "--threads", "2"];
    let (code, stderr, _) = tg_wasm(&[&fast[..], &["--check-determinism=3"]].concat());
    assert_eq!(code, Some(0), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 2, "the fall back once, then the verdict: {stderr}");
    assert!(lines[0].contains("sooner than the window of a split run allows"), "{stderr}");
    assert!(lines[1].starts_with("determinism check passed: 3 runs"), "{stderr}");
}

#[test]
fn no_run_is_given_more_threads_than_one_process_uses() {
    let mut s = support::spec(plan("example"), "sync", 300, 0);
    s.sync_latency = LOOKAHEAD;
    let run = Run::prepare(s, 300).unwrap();
    let plan = tg_wasm::run::threads::plan_threads(&run, 100_000, None, &SyncSetting::Embedded).unwrap();
    assert_eq!(plan.threads, tg_wasm::run::threads::MAX_THREADS, "{plan:?}");

    // From the command line, asking for more is bad input, in one line.
    let example = plan_path("example");
    let args = ["run", &example, "-t", "sync", "-i", "300", "--sync-latency", "1ms", "--threads", "257"];
    let (code, stderr, _) = tg_wasm(&args);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--threads 257 is more than a run uses: at most 256"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[test]
fn workers_beyond_what_one_machine_starts_are_refused_before_redis_is_reached() {
    let example = plan_path("example");
    // Nothing listens on port 1: the refusal must come before the connection is tried.
    let sync = ["--sync-latency", "1ms", "--sync", "redis://127.0.0.1:1"];
    let args = [&["run", &example, "-t", "sync", "-i", "400", "--workers", "300"][..], &sync[..]].concat();
    let (code, stderr, _) = tg_wasm(&args);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--workers 300 would start 300 worker processes on this machine"), "{stderr}");
    assert!(stderr.contains("give --local-workers K"), "{stderr}");
    // Starting a few here and leaving the rest to other machines is what it asks for.
    let args =
        [&["run", &example, "-t", "sync", "-i", "400", "--workers", "300", "--local-workers", "2"][..], &sync[..]]
            .concat();
    let (code, stderr, _) = tg_wasm(&args);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("cannot reach Redis at 127.0.0.1:1"), "{stderr}");
}

fn plan_path(name: &str) -> String {
    plan(name).path.to_str().unwrap().to_string()
}
