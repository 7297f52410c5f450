//! The placebo plan: every outcome class, deadlock reports and virtual time.

mod support;

use std::time::Duration;
use support::{plan, run, spec, tempdir};
use tg_wasm::run::Outcome;
use tg_wasm::session::RunOptions;

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
    assert_eq!((summary.groups[0].crashed, summary.groups[0].stalled), (0, 5));
    assert_eq!(summary.blocked_count, 5);
    let reason = exec.outcomes[3].reason.clone().unwrap();
    assert!(reason.contains("deadlock"), "{reason}");
    assert!(reason.contains("barrier \"stall-never\": 0/6 arrived"), "{reason}");
}

#[test]
fn one_panic_comes_first_and_its_waiting_peers_are_stalled_on_it() {
    let dir = tempdir();
    let finished = tg_wasm::session::run(spec(plan("placebo"), "one-panics", 5, 0), &RunOptions::new(&*dir)).unwrap();
    let (summary, exec) = (finished.summary, finished.execution);
    let g = &summary.groups[0];
    assert_eq!((g.ok, g.failed, g.crashed, g.stalled, g.total), (0, 0, 1, 4, 5), "{}", summary.render());

    // The root cause is named first, with when it happened.
    let first = summary.first_failure.as_ref().expect("a failed run names its first failure");
    assert_eq!((first.instance, first.outcome), (0, Outcome::Crashed));
    assert!(first.reason.contains("placebo panic as requested"), "{}", first.reason);
    assert_eq!(first.at_ns, 1_000_000_000);

    // Reasons: the panic, then the four stalled ones as one line, waiting for instance 0.
    let reasons: Vec<(Outcome, u32)> = g.reasons.iter().map(|r| (r.outcome, r.count)).collect();
    assert_eq!(reasons, [(Outcome::Crashed, 1), (Outcome::Stalled, 4)]);
    let stalled = &g.reasons[1];
    assert!(stalled.reason.contains("barrier \"all-here\": 4/5 arrived"), "{}", stalled.reason);
    let waited: Vec<(u32, Outcome)> = stalled.waiting_for.iter().map(|w| (w.instance, w.outcome)).collect();
    assert_eq!(waited, [(0, Outcome::Crashed)]);
    for o in &exec.outcomes[1..] {
        assert_eq!(o.outcome, Outcome::Stalled, "{:?}", o.reason);
    }

    // The table says the same, in that order, with no advice a plan cannot follow.
    let table = summary.render();
    let panic_at = table.find("1 × crashed").expect(&table);
    let stalled_at = table.find("4 × stalled").expect(&table);
    assert!(panic_at < stalled_at, "{table}");
    assert!(table.contains("waiting for instance 0 (crashed)"), "{table}");
    assert!(table.lines().next().unwrap().split_whitespace().any(|c| c == "stalled"), "{table}");
    let stderr = std::fs::read_to_string(dir.join("instances/0/stderr.log")).unwrap();
    assert!(stderr.contains("placebo panic as requested") && !stderr.contains("RUST_BACKTRACE"), "{stderr}");
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

#[test]
fn every_instance_reports_the_fuel_it_burned_and_a_run_near_its_budget_says_so() {
    // The same code with the same inputs burns the same fuel in every instance.
    let (summary, exec) = run(&spec(plan("placebo"), "ok", 3, 0));
    let used: Vec<u64> = exec.records.iter().map(|r| r.fuel_used).collect();
    assert!(used[0] > 0 && used.iter().all(|&u| u == used[0]), "{used:?}");
    let busiest = summary.fuel.as_ref().expect("the busiest instance is named");
    assert_eq!((busiest.instance, busiest.used), (0, used[0]));
    assert!(!summary.render().contains("fuel:"), "far from the budget, nothing is said:\n{}", summary.render());

    // Half again what the case needs: it passes, and the summary warns.
    let mut tight = spec(plan("placebo"), "ok", 3, 0);
    tight.engine.fuel = used[0] * 3 / 2;
    let (summary, exec) = run(&tight);
    assert!(summary.success(), "{}", summary.render());
    assert_eq!(exec.records[2].fuel_used, used[0], "the budget does not change what is burned");
    let warning = format!(
        "fuel: instance 0 burned {} of its {} fuel units ({}%)",
        used[0],
        tight.engine.fuel,
        used[0] * 100 / tight.engine.fuel
    );
    assert!(summary.render().contains(&warning), "{warning}\n{}", summary.render());

    // Out of fuel: all of it burned, said once, by the crash reason.
    let mut spin = spec(plan("placebo"), "spin", 2, 0);
    spin.engine.fuel = 1_000_000;
    let (summary, exec) = run(&spin);
    assert!(exec.records.iter().all(|r| r.fuel_used == 1_000_000), "{:?}", exec.records[0].fuel_used);
    assert!(!summary.render().contains("fuel: instance"), "{}", summary.render());

    // Instances the run stopped while they waited are counted too.
    let (_, exec) = run(&spec(plan("placebo"), "stall", 2, 0));
    assert!(exec.records.iter().all(|r| r.fuel_used > 0), "{:?}", exec.records[0].fuel_used);
}
