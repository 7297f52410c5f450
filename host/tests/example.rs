//! The example plan: leader election, barriers between phases, and every
//! instance receiving every message in the same order.

mod support;

use support::{plan, run, spec};

#[test]
fn a_thousand_instances_agree_on_every_message_and_its_order() {
    // Each instance checks that it received all N seqs and that the hash of the
    // order it saw equals every other instance's; any mismatch fails it.
    let (summary, exec) = run(&spec(plan("example"), "sync", 1000, 0));
    assert!(summary.success(), "{}", summary.render());
    assert_eq!(summary.groups[0].ok, 1000);
    let received: Vec<f64> = exec.metrics.iter().filter(|m| m.name == "messages-received").map(|m| m.value).collect();
    assert_eq!(received.len(), 1000, "every instance reports what it received");
    // Each instance reads the 1000 seqs and the 1000 order digests.
    assert!(received.iter().all(|n| *n == 2000.0), "{:?}", &received[..3]);
}

#[test]
fn sync_latency_changes_timing_not_correctness() {
    let mut s = spec(plan("example"), "sync", 50, 0);
    s.sync_latency = std::time::Duration::from_millis(5);
    let (summary, exec) = run(&s);
    assert!(summary.success(), "{}", summary.render());
    assert!(exec.virtual_time.as_nanos() >= 10_000_000, "barriers cost round trips: {}", exec.virtual_time);
}
