//! Runs split across worker processes (`--workers`) coordinated through a real
//! Redis server: the digest, trace and outputs of the same run in one process,
//! more instances than one process may map, workers joining from elsewhere,
//! and clear errors for what cannot be split or a worker that dies.

#[path = "support/redis.rs"]
mod redis_server;
mod support;

use redis_server::RedisServer;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{TempDir, plan, spec, tempdir};
use tg_wasm::run::split::SplitSettings;
use tg_wasm::run::{Execution, RunSpec, RunSummary};
use tg_wasm::session::{self, Mode, RunOptions};
use tg_wasm::sync::SyncSetting;

const TG_WASM: &str = env!("CARGO_BIN_EXE_tg-wasm");

fn settings(server: &RedisServer, workers: u32) -> SplitSettings {
    SplitSettings {
        url: server.url(),
        workers,
        local_workers: workers,
        lookahead: None,
        worker_exe: PathBuf::from(TG_WASM),
    }
}

/// Runs `spec` split as `settings` say, through the session as `run --workers` does.
fn split_in(spec: &RunSpec, settings: &SplitSettings) -> Result<session::Finished, tg_wasm::error::Error> {
    let out = tempdir();
    let options = RunOptions {
        mode: Mode::Workers(settings.clone()),
        sync: SyncSetting::Redis(settings.url.clone()),
        ..RunOptions::new(&*out)
    };
    session::run(spec.clone(), &options)
}

fn split(spec: &RunSpec, settings: &SplitSettings) -> (RunSummary, Execution) {
    let finished = split_in(spec, settings).expect("the split run should start");
    (finished.summary, finished.execution)
}

fn with_sync_latency(mut s: RunSpec) -> RunSpec {
    s.sync_latency = Duration::from_millis(1);
    s
}

fn cases() -> Vec<RunSpec> {
    let mut ping_pong = spec(plan("network"), "ping-pong", 12, 3);
    ping_pong.global_params.insert("latency".into(), "5ms".into());
    [
        spec(plan("example"), "sync", 30, 0),
        spec(plan("example"), "pubsub-storm", 20, 1),
        spec(plan("example"), "barrier-storm", 40, 2),
        ping_pong,
    ]
    .into_iter()
    .map(with_sync_latency)
    .collect()
}

#[test]
fn example_and_network_give_one_digest_embedded_with_redis_and_with_three_workers() {
    let server = RedisServer::start();
    let redis = SyncSetting::Redis(server.url());
    for s in &cases() {
        let what = format!("{} × {}", s.test_case, s.instance_count());
        let (embedded, _) = support::run_with(s, &tempdir(), &SyncSetting::Embedded);
        let (with_redis, _) = support::run_with(s, &tempdir(), &redis);
        let (workers, _) = split(s, &settings(&server, 3));
        for summary in [&embedded, &with_redis, &workers] {
            assert!(summary.success(), "{what}: {}", summary.render());
        }
        assert_eq!(embedded.digest, with_redis.digest, "{what}: Redis sync");
        assert_eq!(embedded.digest, workers.digest, "{what}: three workers");
        assert_eq!((embedded.sim_events, embedded.trace_events), (workers.sim_events, workers.trace_events), "{what}");
        assert_eq!(embedded.virtual_time_ns, workers.virtual_time_ns, "{what}");
        assert_eq!(server.dbsize(), 0, "{what}: a finished run deletes its keys");
    }
}

#[test]
fn a_split_run_keeps_the_whole_runs_trace_outputs_and_metrics() {
    let server = RedisServer::start();
    let mut s = spec(plan("example"), "sync", 24, 9);
    s.sync_latency = Duration::from_millis(3);
    s.keep_trace = true;
    let (_, whole) = support::run_with(&s, &tempdir(), &SyncSetting::Embedded);
    let (_, parts) = split(&s, &settings(&server, 4));
    let (a, b) = (whole.trace.as_ref().unwrap(), parts.trace.as_ref().unwrap());
    if let Some(d) = netsim::first_divergence(a, b) {
        panic!("the traces differ at record {}: {:?} vs {:?}", d.index, d.left, d.right);
    }
    let outputs = |e: &Execution| e.records.iter().map(|r| (r.stdout.clone(), r.stderr.clone())).collect::<Vec<_>>();
    assert_eq!(outputs(&whole_again(&s)), outputs(&parts));
    assert_eq!(whole.metrics.len(), parts.metrics.len());
    assert!(!parts.metrics.is_empty());
    assert_eq!(whole.states, parts.states, "the sync timeline comes back from the replica");
}

fn whole_again(s: &RunSpec) -> Execution {
    support::run_with(s, &tempdir(), &SyncSetting::Embedded).1
}

