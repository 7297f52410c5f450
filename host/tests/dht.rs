//! The DHT plan: a Kademlia network of a few hundred instances forms, finds
//! its peers and records, and does so identically for the same seed.

mod support;

use support::{plan, run, spec};
use tg_wasm::metrics::aggregate::MetricAggregate;
use tg_wasm::run::RunSummary;

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
fn find_peers_succeeds_in_few_hops_and_is_deterministic() {
    const N: u32 = 300;
    let (summary, _) = run(&spec(plan("dht"), "find-peers", N, 7));
    assert!(summary.success(), "{}", summary.render());

    let ok = result(&summary, "lookups-ok").sum.unwrap();
    let failed = result(&summary, "lookups-failed").sum.unwrap();
    assert_eq!(ok + failed, f64::from(N) * 5.0, "every instance did n_find_peers = 5 lookups");
    assert!(ok / (ok + failed) >= 0.99, "{ok} of {} lookups succeeded", ok + failed);

    // With k = 20 a lookup takes a handful of rounds, far below log2(N).
    let hops = result(&summary, "hops");
    let log2_n = f64::from(N).log2();
    let (mean, p99) = (hops.mean.unwrap(), hops.p99.unwrap());
    assert!(mean > 0.0 && mean < log2_n, "mean hops {mean} against log2(N) = {log2_n}");
    assert!(p99 < log2_n, "p99 hops {p99} against log2(N) = {log2_n}");
    assert_eq!(result(&summary, "time-to-find").count, ok as u64, "one time-to-find per lookup that succeeded");

    let again = run(&spec(plan("dht"), "find-peers", N, 7)).0;
    assert_eq!(summary.digest, again.digest, "same seed, same run");
    let other = run(&spec(plan("dht"), "find-peers", N, 8)).0;
    assert_ne!(summary.digest, other.digest, "another seed draws other node ids");
}

#[test]
fn find_providers_finds_the_owner_of_every_record() {
    let (summary, _) = run(&spec(plan("dht"), "find-providers", 150, 3));
    assert!(summary.success(), "{}", summary.render());
    assert_eq!(result(&summary, "providers-found").sum, Some(150.0 * 5.0));
    assert_eq!(result(&summary, "time-to-provide").count, 100, "record_count = 100 records provided");
    // The smallest network: each node stores the other's records, and finds them in its own store.
    let (two, _) = run(&spec(plan("dht"), "find-providers", 2, 0));
    assert!(two.success(), "{}", two.render());
    assert_eq!(result(&two, "providers-found").sum, Some(2.0 * 5.0));
}

#[test]
fn bootstrap_network_fills_every_routing_table() {
    let (summary, _) = run(&spec(plan("dht"), "bootstrap-network", 120, 0));
    assert!(summary.success(), "{}", summary.render());
    assert!(result(&summary, "routing-table-size").min.unwrap() >= 20.0);
}

#[test]
fn parameters_a_lookup_cannot_work_with_fail_every_instance_at_once() {
    // rpc_timeout 0 used to make a join retry forever at one instant: the
    // clock never moved, and only the fuel budget ended the run.
    for (name, value, needle) in [
        ("rpc_timeout", "0s", "rpc_timeout must be above 0s"),
        ("bucket_size", "0", "must be at least 1"),
        ("n_bootstrap", "0", "n_bootstrap must be at least 1"),
    ] {
        let mut s = spec(plan("dht"), "find-peers", 4, 0);
        s.groups[0].params.insert(name.into(), value.into());
        let (summary, exec) = run(&s);
        assert!(!summary.success(), "{name}={value}");
        assert_eq!(exec.virtual_time.as_nanos(), 0, "{name}={value}: refused before anything ran");
        for outcome in &exec.outcomes {
            assert!(outcome.reason.as_deref().unwrap_or_default().contains(needle), "{name}={value}: {outcome:?}");
        }
    }
}
