//! The placebo plan: every outcome class, deadlock reports and virtual time.

mod support;

use std::time::Duration;
use support::{plan, run, spec};
use tg_wasm::run::Outcome;

#[test]
fn five_thousand_instances_all_ok_in_one_process() {
    let (summary, _) = run(&spec(plan("placebo"), "ok", 5000, 0));
    assert_eq!((summary.groups[0].ok, summary.groups[0].total), (5000, 5000));
    assert!(summary.success());
}

#[test]
fn failing_case_is_failed_with_its_reason() {
    let (summary, exec) = run(&spec(plan("placebo"), "fail", 3, 0));
    assert!(!summary.success());
    assert_eq!(summary.groups[0].failed, 3);
    assert_eq!(exec.outcomes[0].reason.as_deref(), Some("placebo failure as requested"));
}

#[test]
fn panic_is_crashed_with_the_panic_message() {
    let (summary, exec) = run(&spec(plan("placebo"), "panic", 4, 0));
    assert_eq!(summary.groups[0].crashed, 4);
    let reason = exec.outcomes[2].reason.clone().unwrap();
    assert!(reason.contains("placebo panic as requested"), "{reason}");
    assert!(reason.contains("panicked at"), "{reason}");
}

#[test]
fn trap_is_crashed_with_the_trap_reason() {
    let (summary, exec) = run(&spec(plan("placebo"), "trap", 2, 0));
    assert_eq!(summary.groups[0].crashed, 2);
    assert_eq!(exec.outcomes[1].outcome, Outcome::Crashed);
    assert!(exec.outcomes[1].reason.as_deref().unwrap().contains("unreachable"));
}

#[test]
fn stall_ends_as_a_deadlock_naming_the_barrier_and_counts() {
    let (summary, exec) = run(&spec(plan("placebo"), "stall", 5, 0));
    assert_eq!(summary.end, "deadlock");
    assert_eq!(summary.groups[0].crashed, 5);
    assert_eq!(summary.blocked_count, 5);
    let reason = exec.outcomes[3].reason.clone().unwrap();
    assert!(reason.contains("deadlock"), "{reason}");
    assert!(reason.contains("barrier \"stall-never\": 0/6 arrived"), "{reason}");
}

#[test]
fn an_hour_of_sleep_is_exact_virtual_time_for_a_thousand_instances() {
    // The plan itself fails unless Instant and SystemTime advanced by exactly the duration.
    let (summary, exec) = run(&spec(plan("placebo"), "sleep", 1000, 0));
    assert!(summary.success(), "{}", summary.render());
    assert_eq!(exec.virtual_time.as_nanos(), Duration::from_secs(3600).as_nanos() as u64);
    let elapsed: Vec<f64> = exec.metrics.iter().filter(|m| m.name == "elapsed").map(|m| m.value).collect();
    assert_eq!(elapsed.len(), 1000);
    assert!(elapsed.iter().all(|s| *s == 3600.0), "elapsed seconds: {:?}", &elapsed[..3]);
}

#[test]
fn sleep_duration_param_is_honoured() {
    let mut s = spec(plan("placebo"), "sleep", 3, 0);
    s.global_params.insert("duration".into(), "1.5s".into());
    let (summary, exec) = run(&s);
    assert!(summary.success(), "{}", summary.render());
    assert_eq!(exec.virtual_time.as_nanos(), 1_500_000_000);
}

#[test]
fn virtual_timeout_ends_the_run_with_partial_results() {
    let mut s = spec(plan("placebo"), "sleep", 2, 0);
    s.virtual_timeout = Some(Duration::from_secs(60));
    let (summary, exec) = run(&s);
    assert_eq!(summary.end, "virtual-timeout");
    let reason = exec.outcomes[0].reason.clone().unwrap();
    assert!(reason.contains("virtual time limit") && reason.contains("timer"), "{reason}");
}