#[test]
fn twenty_thousand_instances_complete_with_four_workers() {
    // One process may not map 20,000 instances under Linux's default vm.max_map_count
    // (65530); four processes of 5,000 each may.
    let server = RedisServer::start();
    let s = with_sync_latency(spec(plan("placebo"), "ok", 20_000, 0));
    let (summary, execution) = split(&s, &settings(&server, 4));
    assert!(summary.success(), "{}", summary.render());
    assert_eq!(execution.outcomes.iter().filter(|o| o.outcome == tg_wasm::run::Outcome::Ok).count(), 20_000);
    assert_eq!(server.dbsize(), 0);
}

#[test]
fn a_worker_started_elsewhere_claims_the_shard_left_for_it() {
    let server = RedisServer::start();
    let s = cases().pop().expect("ping-pong");
    let (embedded, _) = support::run_with(&s, &tempdir(), &SyncSetting::Embedded);
    // As on another machine: a worker that knows only the server.
    let mut remote = worker_elsewhere(&server);
    let mut settings = settings(&server, 2);
    settings.local_workers = 1;
    let (summary, _) = split(&s, &settings);
    assert_eq!(remote.wait().unwrap().code(), Some(0), "the remote worker ran its shard");
    assert_eq!(summary.digest, embedded.digest);
    assert_eq!(server.dbsize(), 0);
}

#[test]
fn a_worker_told_to_join_a_run_that_is_not_there_says_so_and_leaves_nothing_behind() {
    let server = RedisServer::start();
    let joined =
        Command::new(TG_WASM).args(["worker", "--sync", &server.url(), "--join", "nosuch/0"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&joined.stderr);
    assert_eq!(joined.status.code(), Some(2), "bad input: {stderr}");
    assert!(
        stderr.contains("run nosuch is not in Redis") && stderr.contains("check the worker's --sync URL"),
        "{stderr}"
    );
    assert_eq!(server.dbsize(), 0, "no report, no abort for a run nobody waits on");

    // A run that is there but unreadable (a coordinator of another version) is reported to it.
    for (key, value) in [("spec", "{}"), ("plan", "x"), ("count", "two")] {
        server.query::<()>(&["SET", &format!("tg:shard:other:{key}"), value]).unwrap();
    }
    let joined = Command::new(TG_WASM).args(["worker", "--sync", &server.url(), "--join", "other/0"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&joined.stderr);
    assert_eq!(joined.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("are the coordinator and the workers the same tg-wasm version?"), "{stderr}");
    let abort: Option<String> = server.query(&["GET", "tg:shard:other:abort"]).unwrap();
    assert!(abort.is_some_and(|a| a.contains("same tg-wasm version")), "the coordinator is told why");
}

fn tg_wasm(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(TG_WASM)
        .args(args)
        .arg("--out")
        .arg(&tempdir())
        .current_dir(support::plans_dir().join(".."))
        .output()
        .expect("running tg-wasm");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout))
}

#[test]
fn what_cannot_be_split_is_refused_saying_what_to_do() {
    let server = RedisServer::start();
    let url = server.url();
    let run = ["run", "plans/example.wasm", "-t", "sync", "-i", "4"];
    let cases: [(&[&str], &str); 5] = [
        (&["--workers", "2", "--sync-latency", "1ms"], "--workers needs a Redis server"),
        (&["--workers", "2", "--sync", &url], "--sync-latency 1ms"),
        (&["--workers", "5", "--sync", &url, "--sync-latency", "1ms"], "5 workers for 4 instances"),
        (
            &["--workers", "2", "--sync", &url, "--sync-latency", "1ms", "--lookahead", "2ms"],
            "at most the sync latency",
        ),
        (&["--workers", "2", "--local-workers", "3", "--sync", &url, "--sync-latency", "1ms"], "more than --workers"),
    ];
    for (extra, expected) in cases {
        let args: Vec<&str> = run.iter().chain(extra).copied().collect();
        let (code, said) = tg_wasm(&args);
        assert_eq!(code, Some(2), "{args:?}: {said}");
        assert!(said.contains(expected), "{args:?} should say {expected:?}: {said}");
    }
    assert_eq!(server.dbsize(), 0, "nothing was published");
}

#[test]
fn a_packet_faster_than_the_lookahead_stops_the_split_run_naming_it() {
    let server = RedisServer::start();
    // ping-pong's default links have no latency: instances on different workers cannot be kept in step.
    let s = with_sync_latency(spec(plan("network"), "ping-pong", 6, 0));
    let (summary, execution) = split(&s, &settings(&server, 3));
    assert_eq!(summary.end, "split-failed");
    let netsim::RunEnd::SplitFailed(why) = &execution.end else { panic!("{:?}", execution.end) };
    assert!(why.contains("a packet from instance") && why.contains("lookahead"), "{why}");
    assert_eq!(server.dbsize(), 0);
}

