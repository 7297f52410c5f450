//! Fault injection from a composition timeline: partition then heal, clog
//! then release, crash then restart — each behaves as specified and replays
//! to the same digest.

mod support;

use std::path::Path;
use std::process::Command;
use support::{TempDir, plan, tempdir};

/// Writes a heartbeat composition (one sender, two receivers) with `events`, runs it, and
/// returns the run directory and the beats instance 1 logged as (beat, arrival ms).
fn heartbeat_run(events: &str) -> (TempDir, Vec<(u32, u64)>, serde_json::Value) {
    let network = plan("network");
    let dir = tempdir();
    let file = dir.join("faults.toml");
    std::fs::write(
        &file,
        format!(
            "[global]\nplan = {:?}\ncase = \"heartbeat\"\n[[groups]]\nid = \"sender\"\ninstances = {{ count = 1 }}\n\
             [[groups]]\nid = \"receivers\"\ninstances = {{ count = 2 }}\n{events}",
            network.path
        ),
    )
    .unwrap();
    let out = tempdir();
    let run = Command::new(env!("CARGO_BIN_EXE_tg-wasm"))
        .args(["run", "-c", file.to_str().unwrap(), "--json", "-o", out.to_str().unwrap()])
        .output()
        .unwrap();
    let summary: serde_json::Value = serde_json::from_slice(&run.stdout)
        .unwrap_or_else(|_| panic!("no summary; stderr: {}", String::from_utf8_lossy(&run.stderr)));
    let log = std::fs::read_to_string(out.join("instances/1/stdout.log")).unwrap();
    let beats = log
        .lines()
        .filter_map(|l| l.strip_prefix("beat "))
        .map(|l| {
            let (beat, at) = l.split_once(" at ").unwrap();
            (beat.parse().unwrap(), at.trim_end_matches("ms").parse().unwrap())
        })
        .collect();
    (out, beats, summary)
}

