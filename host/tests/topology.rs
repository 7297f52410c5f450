//! The data network beyond Testground's flat /16, measured from inside plans:
//! an address a plan chooses, group subnets, stateful inbound blocking from
//! the plan and from a composition, region round trips against their matrix,
//! a dual-stack `[::]` listener, and the same digest for every new case.

mod support;

use std::path::Path;
use support::{plan, run, spec};
use tg_wasm::component::PlanComponent;
use tg_wasm::run::{Execution, RunSpec, RunSummary};

/// A run spec from composition `text`, on `plan` (the composition's own plan path is not used).
fn composed(text: &str, plan: PlanComponent) -> RunSpec {
    let c = tg_wasm::composition::parse(text, Path::new("/")).expect("a valid composition");
    RunSpec {
        groups: c.groups,
        global_params: c.global_params,
        seed: c.seed.unwrap_or(0),
        faults: c.faults,
        network: c.network,
        ..RunSpec::single_group(plan, &c.case, 1)
    }
}

/// Every message instance `i` recorded, in order.
fn messages(exec: &Execution, i: usize) -> Vec<String> {
    exec.records[i].messages.iter().map(|m| m.text.clone()).collect()
}

#[test]
fn a_plan_takes_an_address_and_is_reached_by_it_and_by_name_and_refusals_say_why() {
    let (summary, exec) = run(&spec(plan("network"), "chosen-address", 2, 0));
    assert!(summary.success(), "{}", summary.render());
    assert_eq!(
        messages(&exec, 1),
        [
            "instance-0 resolves to 16.0.7.7",
            "connected by address to 16.0.7.7:7300",
            "connected by name to 16.0.7.7:7300",
            "taking 16.0.7.7: address: 16.0.7.7 is taken by instance 0",
            "taking 8.8.8.8: address: 8.8.8.8 is outside the data network 16.0.0.0/4 (less each block's x.y.0.0, \
             gateway x.y.0.1 and x.y.255.255)",
            "taking 16.0.7.777: address: \"16.0.7.777\" is not an IPv4 or IPv6 address",
        ]
    );
}

#[test]
fn group_subnets_give_the_addresses_names_resolve_to() {
    let text = "[global]\nplan = \"p\"\ncase = \"chosen-address\"\nparams = { address = \"16.9.0.9\" }\n\
                [[groups]]\nid = \"server\"\ninstances = { count = 1 }\nnetwork = { subnet = \"16.9.0.0/24\" }\n\
                [[groups]]\nid = \"client\"\ninstances = { count = 1 }\nnetwork = { subnet = \"16.8.0.0/24\" }\n";
    let (summary, exec) = run(&composed(text, plan("network")));
    assert!(summary.success(), "{}", summary.render());
    let m = messages(&exec, 1);
    assert_eq!(m[0], "instance-0 resolves to 16.9.0.9", "moved within its subnet, names follow");
    assert_eq!(m[3], "taking 16.9.0.9: address: 16.9.0.9 is taken by instance 0");
}

/// Instance 0 blocks inbound; returns what each side recorded.
fn blocked(filter: &str, from_plan: bool) -> (RunSummary, Vec<String>, Vec<String>) {
    let s = if from_plan {
        let mut s = spec(plan("network"), "blocking-inbound", 2, 0);
        s.global_params.insert("filter".into(), filter.into());
        s
    } else {
        let text = format!(
            "[global]\nplan = \"p\"\ncase = \"blocking-inbound\"\nparams = {{ filter = \"{filter}\", from-plan = false }}\n\
             [[groups]]\nid = \"guarded\"\ninstances = {{ count = 1 }}\nnetwork = {{ inbound = \"{filter}\" }}\n\
             [[groups]]\nid = \"open\"\ninstances = {{ count = 1 }}\n"
        );
        composed(&text, plan("network"))
    };
    let (summary, exec) = run(&s);
    (summary, messages(&exec, 0), messages(&exec, 1))
}

#[test]
fn an_instance_blocking_inbound_connects_out_but_is_not_connected_to() {
    for from_plan in [true, false] {
        let (summary, inside, outside) = blocked("drop", from_plan);
        assert!(summary.success(), "from the plan: {from_plan}: {}", summary.render());
        assert_eq!(inside, ["outbound: connected and echoed"], "replies to its own connection get in");
        assert_eq!(outside, ["inbound: TimedOut after 15000 ms"], "dropped: the SYNs vanish, the connect times out");

        let (summary, inside, outside) = blocked("reject", from_plan);
        assert!(summary.success(), "{}", summary.render());
        assert_eq!(inside, ["outbound: connected and echoed"]);
        assert_eq!(outside, ["inbound: ConnectionRefused after 0 ms"], "rejected: a reset comes back at once");
    }
}

