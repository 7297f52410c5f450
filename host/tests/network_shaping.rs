//! The network plan's shaping cases: what `tg:plan/network` configures is what
//! plain `std::net` traffic measures, on virtual time. The plan checks its own
//! figures; these tests read them back from its metrics and hold them to the
//! acceptance bounds, so a plan whose checks were loosened would still fail here.

mod support;

use support::{plan, run, spec};
use tg_wasm::run::{Execution, RunSpec, RunSummary};

/// Runs `case` of the network plan on `instances` instances with `params`.
fn network_spec(case: &str, instances: u32, seed: u64, params: &[(&str, &str)]) -> RunSpec {
    let mut s = spec(plan("network"), case, instances, seed);
    for (k, v) in params {
        s.groups[0].params.insert(k.to_string(), v.to_string());
    }
    s
}

fn run_ok(case: &str, instances: u32, seed: u64, params: &[(&str, &str)]) -> (RunSummary, Execution) {
    let (summary, exec) = run(&network_spec(case, instances, seed, params));
    assert!(summary.success(), "{case}: {}", summary.render());
    (summary, exec)
}

/// Values of metric `name` whose tags include `tag` (if given).
fn metric(exec: &Execution, name: &str, tag: Option<(&str, &str)>) -> Vec<f64> {
    exec.metrics
        .iter()
        .filter(|m| m.name == name)
        .filter(|m| tag.is_none_or(|(k, v)| m.tags.iter().any(|(mk, mv)| mk == k && mv == v)))
        .map(|m| m.value)
        .collect()
}

fn assert_within(what: &str, measured: f64, expected: f64, tolerance: f64) {
    let error = (measured - expected).abs() / expected;
    assert!(error <= tolerance, "{what}: {measured} vs {expected} (off by {:.3}%)", error * 100.0);
}

#[test]
fn round_trip_is_twice_the_latency_and_follows_a_reconfiguration() {
    let (_, exec) = run_ok("ping-pong-reconfigure", 2, 0, &[]);
    for (tag, latency_ns) in [("100ms", 100e6), ("10ms", 10e6)] {
        for name in ["tcp-rtt", "udp-rtt", "connect-time"] {
            let values = metric(&exec, name, Some(("latency", tag)));
            assert_eq!(values.len(), 1, "{name} at {tag}");
            eprintln!("{name} at {tag}: {} ns", values[0]);
            assert_within(&format!("{name} at {tag}"), values[0], 2.0 * latency_ns, 0.01);
        }
    }
}

#[test]
fn allow_all_passes_traffic_and_deny_all_blocks_it() {
    let (_, exec) = run_ok("traffic-allowed", 2, 0, &[]);
    assert_eq!(metric(&exec, "exchanges", None), vec![2.0]);
    let (_, exec) = run_ok("traffic-blocked", 2, 0, &[]);
    let timeout = metric(&exec, "blocked-connect-timeout", None);
    assert_eq!(timeout.len(), 1);
    eprintln!("connect under deny-all timed out after {} ns", timeout[0]);
    assert!(timeout[0] >= 1e9, "a dropped SYN is retried before the connect gives up");
}

#[test]
fn reject_is_immediate_drop_times_out_and_rules_stay_in_their_subnet() {
    let (_, exec) = run_ok("filters", 5, 0, &[]);
    let at = |path| metric(&exec, "connect-time", Some(("path", path)));
    assert_eq!(at("reject"), vec![0.0], "reject refuses at once");
    assert!(at("drop")[0] >= 1e9, "drop times out: {:?}", at("drop"));
    assert_eq!(at("rule-50ms"), vec![50e6], "the /32 rule's latency");
    assert_eq!(at("default-5ms"), vec![5e6], "a neighbour in the same /24 keeps the default link");
    eprintln!("drop timed out after {} ns", at("drop")[0]);
}

#[test]
fn bulk_tcp_throughput_is_within_5_percent_of_the_link_rate() {
    // At 100 Mbit/s slow start costs the whole transfer 6%: the rate is the second half's.
    for rate in [10e6, 100e6] {
        let (_, exec) = run_ok("bandwidth", 2, 0, &[("bandwidth", &rate.to_string()), ("size", "4MiB")]);
        let throughput = metric(&exec, "throughput", None);
        assert_eq!(throughput.len(), 1);
        eprintln!(
            "throughput {} bit/s, goodput {:?}, on a {rate} bit/s link",
            throughput[0],
            metric(&exec, "goodput", None)
        );
        assert_within("throughput", throughput[0], rate, 0.05);
    }
    // Past what TCP's window carries per round trip, the plan says the window, not the link, is the limit.
    let (summary, exec) = run(&network_spec("bandwidth", 2, 0, &[("bandwidth", "1000000000"), ("latency", "5ms")]));
    assert!(!summary.success());
    let reason = exec.outcomes[0].reason.as_deref().unwrap_or_default();
    assert!(reason.contains("TCP's 256 KiB window carries at most 209715200 bit/s"), "{reason}");
}