fn assert_replays(dir: &Path) {
    let out = Command::new(env!("CARGO_BIN_EXE_tg-wasm")).args(["replay", dir.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "replay: {}", String::from_utf8_lossy(&out.stdout));
}

fn events(action_pairs: &[(&str, &str)]) -> String {
    action_pairs
        .iter()
        .map(|(at, action)| {
            format!("[[events]]\nat = \"{at}\"\naction = \"{action}\"\ngroups = [\"sender\", \"receivers\"]\n")
        })
        .collect()
}

#[test]
fn partition_then_heal_drops_exactly_the_beats_sent_in_between() {
    let (dir, beats, summary) = heartbeat_run(&events(&[("1s", "partition"), ("2s", "heal")]));
    assert_eq!(summary["outcome"], "success");
    let numbers: Vec<u32> = beats.iter().map(|b| b.0).collect();
    // Beats go out every 100 ms; a fault at t lands after what instances do at t,
    // so beat 10 (1000 ms) passes and beat 20 (2000 ms) is dropped.
    let expected: Vec<u32> = (0..=10).chain(21..30).collect();
    assert_eq!(numbers, expected);
    assert_replays(&dir);
}

#[test]
fn clog_then_release_delays_without_losing() {
    let (dir, beats, summary) = heartbeat_run(&events(&[("1s", "clog"), ("2s", "release")]));
    assert_eq!(summary["outcome"], "success");
    assert_eq!(beats.iter().map(|b| b.0).collect::<Vec<_>>(), (0..30).collect::<Vec<_>>(), "nothing lost, order kept");
    // The receiver polls every millisecond, so it logs a beat within 1 ms of its arrival.
    // Beats sent while clogged (11..=20) are held and all arrive together at the release.
    for &(beat, at) in &beats {
        let arrival = if (11..=20).contains(&beat) { 2000 } else { u64::from(beat) * 100 };
        assert!((arrival..=arrival + 1).contains(&at), "beat {beat} logged at {at} ms, arrival due {arrival} ms");
    }
    let held: Vec<u64> = beats.iter().filter(|b| (11..=20).contains(&b.0)).map(|b| b.1).collect();
    assert!(held.iter().all(|&t| t == held[0]), "held beats arrive together: {held:?}");
    assert_replays(&dir);
}

#[test]
fn crash_then_restart_runs_the_instance_again() {
    let timeline = "[[events]]\nat = \"1s\"\naction = \"crash\"\ninstances = [1]\n\
                    [[events]]\nat = \"1500ms\"\naction = \"restart\"\ninstances = [1]\n";
    let (dir, beats, summary) = heartbeat_run(timeline);
    // The restarted instance finishes its test case, so the run succeeds.
    assert_eq!(summary["outcome"], "success", "{summary}");
    let log = std::fs::read_to_string(dir.join("instances/1/stdout.log")).unwrap();
    assert_eq!(log.matches("started at").count(), 2, "one start, then one restart:\n{log}");
    // Before the crash: beats 0..=10 (beat 10 at 1000 ms precedes the crash); after the restart
    // at 1.5 s, beats from 1600 ms on (the one at 1500 ms found no socket yet).
    let numbers: Vec<u32> = beats.iter().map(|b| b.0).collect();
    let expected: Vec<u32> = (0..=10).chain(16..30).collect();
    assert_eq!(numbers, expected);
    // Instance 2 was never touched.
    let other = std::fs::read_to_string(dir.join("instances/2/stdout.log")).unwrap();
    assert_eq!(other.matches("beat ").count(), 30);
    assert_replays(&dir);
}

#[test]
fn restarting_a_running_instance_crashes_it_and_starts_it_again() {
    // It used to do nothing, silently: only a crashed or finished instance was restarted.
    let restart = "[[events]]\nat = \"1s\"\naction = \"restart\"\ninstances = [1]\n";
    let crash_and_restart = "[[events]]\nat = \"1s\"\naction = \"crash\"\ninstances = [1]\n\
                             [[events]]\nat = \"1s\"\naction = \"restart\"\ninstances = [1]\n";
    let (dir, restarted, summary) = heartbeat_run(restart);
    assert_eq!(summary["outcome"], "success", "{summary}");
    let log = std::fs::read_to_string(dir.join("instances/1/stdout.log")).unwrap();
    assert_eq!(log.matches("started at").count(), 2, "one start, then one restart:\n{log}");
    let (_, crashed, _) = heartbeat_run(crash_and_restart);
    let beats = |b: &[(u32, u64)]| b.iter().map(|b| b.0).collect::<Vec<_>>();
    assert_eq!(beats(&restarted), beats(&crashed), "the same as a crash and a restart at that instant");
    assert_replays(&dir);
}

/// Runs heartbeat with instance 0 injecting `inject` itself through the network API.
fn self_injected(inject: &str) -> Vec<u32> {
    let mut s = support::spec(plan("network"), "heartbeat", 3, 0);
    s.global_params.insert("inject".into(), inject.into());
    let (summary, exec) = support::run(&s);
    assert!(summary.success(), "{}", summary.render());
    let log = String::from_utf8(exec.records[1].stdout.clone()).unwrap();
    log.lines().filter_map(|l| l.strip_prefix("beat ")?.split(' ').next()?.parse().ok()).collect()
}

#[test]
fn faults_injected_from_the_plan_match_the_timeline() {
    // Clogging from the plan after beat 10 and releasing after beat 20 holds
    // beats 11..=20 like the timeline's clog does: nothing lost, order kept.
    let (_, timeline, _) = heartbeat_run(&events(&[("1s", "clog"), ("2s", "release")]));
    assert_eq!(self_injected("clog"), timeline.iter().map(|b| b.0).collect::<Vec<_>>());
    // Crashing instance 1 after beat 10 with a 500 ms restart matches the timeline's crash at 1 s,
    // restart at 1.5 s.
    let timeline = "[[events]]\nat = \"1s\"\naction = \"crash\"\ninstances = [1]\n\
                    [[events]]\nat = \"1500ms\"\naction = \"restart\"\ninstances = [1]\n";
    let (_, crashed, _) = heartbeat_run(timeline);
    assert_eq!(self_injected("crash"), crashed.iter().map(|b| b.0).collect::<Vec<_>>());
}

#[test]
fn crash_without_restart_fails_the_run_naming_the_fault() {
    let timeline = "[[events]]\nat = \"1s\"\naction = \"crash\"\ngroups = [\"receivers\"]\n";
    let (_, _, summary) = heartbeat_run(timeline);
    assert_eq!(summary["outcome"], "failure");
    let reasons = summary["groups"][1]["reasons"].to_string();
    assert!(reasons.contains("crashed by fault injection at 1.000000000s"), "{reasons}");
    assert_eq!(summary["groups"][0]["ok"], 1);
}

/// The beats instance 1 logged, as (beat, arrival ms), with instance 0
/// clogging its path to instance 1 after beat 10 and releasing it after beat
/// 20, over 5 ms links and with `sync_latency`.
fn clogged_by_the_plan(sync_latency: std::time::Duration) -> Vec<(u32, u64)> {
    let mut s = support::spec(plan("network"), "heartbeat", 3, 0);
    s.global_params.insert("inject".into(), "clog".into());
    s.global_params.insert("latency".into(), "5ms".into());
    s.sync_latency = sync_latency;
    let (summary, exec) = support::run(&s);
    assert!(summary.success(), "{}", summary.render());
    let log = String::from_utf8(exec.records[1].stdout.clone()).unwrap();
    log.lines()
        .filter_map(|l| l.strip_prefix("beat "))
        .map(|l| {
            let (beat, at) = l.split_once(" at ").unwrap();
            (beat.parse().unwrap(), at.trim_end_matches("ms").parse().unwrap())
        })
        .collect()
}

/// A fault the plan asks for travels as a sync operation does: with a sync
/// latency it takes effect that much later (what lets the shards of a split
/// run all apply it at the same point), at once without one.
#[test]
fn a_fault_from_the_plan_takes_effect_after_the_sync_latency() {
    for latency_ms in [0u64, 50] {
        let beats = clogged_by_the_plan(std::time::Duration::from_millis(latency_ms));
        let arrival = |b: u32| beats.iter().find(|(beat, _)| *beat == b).map(|&(_, at)| at).unwrap();
        // Beats are 100 ms apart: beat 20 was sent 1000 ms after beat 10, and
        // the release asked for then reached the network `latency_ms` later.
        let released = arrival(10) + 1000 + latency_ms;
        for b in 11..=20 {
            assert_eq!(arrival(b), released, "beat {b} held until the release ({latency_ms} ms): {beats:?}");
        }
        assert_eq!(arrival(21), arrival(10) + 1100, "unclogged again ({latency_ms} ms)");
        assert_eq!(beats.len(), 30, "nothing lost ({latency_ms} ms): {beats:?}");
    }
}
