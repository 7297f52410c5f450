//! Hostile plans: every fault class ends as an outcome with a reason naming
//! the cause, the run goes on, nothing hangs and nothing escapes.

mod support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{plan, run, spec, tempdir};
use tg_wasm::run::Outcome;

fn crash_reason(case: &str, tweak: impl FnOnce(&mut tg_wasm::run::RunSpec)) -> String {
    let mut s = spec(plan("hostile"), case, 2, 0);
    tweak(&mut s);
    let (summary, exec) = run(&s);
    assert_eq!(summary.groups[0].crashed, 2, "{case}: {}", summary.render());
    assert_eq!(exec.outcomes[1].outcome, Outcome::Crashed);
    exec.outcomes[1].reason.clone().unwrap()
}

#[test]
fn each_fault_class_is_a_crash_with_its_reason() {
    let small_fuel = |s: &mut tg_wasm::run::RunSpec| s.engine.fuel = 100_000_000;
    let small_memory = |s: &mut tg_wasm::run::RunSpec| s.engine.memory_limit = 16 << 20;
    type Tweak<'a> = &'a dyn Fn(&mut tg_wasm::run::RunSpec);
    let cases: [(&str, Tweak, &str); 7] = [
        ("divide-by-zero", &|_| {}, "attempt to divide by zero"),
        ("out-of-bounds", &|_| {}, "out of bounds memory access"),
        ("stack-overflow", &|_| {}, "stack overflow"),
        ("spin", &small_fuel, "CPU budget exhausted: used all 100000000 fuel units"),
        ("abort", &|_| {}, "unreachable"),
        ("exit", &|_| {}, "called exit with failure status"),
        ("oom", &small_memory, "memory limit exceeded: linear memory may not grow past 16 MiB"),
    ];
    for (case, tweak, needle) in cases {
        let reason = crash_reason(case, tweak);
        assert!(reason.contains(needle), "{case}: {reason}");
    }
}

#[test]
fn a_budget_too_small_for_anything_ends_the_instances_not_the_plans_describe() {
    // `describe` is tg-wasm asking the plan its manifest, with a budget of its own:
    // the instances' budget, however small, is theirs to run out of.
    let reason = crash_reason("spin", |s| s.engine.fuel = 1);
    assert!(reason.contains("CPU budget exhausted: used all 1 fuel units"), "{reason}");
}

#[test]
fn bad_host_call_arguments_are_errors_to_the_plan() {
    // The plan succeeds only if the sync service refused each bad argument.
    let (summary, _) = run(&spec(plan("hostile"), "bad-sync", 2, 0));
    assert!(summary.success(), "{}", summary.render());
}

#[test]
fn sandbox_escape_attempts_all_fail() {
    // The plan fails, naming what escaped, if it could read /etc/passwd, list /,
    // write outside, read HOME/PATH/USER or see host arguments.
    let (summary, exec) = run(&spec(plan("hostile"), "escape", 3, 0));
    assert!(summary.success(), "{}", summary.render());
    assert_eq!(String::from_utf8(exec.records[0].stdout.clone()).unwrap(), "every escape attempt failed\n");
    assert!(!std::path::Path::new("/tmp/tg-wasm-escaped").exists());
}

#[test]
fn ten_percent_misbehaving_instances_are_accounted_exactly() {
    let mut s = spec(plan("hostile"), "mixed", 300, 0);
    s.engine.fuel = 50_000_000;
    s.engine.memory_limit = 16 << 20;
    let (summary, exec) = run(&s);
    let g = &summary.groups[0];
    assert_eq!((g.ok, g.failed, g.crashed, g.total), (270, 0, 30, 300), "{}", summary.render());
    for (i, o) in exec.outcomes.iter().enumerate() {
        let reason = o.reason.as_deref().unwrap_or("");
        match i % 30 {
            0 => assert!(reason.contains("panics as planned"), "{i}: {reason}"),
            10 => assert!(reason.contains("CPU budget exhausted"), "{i}: {reason}"),
            20 => assert!(reason.contains("memory limit exceeded"), "{i}: {reason}"),
            _ => assert_eq!(o.outcome, Outcome::Ok, "{i}: {reason}"),
        }
    }
}

#[test]
fn wall_timeout_ends_a_spinning_run_with_partial_results() {
    let mut s = spec(plan("hostile"), "spin", 2, 0);
    s.wall_timeout = Some(Duration::from_millis(300));
    let started = Instant::now();
    let (summary, exec) = run(&s);
    // A hang guard, not a speed check: the limit is 0.3 s, a hang would be forever.
    assert!(started.elapsed() < Duration::from_secs(60), "took {:?}", started.elapsed());
    assert_eq!(summary.end, "wall-timeout");
    assert!(exec.outcomes.iter().all(|o| o.reason.as_deref().unwrap().contains("wall-clock time limit")));
}

#[test]
fn deadlock_is_detected_the_moment_nothing_can_run() {
    // Detection comes from the event queue running dry, not from a timeout:
    // with generous limits set, the run still ends as a deadlock, at the
    // virtual instant the last instance blocked.
    let mut s = spec(plan("placebo"), "stall", 1000, 0);
    s.wall_timeout = Some(Duration::from_secs(600));
    s.virtual_timeout = Some(Duration::from_secs(3600));
    let (summary, exec) = run(&s);
    assert_eq!(summary.end, "deadlock");
    assert_eq!(summary.blocked_count, 1000);
    assert_eq!(exec.virtual_time.as_nanos(), 0);
}

#[test]
fn ctrl_c_ends_the_run_with_exit_130_and_a_summary() {
    let hostile = plan("hostile").path.display().to_string();
    let dir = tempdir();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tg-wasm"))
        .args(["run", &hostile, "-t", "spin", "-i", "2", "-o", dir.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the run has started (its inputs are written before instances run).
    let started = Instant::now();
    while !dir.join("run.json").exists() && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["end"], "interrupted");
}