#[test]
fn a_round_trip_on_an_unshaped_link_is_exactly_zero_and_passes() {
    // A relative check against 0 used to fail as "off by NaN%".
    for latency in ["latency", "latency2"] {
        run_ok("ping-pong-reconfigure", 2, 0, &[(latency, "0s")]);
    }
}

#[test]
fn udp_delivery_matches_loss_and_tcp_delivers_every_byte_under_loss() {
    let (_, exec) = run_ok("lossy", 2, 0, &[("loss", "0.05"), ("datagrams", "12000"), ("size", "1MiB")]);
    let delivery = metric(&exec, "udp-delivery", None);
    assert_eq!(delivery.len(), 1);
    eprintln!("UDP delivery {} at 5% loss; {:?}", delivery[0], exec.records[0].messages);
    assert!((delivery[0] - 0.95).abs() <= 0.02, "delivery {}", delivery[0]);
    assert_eq!(metric(&exec, "tcp-bytes-verified", None), vec![1024.0 * 1024.0]);
}

/// Parameters of a run: name and value pairs.
type Params = &'static [(&'static str, &'static str)];

#[test]
fn same_seed_same_digest_and_randomness_changes_it() {
    let cases: [(&str, u32, Params); 8] = [
        ("ping-pong-reconfigure", 2, &[("jitter", "5ms")]),
        ("lossy", 2, &[("datagrams", "2000"), ("size", "128KiB")]),
        ("filters", 5, &[]),
        ("traffic-allowed", 2, &[]),
        ("traffic-blocked", 2, &[]),
        ("bandwidth", 2, &[("size", "256KiB")]),
        ("misuse", 1, &[]),
        ("websocket", 2, &[]),
    ];
    for (case, instances, params) in cases {
        let a = run_ok(case, instances, 1, params).0;
        let b = run_ok(case, instances, 1, params).0;
        assert_eq!(a.digest, b.digest, "{case}: same seed, same digest");
        // Only jitter and loss draw from the seed; the other cases are exact.
        if matches!(case, "ping-pong-reconfigure" | "lossy") {
            let c = run_ok(case, instances, 2, params).0;
            assert_ne!(a.digest, c.digest, "{case}: jitter or loss must follow the seed");
        }
    }
    // A network configuration is part of the digest even when no packet
    // would tell the difference.
    let a = run_ok("bandwidth", 2, 0, &[("size", "64KiB")]).0;
    let b = run_ok("bandwidth", 2, 0, &[("size", "64KiB"), ("latency", "6ms")]).0;
    assert_ne!(a.digest, b.digest);
}

#[test]
fn socket_misuse_gets_the_errors_an_os_would_give() {
    let (_, exec) = run_ok("misuse", 1, 0, &[]);
    let messages = &exec.records[0].messages;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].text, "every misuse was the expected error");
}

#[test]
fn a_websocket_library_talks_between_instances() {
    let (_, exec) = run_ok("websocket", 2, 0, &[]);
    let rtt = metric(&exec, "websocket-rtt", None);
    assert_eq!(rtt.len(), 1);
    eprintln!("WebSocket echo {} ns, handshake {:?} ns", rtt[0], metric(&exec, "websocket-handshake", None));
    assert_within("WebSocket echo", rtt[0], 50e6, 0.01);
}

#[test]
fn parameters_a_case_cannot_measure_with_are_refused_by_the_plan_saying_so() {
    // A case, its parameters, and what every instance's reason says.
    type Refusal<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
    let cases: [Refusal; 9] = [
        ("bandwidth", &[("bandwidth", "0")], "`bandwidth` = 0 leaves the link unlimited"),
        ("bandwidth", &[("size", "0")], "size must be above 0"),
        ("bulk", &[("size", "100TB")], "`size` = 100000000000000 bytes: this case sends it as one buffer"),
        ("lossy", &[("size", "3GiB")], "a wasm32 instance holds at most 2147483647 bytes in one"),
        // Rates over nothing used to fail as "NaN%"; zero waits spun at one instant until the fuel ran out.
        ("lossy", &[("datagrams", "0")], "datagrams must be at least 1"),
        ("websocket", &[("messages", "0")], "messages must be at least 1"),
        ("heartbeat", &[("interval", "0s")], "interval must be above 0s"),
        ("heartbeat", &[("duration", "1000000h")], "more than 4294967295 heartbeats"),
        ("round-trips", &[("resend", "0s")], "resend must be above 0s"),
    ];
    for (case, params, needle) in cases {
        let (summary, exec) = run(&network_spec(case, 2, 0, params));
        assert!(!summary.success(), "{case}: {}", summary.render());
        for outcome in &exec.outcomes {
            let reason = outcome.reason.as_deref().unwrap_or_default();
            assert!(reason.contains(needle), "{case}: {reason}");
        }
    }
}