/// The pid of the worker process running shard `index` of a run on `port`, once it runs.
fn worker_pid(port: u16, index: u32) -> Option<u32> {
    let wanted = format!("127.0.0.1:{port}/0");
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let args: Vec<String> = cmdline.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        let joins = args.iter().any(|a| a.ends_with(&format!("/{index}")));
        if args.iter().any(|a| a == "worker") && args.iter().any(|a| a.contains(&wanted)) && joins {
            return Some(pid);
        }
    }
    None
}

#[test]
fn a_worker_killed_mid_run_ends_the_run_promptly_with_the_reason() {
    let server = RedisServer::start();
    let port = server.port;
    let mut s = with_sync_latency(spec(plan("example"), "barrier-storm", 30, 0));
    // Long enough that the run is still going when the worker dies.
    s.global_params.insert("barriers".into(), "1000000".into());
    let killer = std::thread::spawn(move || {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            if let Some(pid) = worker_pid(port, 1) {
                std::thread::sleep(Duration::from_millis(1500));
                Command::new("kill").args(["-9", &pid.to_string()]).status().expect("kill");
                return Some(Instant::now());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    });
    let Err(err) = split_in(&s, &settings(&server, 2)) else { panic!("the run cannot finish") };
    let ended = Instant::now();
    let killed = killer.join().unwrap().expect("the worker was found and killed");
    assert!(ended.duration_since(killed) < Duration::from_secs(10), "ended {:?} after the kill", ended - killed);
    let msg = err.to_string();
    assert!(msg.contains("worker 1 ended") && msg.contains("without sending its results"), "{msg}");
    assert_eq!(server.dbsize(), 0, "the run's keys are deleted");
}

#[test]
fn two_split_runs_sharing_one_redis_do_not_interfere() {
    let server = RedisServer::start();
    let s = with_sync_latency(spec(plan("example"), "sync", 40, 5));
    let (embedded, _) = support::run_with(&s, &tempdir(), &SyncSetting::Embedded);
    // The same inputs, so the same run id: only the per-run nonce keeps their keys apart.
    let digests: Vec<String> = std::thread::scope(|scope| {
        let runs: Vec<_> = (0..2).map(|_| scope.spawn(|| split(&s, &settings(&server, 2)).0.digest)).collect();
        runs.into_iter().map(|r| r.join().expect("run thread")).collect()
    });
    assert_eq!(digests, vec![embedded.digest.clone(), embedded.digest]);
    assert_eq!(server.dbsize(), 0);
}

/// A `tg-wasm worker` that knows only the server, as one on another machine.
fn worker_elsewhere(server: &RedisServer) -> std::process::Child {
    Command::new(TG_WASM)
        .args(["worker", "--sync", &server.url(), "--wait", "60s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting a worker")
}

/// Waits until both shards of a run on `server` have traded a window.
fn wait_until_windows_traded(server: &RedisServer) {
    let started = Instant::now();
    while server.query::<Vec<String>>(&["KEYS", "tg:shard:*:held-id:*"]).map_or(true, |k| k.len() < 2) {
        assert!(started.elapsed() < Duration::from_secs(120), "the workers never exchanged a window");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `tg-wasm run` of a `barrier-storm` that does not end on its own (20
/// instances, 2 workers, `local_workers` of them started by the run), into
/// `dir`; its standard output is discarded and its standard error piped.
fn endless_split_command(server: &RedisServer, local_workers: u32, dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(TG_WASM);
    cmd.args(["run", "plans/example.wasm", "-t", "barrier-storm", "-i", "20", "-p", "barriers=1000000"])
        .args(["--sync-latency", "1ms", "--sync", &server.url(), "--workers", "2", "--local-workers"])
        .arg(local_workers.to_string())
        .arg("-o")
        .arg(dir)
        .current_dir(support::plans_dir().join(".."))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// A worker elsewhere killed outright tells nobody: the run notices its
/// heartbeat stopped, within seconds rather than the peers' ten minutes, and
/// ends naming the shard.
#[test]
fn a_worker_elsewhere_killed_outright_ends_the_run_within_seconds_naming_its_shard() {
    let server = RedisServer::start();
    let dir = tempdir();
    let run = endless_split_command(&server, 1, &dir).spawn().unwrap();
    let mut remote = worker_elsewhere(&server);
    wait_until_windows_traded(&server);
    remote.kill().unwrap();
    remote.wait().unwrap();
    let killed = Instant::now();
    let out = run.wait_with_output().unwrap();
    let took = killed.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("shard 1") && stderr.contains("stopped its heartbeat"), "{stderr}");
    assert!(took < Duration::from_secs(30), "noticed {took:?} after the kill");
    eprintln!("the run ended {took:?} after its worker elsewhere was killed");
    assert_eq!(server.dbsize(), 0, "the run's keys are deleted");
}

/// A coordinator that starts no worker of its own (as a Kubernetes Job would)
/// killed outright: its workers elsewhere see its heartbeat stop and end the
/// run instead of computing, for nobody, a run that might never end.
#[test]
fn workers_elsewhere_stop_within_seconds_of_losing_their_coordinator() {
    let server = RedisServer::start();
    let dir = tempdir();
    let mut run = endless_split_command(&server, 0, &dir).stderr(Stdio::null()).spawn().unwrap();
    let mut workers = [worker_elsewhere(&server), worker_elsewhere(&server)];
    wait_until_windows_traded(&server);
    run.kill().unwrap();
    run.wait().unwrap();
    let killed = Instant::now();
    for worker in &mut workers {
        let code = worker.wait().unwrap().code();
        assert_ne!(code, Some(0), "a run cut short is no success");
    }
    let took = killed.elapsed();
    eprintln!("the workers stopped {took:?} after their coordinator was killed");
    assert!(took < Duration::from_secs(30), "the workers ran on for {took:?}");
    let abort: Option<String> = server.query(&["GET", &abort_key(&server)]).unwrap();
    assert!(abort.is_some_and(|r| r.contains("stopped its heartbeat")), "the reason is recorded for the run");
}

/// The abort key of the one run on `server`.
fn abort_key(server: &RedisServer) -> String {
    let keys: Vec<String> = server.query(&["KEYS", "tg:shard:*:abort"]).unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    keys.into_iter().next().unwrap()
}

/// Runs barrier-storm split in two from the command line (one shard left for a
/// `tg-wasm worker` started as if elsewhere, if `remote`), kills Redis once the
/// workers traded windows, and returns the exit code, standard output and
/// error, the run directory, the server's port and how long after the kill the run ended.
fn lose_redis_mid_split_run(remote: bool) -> (Option<i32>, String, String, TempDir, u16, Duration) {
    let mut server = RedisServer::start();
    let dir = tempdir();
    let child =
        endless_split_command(&server, if remote { 1 } else { 2 }, &dir).stdout(Stdio::piped()).spawn().unwrap();
    let elsewhere = remote.then(|| worker_elsewhere(&server));
    wait_until_windows_traded(&server);
    std::thread::sleep(Duration::from_millis(500));
    server.kill();
    let killed = Instant::now();
    let out = child.wait_with_output().unwrap();
    let took = killed.elapsed();
    if let Some(mut worker) = elsewhere {
        assert_ne!(worker.wait().unwrap().code(), Some(0), "the worker elsewhere could not send its results");
    }
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr), dir, server.port, took)
}

/// The workers' results travel through Redis; local workers that cannot store
/// theirs send them on their pipes, so the run directory has every instance,
/// each crashed naming the server, and the run exits 1 as one that failed.
#[test]
fn losing_redis_mid_run_ends_a_split_run_within_seconds_with_every_local_workers_results() {
    let (code, stdout, stderr, dir, port, took) = lose_redis_mid_split_run(false);
    assert!(took < Duration::from_secs(20), "ended {took:?} after the kill");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("the workers sent their results on their pipes"), "{stderr}");
    assert!(stdout.contains("trace digest") && !stdout.contains("not the run's"), "every shard's records: {stdout}");
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    assert!(summary.get("partial_digest").is_none(), "{summary}");
    assert_eq!(summary["end"], "split-failed", "{summary}");
    let outcomes = std::fs::read_to_string(dir.join("outcomes.jsonl")).unwrap();
    assert_eq!(outcomes.lines().count(), 20, "every worker's instances: {outcomes}");
    for line in outcomes.lines() {
        assert!(line.contains(&format!("Redis at 127.0.0.1:{port}")), "the reason names the server: {line}");
    }
}

/// A shard run elsewhere has no pipe to the run: without Redis its results are
/// lost. The run keeps the local worker's, lists the lost shard's instances
/// as crashed naming the loss, and says the run directory is incomplete.
#[test]
fn losing_redis_with_a_shard_run_elsewhere_keeps_the_others_results_and_names_the_lost_shard() {
    let (code, stdout, stderr, dir, port, took) = lose_redis_mid_split_run(true);
    assert!(took < Duration::from_secs(30), "ended {took:?} after the kill");
    assert_eq!(code, Some(3), "{stderr}");
    // The digest leaves the lost shard out: not one to compare with the run's.
    let digest = stdout.lines().find(|l| l.starts_with("trace digest")).unwrap_or_default();
    assert!(digest.ends_with("without the shards never heard from, so not the run's)"), "{stdout}");
    let server = format!("Redis at 127.0.0.1:{port}");
    assert!(stderr.contains("is incomplete: the results of shard(s) [1] were lost with Redis"), "{stderr}");
    assert!(stderr.contains(&server), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["end"], "split-failed", "{summary}");
    assert_eq!(summary["partial_digest"], true, "{summary}");
    assert!(summary["incomplete"].as_str().is_some_and(|why| why.contains("shard(s) [1]")), "{summary}");
    let outcomes: Vec<serde_json::Value> = std::fs::read_to_string(dir.join("outcomes.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(outcomes.len(), 20, "every instance, the lost shard's too");
    let reason = |o: &serde_json::Value| o["reason"].as_str().unwrap_or("").to_string();
    // Shard 0 ran here: its worker's own account, naming the server.
    for o in &outcomes[..10] {
        assert!(reason(o).contains(&server) && !reason(o).contains("unknown"), "{o}");
    }
    for o in &outcomes[10..] {
        assert_eq!(o["outcome"], "crashed", "{o}");
        assert!(reason(o).starts_with("what it did is unknown: the results of shard(s) [1] were lost"), "{o}");
        assert!(reason(o).contains(&server), "{o}");
    }
    let page = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(page.contains("id=\"incomplete\"") && page.contains("the results of shard(s) [1] were lost"), "{page}");
    // Nothing reads an incomplete directory back as if it were whole.
    let replay = Command::new(TG_WASM).arg("replay").arg(&dir).output().unwrap();
    assert_eq!(replay.status.code(), Some(2), "{}", String::from_utf8_lossy(&replay.stderr));
    assert!(String::from_utf8_lossy(&replay.stderr).contains("is incomplete"));
}

/// A server restarted empty mid-run has lost the frames in flight: every shard
/// finds the run's keys gone at its next window and the run ends as
/// `sync-failed` naming Redis, with every worker's instances, not a hang.
#[test]
fn a_redis_restarted_empty_mid_split_run_ends_it_as_sync_failed_naming_redis() {
    let server = std::sync::Arc::new(std::sync::Mutex::new(RedisServer::start()));
    let (url, port) = {
        let s = server.lock().unwrap();
        (s.url(), s.port)
    };
    let mut s = with_sync_latency(spec(plan("example"), "barrier-storm", 20, 0));
    s.global_params.insert("barriers".into(), "1000000".into());
    let restarter = {
        let server = server.clone();
        std::thread::spawn(move || {
            let started = Instant::now();
            while server.lock().unwrap().query::<Vec<String>>(&["KEYS", "tg:shard:*:held-id:*"]).unwrap().len() < 2 {
                assert!(started.elapsed() < Duration::from_secs(120), "the workers never exchanged a window");
                std::thread::sleep(Duration::from_millis(20));
            }
            std::thread::sleep(Duration::from_millis(500));
            server.lock().unwrap().restart_empty();
        })
    };
    let settings =
        SplitSettings { url, workers: 2, local_workers: 2, lookahead: None, worker_exe: PathBuf::from(TG_WASM) };
    let finished = split_in(&s, &settings);
    restarter.join().unwrap();
    let finished = finished.expect("the workers report what they have");
    assert_eq!(finished.summary.end, "sync-failed", "{}", finished.summary.render());
    assert_eq!(finished.execution.outcomes.len(), 20);
    for o in &finished.execution.outcomes {
        let reason = o.reason.as_deref().unwrap_or("");
        assert!(reason.contains(&format!("Redis at 127.0.0.1:{port}")), "{reason}");
    }
}

/// Runs a heartbeat composition (instance 0 beats to two receivers over 5 ms links) with
/// `events` and `inject`, split across `workers` if given; returns the summary as JSON.
fn heartbeat(server: &RedisServer, events: &str, inject: &str, workers: Option<u32>) -> serde_json::Value {
    let network = plan("network");
    let dir = tempdir();
    let file = dir.join("heartbeat.toml");
    std::fs::write(
        &file,
        format!(
            "[global]\nplan = {:?}\ncase = \"heartbeat\"\nparams = {{ latency = \"5ms\", inject = {inject:?} }}\n\
             [[groups]]\nid = \"sender\"\ninstances = {{ count = 1 }}\n\
             [[groups]]\nid = \"receivers\"\ninstances = {{ count = 2 }}\n{events}",
            network.path
        ),
    )
    .unwrap();
    let mut cmd = Command::new(TG_WASM);
    cmd.args(["run", "-c", file.to_str().unwrap(), "--json", "--sync-latency", "1ms", "-o"]).arg(dir.join("run"));
    if let Some(w) = workers {
        cmd.args(["--sync", &server.url(), "--workers", &w.to_string()]);
    }
    let out = cmd.output().unwrap();
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("no summary; stderr: {}", String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn a_composition_timeline_of_faults_gives_the_one_process_digest_split() {
    let server = RedisServer::start();
    let timeline = "[[events]]\nat = \"500ms\"\naction = \"partition\"\ngroups = [\"sender\", \"receivers\"]\n\
                    [[events]]\nat = \"900ms\"\naction = \"heal\"\ngroups = [\"sender\", \"receivers\"]\n\
                    [[events]]\nat = \"1s\"\naction = \"clog\"\ngroups = [\"sender\", \"receivers\"]\n\
                    [[events]]\nat = \"1300ms\"\naction = \"release\"\ngroups = [\"sender\", \"receivers\"]\n\
                    [[events]]\nat = \"1500ms\"\naction = \"crash\"\ninstances = [2]\n\
                    [[events]]\nat = \"1800ms\"\naction = \"restart\"\ninstances = [2]\n";
    let whole = heartbeat(&server, timeline, "none", None);
    assert_eq!(whole["outcome"], "success", "{whole}");
    assert_ne!(heartbeat(&server, "", "none", None)["digest"], whole["digest"], "the faults changed the run");
    for workers in [2, 3] {
        let split = heartbeat(&server, timeline, "none", Some(workers));
        assert_eq!(split["digest"], whole["digest"], "{workers} workers: {split}");
        assert_eq!(split["sim_events"], whole["sim_events"]);
    }
}

/// A fault a plan injects itself reaches every worker as a sync operation
/// does, and so does an address it moves: one process's digest either way.
#[test]
fn faults_a_plan_injects_itself_give_the_one_process_digest_split() {
    let server = RedisServer::start();
    for inject in ["clog", "crash"] {
        let whole = heartbeat(&server, "", inject, None);
        assert_eq!(whole["outcome"], "success", "{whole}");
        assert_ne!(heartbeat(&server, "", "none", None)["digest"], whole["digest"], "{inject} changed the run");
        for workers in [2, 3] {
            let split = heartbeat(&server, "", inject, Some(workers));
            assert_eq!((&split["digest"], &split["sim_events"]), (&whole["digest"], &whole["sim_events"]), "{inject}");
        }
    }
}

/// `chosen-address` (instance 0 moves to 16.0.7.7, instance 1 reaches it
/// there and tries to take it too) over 5 ms region paths, with `how` to
/// split it; returns the summary and what instance 1 recorded.
fn moving_address(server: &RedisServer, how: &[&str]) -> (serde_json::Value, String) {
    let dir = tempdir();
    let file = dir.join("moving.toml");
    std::fs::write(
        &file,
        format!(
            "[global]\nplan = {:?}\ncase = \"chosen-address\"\n\
             [[network.regions]]\nname = \"here\"\nlatency = [\"5ms\"]\n\
             [[groups]]\nid = \"single\"\ninstances = {{ count = 2 }}\nnetwork = {{ region = \"here\" }}\n",
            plan("network").path
        ),
    )
    .unwrap();
    let out = Command::new(TG_WASM)
        .args(["run", "-c", file.to_str().unwrap(), "--json", "--sync-latency", "1ms", "--sync", &server.url()])
        .args(how)
        .arg("-o")
        .arg(dir.join("run"))
        .output()
        .unwrap();
    let summary = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("no summary; stderr: {}", String::from_utf8_lossy(&out.stderr)));
    (summary, std::fs::read_to_string(dir.join("run/instances/1/messages.log")).unwrap())
}

/// An address a plan moves reaches every shard after the sync latency, so a
/// run that moves one splits like any other; taking an address another shard's
/// instance holds is refused there as it is in one process.
#[test]
fn an_address_a_plan_moves_itself_gives_the_one_process_digest_split() {
    let server = RedisServer::start();
    let (whole, messages) = moving_address(&server, &["--threads", "1"]);
    assert_eq!(whole["outcome"], "success", "{whole}");
    assert!(messages.contains("connected by name to 16.0.7.7:7300"), "{messages}");
    assert!(messages.contains("taking 16.0.7.7: address: 16.0.7.7 is taken by instance 0"), "{messages}");
    for how in [&["--threads", "2"][..], &["--workers", "2"]] {
        let (split, moved) = moving_address(&server, how);
        assert_eq!((&split["digest"], &split["sim_events"]), (&whole["digest"], &whole["sim_events"]), "{how:?}");
        assert_eq!(moved, messages, "{how:?}");
    }
}

/// A split `barrier-storm` run of 20 instances on 2 workers that does not end
/// on its own, started as a command; returns it, its run directory and the
/// workers' pids once both run their shards.
fn endless_split_run(server: &RedisServer, own_group: bool) -> (std::process::Child, TempDir, [u32; 2]) {
    use std::os::unix::process::CommandExt as _;
    let dir = tempdir();
    let mut cmd = endless_split_command(server, 2, &dir);
    cmd.stderr(Stdio::null());
    if own_group {
        // As a terminal's foreground job: Ctrl-C reaches the workers too.
        cmd.process_group(0);
    }
    let child = cmd.spawn().unwrap();
    let started = Instant::now();
    let pids = loop {
        if let (Some(a), Some(b)) = (worker_pid(server.port, 0), worker_pid(server.port, 1)) {
            break [a, b];
        }
        assert!(started.elapsed() < Duration::from_secs(120), "the workers did not start");
        std::thread::sleep(Duration::from_millis(20));
    };
    // Wait until the run has made progress (a barrier passed), so the workers are in their shards.
    let started = Instant::now();
    while server.query::<Vec<String>>(&["KEYS", "tg:shard:*:held-id:*"]).map_or(true, |k| k.is_empty()) {
        assert!(started.elapsed() < Duration::from_secs(120), "the workers never exchanged a window");
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, dir, pids)
}

/// Whether process `pid` is still a live `tg-wasm worker` (not a zombie, not reused).
fn worker_alive(pid: u32) -> bool {
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else { return false };
    cmdline.split(|b| *b == 0).any(|a| a == b"worker")
}

/// Waits up to `limit` for every pid in `pids` to be gone; returns how long it took, if they went.
fn gone_within(pids: &[u32], limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if pids.iter().all(|&p| !worker_alive(p)) {
            return Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

/// The run directory's summary, after an interrupted split run: every
/// worker's instances are in it, ended by the interrupt.
#[track_caller]
fn assert_interrupted_with_every_instance(dir: &std::path::Path) {
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["end"], "interrupted");
    // Instances still waiting when the interrupt stopped the run are stalled; any other ended.
    let g = &summary["groups"][0];
    let stopped = g["crashed"].as_u64().unwrap() + g["stalled"].as_u64().unwrap();
    assert_eq!(stopped, 20, "every worker's instances are accounted for: {summary}");
    assert!(summary.get("incomplete").is_none_or(serde_json::Value::is_null), "{summary}");
}

#[test]
fn ctrl_c_ends_a_split_run_with_exit_130_and_every_workers_results() {
    let server = RedisServer::start();
    let (mut child, dir, pids) = endless_split_run(&server, true);
    let group = format!("-{}", child.id());
    assert!(Command::new("kill").args(["-INT", "--", &group]).status().unwrap().success());
    assert_eq!(child.wait().unwrap().code(), Some(130));
    assert_interrupted_with_every_instance(&dir);
    assert!(gone_within(&pids, Duration::from_secs(2)).is_some(), "a worker outlived the run");
    assert_eq!(server.dbsize(), 0);
}

/// A supervisor (systemd, Kubernetes, a CI runner) signals the coordinator
/// only: it forwards the stop to its workers and still writes every worker's
/// instances, then exits 130; no worker is left behind.
#[test]
fn sigint_or_sigterm_to_the_coordinator_alone_is_forwarded_to_its_workers() {
    let server = RedisServer::start();
    for signal in ["-INT", "-TERM"] {
        let (mut child, dir, pids) = endless_split_run(&server, false);
        assert!(Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap().success());
        assert_eq!(child.wait().unwrap().code(), Some(130), "{signal}");
        assert_interrupted_with_every_instance(&dir);
        assert!(gone_within(&pids, Duration::from_secs(2)).is_some(), "{signal}: a worker outlived the run");
        assert_eq!(server.dbsize(), 0, "{signal}");
    }
}

/// Ctrl-C while a shard waits for a worker elsewhere: no result can be merged,
/// so the run ends at once saying so, and no worker claims the shard later.
#[test]
fn ctrl_c_with_a_shard_no_worker_claimed_ends_at_once_and_withdraws_it() {
    let server = RedisServer::start();
    let dir = tempdir();
    let child = endless_split_command(&server, 1, &dir).spawn().unwrap();
    let started = Instant::now();
    while worker_pid(server.port, 0).is_none() || server.query::<u64>(&["LLEN", "tg:shard:queue"]).unwrap_or(0) == 0 {
        assert!(started.elapsed() < Duration::from_secs(120), "the run did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted while 1 of 2 shards still waited for a `tg-wasm worker`"), "{stderr}");
    assert_eq!(server.dbsize(), 0, "the unclaimed shard's ticket is withdrawn");
}

/// A coordinator killed outright leaves no worker running its shard for nobody.
#[test]
fn workers_stop_within_a_second_of_losing_their_coordinator() {
    let server = RedisServer::start();
    let (mut child, _dir, pids) = endless_split_run(&server, false);
    assert!(Command::new("kill").args(["-KILL", &child.id().to_string()]).status().unwrap().success());
    child.wait().unwrap();
    let took = gone_within(&pids, Duration::from_secs(2)).expect("the workers outlived their coordinator by 2 s");
    // The pipe's end is seen at once; an abort in Redis (one try, 300 ms at most) comes before exiting.
    eprintln!("the workers were gone {took:?} after their coordinator");
}

/// A run spec from composition `text` on `plan`, with 1 ms of sync latency.
fn composed(text: &str, plan: tg_wasm::component::PlanComponent) -> RunSpec {
    let c = tg_wasm::composition::parse(text, std::path::Path::new("/")).expect("a valid composition");
    with_sync_latency(RunSpec {
        groups: c.groups,
        global_params: c.global_params,
        network: c.network,
        ..RunSpec::single_group(plan, &c.case, 1)
    })
}

/// Regions, per-instance NATs, inbound filters and group subnets are fixed
/// before the run or belong to one instance: a split run lays them out as one
/// process does, to the event.
#[test]
fn network_layouts_split_across_workers_give_the_one_process_digest() {
    let server = RedisServer::start();
    let regions =
        std::fs::read_to_string(support::plans_dir().join("network/compositions/cloud-regions.toml")).unwrap();
    let punch = "[global]\nplan = \"p\"\ncase = \"punch-udp\"\n\
                 [[network.regions]]\nname = \"internet\"\nlatency = [\"10ms\"]\n\
                 [[groups]]\nid = \"observer\"\ninstances = { count = 1 }\nnetwork = { region = \"internet\", subnet = \"16.7.0.0/24\" }\n\
                 [[groups]]\nid = \"cone\"\ninstances = { count = 1 }\nnetwork = { region = \"internet\", nat = { type = \"full-cone\" } }\n\
                 [[groups]]\nid = \"sym\"\ninstances = { count = 1 }\nnetwork = { region = \"internet\", nat = { type = \"symmetric\" } }\n\
                 [[groups]]\nid = \"restricted\"\ninstances = { count = 1 }\nnetwork = { region = \"internet\", nat = { type = \"restricted-cone\" } }\n\
                 [[groups]]\nid = \"guarded\"\ninstances = { count = 1 }\nnetwork = { region = \"internet\", nat = { type = \"symmetric\" }, inbound = \"drop\" }\n";
    // Within a region a packet takes 0.5 ms, less than the sync latency: the windows are shorter.
    let cases = [
        (composed(&regions, plan("network")), 3, Some(Duration::from_micros(400))),
        (composed(punch, plan("nat")), 2, None),
    ];
    for (s, workers, lookahead) in &cases {
        let (whole, _) = support::run_with(s, &tempdir(), &SyncSetting::Embedded);
        let split_settings = SplitSettings { lookahead: *lookahead, ..settings(&server, *workers) };
        let (parts, _) = split(s, &split_settings);
        assert!(whole.success(), "{}: {}", s.test_case, whole.render());
        assert!(parts.success(), "{}: {}", s.test_case, parts.render());
        assert_eq!(whole.digest, parts.digest, "{} with {workers} workers", s.test_case);
        assert_eq!(whole.sim_events, parts.sim_events, "{}", s.test_case);
    }
}

#[test]
fn what_the_network_cannot_split_is_refused_saying_why() {
    let server = RedisServer::start();
    let shared = "[global]\nplan = \"p\"\ncase = \"punch-udp\"\n\
                  [[groups]]\nid = \"observer\"\ninstances = { count = 1 }\n\
                  [[groups]]\nid = \"office\"\ninstances = { count = 2 }\nnetwork = { nat = { type = \"full-cone\", shared = true } }\n";
    let Err(err) = split_in(&composed(shared, plan("nat")), &settings(&server, 2)) else {
        panic!("a run with a shared NAT was split");
    };
    let said = err.to_string();
    assert!(said.contains("group \"office\": a NAT shared by a group cannot be split across workers"), "{said}");
    assert!(said.contains("nat.shared = false"), "it says what to do instead: {said}");
}

/// A worker left behind by an upgrade refuses a run another tg-wasm version
/// published, naming both, instead of computing a shard that may differ; the
/// run hears why from its result.
#[test]
fn a_worker_refuses_a_run_published_by_another_tg_wasm_version() {
    use tg_wasm::shard::JobBoard;
    use tg_wasm::sync::redis::RetryPolicy;
    let server = RedisServer::start();
    let mut board = JobBoard::connect(&server.url(), RetryPolicy::default()).unwrap();
    let ours = env!("CARGO_PKG_VERSION");
    for (run, published_by) in
        [("777777777777-0000000000000001", Some("0.7.0")), ("777777777777-0000000000000002", None)]
    {
        let mut inputs = serde_json::json!({"run_json": "{}", "lookahead_ns": 1_000_000, "keep_trace": false});
        if let Some(v) = published_by {
            inputs["tg_wasm_version"] = v.into();
        }
        board.publish_run(run, 2, inputs.to_string().as_bytes(), b"\0asm", 1).unwrap();
        let out = Command::new(TG_WASM).args(["worker", "--sync", &server.url(), "--wait", "10s"]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "bad input: {stderr}");
        let theirs = published_by.unwrap_or("older than 0.8.0");
        let expected = format!("run {run} was published by tg-wasm {theirs}, and this worker is tg-wasm {ours}");
        assert!(stderr.contains(&expected), "{stderr}");
        let report: Option<Vec<u8>> = server.query(&["GET", &format!("tg:shard:{run}:result:1")]).unwrap();
        let report = String::from_utf8(report.expect("the worker reported")).unwrap();
        assert!(report.contains(&expected) && report.contains("\"bad_input\":true"), "{report}");
        board.cleanup(run).unwrap();
    }
    assert_eq!(server.dbsize(), 0);
}
