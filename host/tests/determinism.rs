//! Determinism: the same inputs give the same trace digest; another seed
//! changes the digest of a plan that uses randomness.

mod support;

use support::{plan, run, spec};

#[test]
fn same_seed_same_digest_for_every_placebo_and_example_case() {
    for (name, case, n) in
        [("example", "sync", 200), ("placebo", "random", 50), ("placebo", "sleep", 20), ("placebo", "stall", 5)]
    {
        let a = run(&spec(plan(name), case, n, 7)).0.digest;
        let b = run(&spec(plan(name), case, n, 7)).0.digest;
        assert_eq!(a, b, "{name}/{case} is not deterministic");
    }
}

#[test]
fn another_seed_changes_the_digest_of_a_random_plan() {
    let a = run(&spec(plan("placebo"), "random", 10, 1)).0.digest;
    let b = run(&spec(plan("placebo"), "random", 10, 2)).0.digest;
    assert_ne!(a, b);
}

#[test]
fn random_draws_differ_per_instance_and_follow_the_seed() {
    let (_, exec) = run(&spec(plan("placebo"), "random", 3, 1));
    let out: Vec<Vec<u8>> = exec.records.iter().map(|r| r.stdout.clone()).collect();
    assert_ne!(out[0], out[1], "instances must get independent streams");
    let (_, again) = run(&spec(plan("placebo"), "random", 3, 1));
    assert_eq!(out[2], again.records[2].stdout.clone());
}
