//! Host bounds: a plan that tries to grow tg-wasm's memory through the host —
//! publishing without end, recording messages without end, holding unread
//! data on socket after socket, signalling state after state — ends with a
//! reason naming the limit it hit and the option that raises it, and the
//! process's peak RSS stays under a stated bound. Each run is a `tg-wasm`
//! child under `RLIMIT_DATA`, its peak RSS measured by the kernel.
//!
//! The bounds are the limit the plan hits plus room for the run itself
//! (about 100 MiB for a few instances: the engine, compiled code, linear
//! memories, the run directory); the figures each run reached are printed.

#[path = "support/bounded.rs"]
mod bounded;
mod support;

use bounded::{Bounded, run_bounded};
use std::process::Command;
use support::{plan, tempdir};

const MIB: u64 = 1 << 20;

/// Room for the run itself beside what the plan makes the host hold.
const RUN_ROOM: u64 = 256 * MIB;

/// Runs `case` of the hostile plan on `instances` instances with `extra`
/// options, the child held to `data_limit`; returns the run and its summary.
fn flood(case: &str, instances: u32, extra: &[&str], data_limit: u64) -> (Bounded, serde_json::Value) {
    let hostile = plan("hostile").path;
    let out = tempdir();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tg-wasm"));
    cmd.arg("run").arg(&hostile).args(["-t", case, "-i", &instances.to_string(), "--json", "-o"]).arg(&out);
    cmd.args(extra);
    let run = run_bounded(&mut cmd, data_limit);
    let summary = serde_json::from_slice(&run.stdout)
        .unwrap_or_else(|e| panic!("{case}: no summary ({e}); exit {:?}: {}", run.code(), run.stderr_text()));
    eprintln!("{case} × {instances} {extra:?}: peak RSS {} MiB", run.peak_rss / MIB);
    (run, summary)
}

/// Every instance ended not ok, each with a reason naming `option`.
#[track_caller]
fn assert_every_instance_names(run: &Bounded, summary: &serde_json::Value, instances: u64, option: &str) {
    assert_eq!(run.code(), Some(1), "the run failed, it did not crash: {}", run.stderr_text());
    let group = &summary["groups"][0];
    let not_ok = group["failed"].as_u64().unwrap() + group["crashed"].as_u64().unwrap();
    assert_eq!(not_ok, instances, "{summary}");
    let reasons = group["reasons"].to_string();
    assert!(reasons.contains(option), "the reason names {option}: {reasons}");
}

#[track_caller]
fn assert_peak_below(run: &Bounded, bound: u64) {
    assert!(run.peak_rss < bound, "peak RSS {} MiB, bound {} MiB", run.peak_rss / MIB, bound / MIB);
}

#[test]
fn publishing_without_end_stops_at_the_runs_topic_bytes() {
    // 10 instances × 100 × 4 MiB would keep 4 GiB; the run keeps 256 MiB at most.
    let limit = 256 * MIB;
    let (run, summary) = flood("publish-flood", 10, &[], 2 * limit + RUN_ROOM);
    assert_every_instance_names(&run, &summary, 10, "raise it with --max-topic-bytes");
    assert_peak_below(&run, limit + RUN_ROOM);
    // Configurable: a smaller limit keeps less.
    let (run, summary) = flood("publish-flood", 10, &["--max-topic-bytes", "32MiB"], 2 * limit + RUN_ROOM);
    assert_every_instance_names(&run, &summary, 10, "more than 33554432 payload bytes");
    assert_peak_below(&run, 32 * MIB + RUN_ROOM);
}

#[test]
fn recording_messages_without_end_stops_at_each_instances_message_bytes() {
    // 4000 × 64 KiB would be 250 MiB per instance; each keeps 16 MiB at most.
    let (run, summary) = flood("message-flood", 4, &[], 4 * 64 * MIB + RUN_ROOM);
    assert_every_instance_names(&run, &summary, 4, "raise it with --max-message-bytes");
    assert_peak_below(&run, 4 * 16 * MIB + RUN_ROOM);
}

#[test]
fn unread_data_on_socket_after_socket_stops_at_each_instances_sockets() {
    // Each connection to itself holds 256 KiB unread; 1024 sockets make 511 of them: 128 MiB.
    let (run, summary) = flood("socket-flood", 1, &[], 1024 * MIB + RUN_ROOM);
    assert_every_instance_names(
        &run,
        &summary,
        1,
        "limit of 1024 open sockets per instance (raise it with --max-sockets)",
    );
    assert_peak_below(&run, 128 * MIB + RUN_ROOM);
}

#[test]
fn signalling_state_after_state_stops_at_the_runs_sync_names() {
    // 2 × 100,000 names would be kept, and drawn in the report; the run keeps 65,536.
    let (run, summary) = flood("state-flood", 2, &[], 1024 * MIB + RUN_ROOM);
    assert_every_instance_names(&run, &summary, 2, "raise it with --max-sync-names");
    assert_peak_below(&run, 64 * MIB + RUN_ROOM);
}