/// The round-trip matrix the shipped composition gives, in ms: `rtt[from][to]`.
fn shipped_regions() -> (String, Vec<String>, Vec<Vec<f64>>) {
    let path = support::plans_dir().join("network/compositions/cloud-regions.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let value: toml::Value = toml::from_str(&text).unwrap();
    let regions = value["network"]["regions"].as_array().unwrap();
    let names = regions.iter().map(|r| r["name"].as_str().unwrap().to_string()).collect();
    let ms = |v: &toml::Value| v.as_str().unwrap().trim_end_matches("ms").parse::<f64>().unwrap();
    let rtt = regions.iter().map(|r| r["rtt"].as_array().unwrap().iter().map(ms).collect()).collect();
    (text, names, rtt)
}

#[test]
fn three_regions_give_round_trips_equal_to_their_matrix() {
    let (text, names, rtt) = shipped_regions();
    assert_eq!(names.len(), 3);
    let (summary, exec) = run(&composed(&text, plan("network")));
    assert!(summary.success(), "{}", summary.render());
    let mut seen = 0;
    for i in 0..exec.records.len() {
        for m in messages(&exec, i) {
            let f: Vec<&str> = m.split(' ').collect();
            assert_eq!(f[0], "rtt", "{m}");
            let (a, b) = (names.iter().position(|n| n == f[1]).unwrap(), names.iter().position(|n| n == f[2]).unwrap());
            // Each way takes half its row's figure; the default link adds nothing.
            let expected_ns = (rtt[a][b] + rtt[b][a]) / 2.0 * 1e6;
            assert_eq!(f[3].parse::<f64>().unwrap(), expected_ns, "{m}");
            seen += 1;
        }
    }
    assert_eq!(seen, 6 * 5, "every instance measured every other");
}

#[test]
fn a_dual_stack_listener_accepts_an_ipv4_and_an_ipv6_client() {
    let mut s = spec(plan("network"), "dual-stack", 3, 0);
    s.network.ipv6 = true;
    let (summary, exec) = run(&s);
    assert!(summary.success(), "{}", summary.render());
    assert_eq!(
        messages(&exec, 0),
        ["accepted v4 from [::ffff:16.0.0.3]:49152", "accepted v6 from [fd00::1000:4]:49152"],
        "IPv4 peers appear IPv4-mapped, as on a Linux dual-stack socket"
    );
    assert_eq!(messages(&exec, 2), ["connected over v6 to [fd00::1000:2]:7300 from [fd00::1000:4]:49152"]);
    // Without IPv6 on, names resolve to IPv4 only and the IPv6 client has nowhere to go.
    let (summary, exec) = run(&spec(plan("network"), "dual-stack", 3, 0));
    assert!(!summary.success());
    let reason = exec.outcomes[2].reason.clone().unwrap();
    assert!(reason.contains("no v6 address (run with --ipv6)"), "{reason}");
}

/// Acceptance 7: every new case, five times, one digest.
#[test]
fn every_new_case_gives_the_same_digest_five_times() {
    let (regions, _, _) = shipped_regions();
    let mut chosen = spec(plan("network"), "chosen-address", 2, 5);
    chosen.global_params.insert("address".into(), "16.3.3.3".into());
    let mut reject = spec(plan("network"), "blocking-inbound", 2, 5);
    reject.global_params.insert("filter".into(), "reject".into());
    let mut dual = spec(plan("network"), "dual-stack", 3, 5);
    dual.network.ipv6 = true;
    let nat = |case: &str| {
        let text = format!(
            "[global]\nplan = \"p\"\ncase = \"{case}\"\nseed = 5\n\
             [[groups]]\nid = \"observer\"\ninstances = {{ count = 1 }}\n\
             [[groups]]\nid = \"cone\"\ninstances = {{ count = 1 }}\nnetwork = {{ nat = {{ type = \"restricted-cone\" }} }}\n\
             [[groups]]\nid = \"sym\"\ninstances = {{ count = 1 }}\nnetwork = {{ nat = {{ type = \"symmetric\" }} }}\n"
        );
        composed(&text, plan("nat"))
    };
    let cases = [
        ("chosen-address", chosen),
        ("blocking-inbound", reject),
        ("dual-stack", dual),
        ("region-rtt", RunSpec { seed: 5, ..composed(&regions, plan("network")) }),
        ("punch-udp", nat("punch-udp")),
        ("punch-tcp", nat("punch-tcp")),
    ];
    for (name, s) in &cases {
        let first = run(s).0;
        assert!(first.success(), "{name}: {}", first.render());
        for _ in 1..5 {
            assert_eq!(run(s).0.digest, first.digest, "{name}");
        }
    }
}
