//! The libp2p-kad plan: rust-libp2p's tcp (tokio), noise, yamux, identify and
//! kad from crates.io, unchanged, with tg-wasm's stand-ins for futures-timer
//! and if-watch patched in (`plans/Cargo.toml`) and the swarm's executor from
//! tg-sdk. A small network forms, finds every peer, does so identically run
//! after run, and fails with the reason when a node cannot listen.

mod support;

use support::{plan, run, spec};
use tg_wasm::metrics::aggregate::MetricAggregate;
use tg_wasm::run::{Outcome, RunSpec, RunSummary};

fn case(name: &str, instances: u32, params: &[(&str, &str)]) -> RunSpec {
    let mut s = spec(plan("libp2p-kad"), name, instances, 0);
    for (k, v) in params {
        s.groups[0].params.insert(k.to_string(), v.to_string());
    }
    s
}

/// The result metric `name` of the only group.
fn result<'a>(summary: &'a RunSummary, name: &str) -> &'a MetricAggregate {
    summary
        .metrics
        .results
        .iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no result metric {name} in {}", summary.render()))
}

#[test]
fn find_peers_finds_every_peer() {
    const N: u32 = 20;
    let (summary, _) = run(&case("find-peers", N, &[]));
    assert!(summary.success(), "{}", summary.render());
    let lookups = f64::from(N) * 5.0;
    assert_eq!(result(&summary, "peers-found").sum, Some(lookups), "n_find_peers = 5 each, all found");
    assert_eq!(result(&summary, "lookups-failed").sum, Some(0.0));
    assert_eq!(result(&summary, "run-success-rate").max, Some(1.0));
    let time_to_find = result(&summary, "time-to-find");
    assert_eq!(time_to_find.count, lookups as u64, "one time-to-find per lookup");
    // A lookup needs at least a request and its answer over 50 ms links.
    assert!(time_to_find.min.unwrap() >= 0.1, "{:?}", time_to_find.min);
    assert!(time_to_find.max.unwrap() < 60.0, "within the query timeout: {:?}", time_to_find.max);
}

#[test]
fn find_peers_gives_one_digest_in_five_runs() {
    let s = case("find-peers", 12, &[]);
    let digests: Vec<String> = (0..5).map(|_| run(&s).0.digest).collect();
    assert!(digests.iter().all(|d| *d == digests[0]), "{digests:?}");
    let other = run(&RunSpec { seed: 1, ..s }).0;
    assert_ne!(other.digest, digests[0], "another seed draws other identities and join times");
}

#[test]
fn a_lookup_that_misses_its_peer_on_a_crossed_dial_is_tried_again_and_finds_it() {
    // At 50 nodes and seed 0, instance 10 and its target dial each other at
    // the same instant from their listening ports: the SYNs cross, the one
    // connection fails in noise, and the lookup ends without the target.
    let (once, _) = run(&case("find-peers", 50, &[("lookup_attempts", "1")]));
    assert!(!once.success(), "the miss this test is about no longer happens; find a seed where it does");
    assert_eq!(result(&once, "lookups-failed").sum, Some(1.0), "{}", once.render());
    let (summary, _) = run(&case("find-peers", 50, &[]));
    assert!(summary.success(), "{}", summary.render());
    assert_eq!(result(&summary, "lookups-failed").sum, Some(0.0));
    let retried = summary.metrics.diagnostics.iter().find(|m| m.name == "lookups-retried");
    assert!(
        retried.and_then(|m| m.sum).is_some_and(|n| n >= 1.0),
        "the default two attempts retried nothing: {retried:?}"
    );
}

#[test]
fn bootstrap_network_fills_every_routing_table() {
    let (summary, _) = run(&case("bootstrap-network", 25, &[]));
    assert!(summary.success(), "{}", summary.render());
    assert!(result(&summary, "routing-table-size").min.unwrap() >= 20.0);
}

#[test]
fn dialling_from_fresh_ports_finds_every_peer_too() {
    let (summary, _) = run(&case("find-peers", 8, &[("port_reuse", "false")]));
    assert!(summary.success(), "{}", summary.render());
    assert_eq!(result(&summary, "peers-found").sum, Some(8.0 * 5.0));
}

#[test]
fn two_dials_from_listening_ports_that_cross_complete_as_one_connection() {
    // What libp2p-tcp's port reuse leads to when two nodes dial each other at
    // once: TCP's simultaneous open, which the case expects in one round trip.
    let (summary, _) = run(&case("simultaneous-open", 2, &[("latency", "50ms")]));
    assert!(summary.success(), "{}", summary.render());
    assert_eq!(summary.virtual_time_ns, 100_000_000, "one round trip of 2 × 50 ms");
}

#[test]
fn parameters_the_cases_cannot_work_with_are_refused_before_anything_runs() {
    // No bootstrapper leaves every join with nobody to ask; with no latency the
    // simultaneous dials cannot cross, and the second used to fail as "Address not available".
    let refusals: [(&str, u32, (&str, &str), &str); 2] = [
        ("find-peers", 3, ("n_bootstrap", "0"), "n_bootstrap must be at least 1"),
        ("simultaneous-open", 2, ("latency", "0s"), "latency must be above 0s"),
    ];
    for (name, instances, param, needle) in refusals {
        let (summary, exec) = run(&case(name, instances, &[param]));
        assert!(!summary.success(), "{name}");
        assert_eq!(exec.virtual_time.as_nanos(), 0, "{name}: refused before anything ran");
        for outcome in &exec.outcomes {
            assert!(outcome.reason.as_deref().unwrap_or_default().contains(needle), "{name}: {outcome:?}");
        }
    }
}

#[test]
fn a_node_that_cannot_listen_fails_with_the_reason_and_nobody_waits_for_it() {
    // Only instance 0 has this address: the others cannot listen on it.
    let (summary, exec) = run(&case("find-peers", 4, &[("listen_addr", "/ip4/16.0.0.2/tcp/4001")]));
    assert!(!summary.success());
    assert_eq!(summary.end, "completed", "every instance ended on its own: {}", summary.render());
    for (seq, outcome) in exec.outcomes.iter().enumerate() {
        assert_eq!(outcome.outcome, Outcome::Failed, "instance {seq}");
        let reason = outcome.reason.as_deref().unwrap();
        assert!(reason.contains("cannot listen on /ip4/16.0.0.2/tcp/4001: Address not available"), "{reason}");
        if seq == 0 {
            // Told by the first to fail, at the end of the phase it waited in.
            assert!(reason.starts_with("instance 1 failed: "), "{reason}");
        }
    }
}

#[test]
fn a_hundred_noise_handshakes_fit_in_one_point_three_billion_fuel() {
    // The README's fuel figures assume about 11 M fuel per connection, both
    // ends; this holds them to it, with 20% to spare. It takes the plan's
    // build with wide arithmetic (plans/libp2p-kad/.cargo/config.toml):
    // curve25519 on its 32-bit backend needs 25 M.
    let mut s = case("handshakes", 1, &[("count", "100")]);
    s.engine.fuel = 1_300_000_000;
    let (summary, _) = run(&s);
    assert!(summary.success(), "{}", summary.render());
    s.engine.fuel = 650_000_000;
    let (_, exec) = run(&s);
    let reason = exec.outcomes[0].reason.as_deref().unwrap_or("");
    assert!(reason.contains("CPU budget exhausted"), "half the budget is not enough: {reason}");
}
