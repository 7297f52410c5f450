//! The tokio plan: tokio, hyper and hyper-util from crates.io, unchanged,
//! built with the plans' LTO profile on the pinned toolchain. Every latency
//! is checked by the plan itself (a case fails if any request or round trip
//! is not exactly what the links make it); these tests check the outcomes,
//! what the plan measured, and that the runs are deterministic.

mod support;

use support::{plan, run, spec};
use tg_wasm::run::RunSpec;

fn case(name: &str, instances: u32, params: &[(&str, &str)]) -> RunSpec {
    let mut s = spec(plan("tokio"), name, instances, 0);
    for (k, v) in params {
        s.groups[0].params.insert(k.to_string(), v.to_string());
    }
    s
}

#[test]
fn tokio_tcp_and_udp_echo_at_exactly_the_links_round_trip() {
    let (summary, _) = run(&case("echo", 100, &[]));
    assert!(summary.success(), "{}", summary.render());
    assert_eq!(summary.groups[0].ok, 100);
}

#[test]
fn hyper_requests_take_one_round_trip_on_a_kept_alive_connection() {
    let (summary, exec) = run(&case("http", 100, &[("latency", "20ms"), ("requests", "5")]));
    assert!(summary.success(), "{}", summary.render());
    let latencies: Vec<f64> = exec.metrics.iter().filter(|m| m.name == "request-latency").map(|m| m.value).collect();
    assert_eq!(latencies.len(), 99 * 5, "every client's requests are recorded");
    // The first request of each client also connects: 4 × 20 ms; the rest 2 × 20 ms.
    assert_eq!(latencies.iter().filter(|&&l| (l - 0.080).abs() < 1e-12).count(), 99);
    assert_eq!(latencies.iter().filter(|&&l| (l - 0.040).abs() < 1e-12).count(), 99 * 4);
}

#[test]
fn a_task_awaiting_a_barrier_lets_another_serve_and_wakes_at_the_barriers_instant() {
    let (summary, exec) = run(&case("barrier-while-serving", 20, &[("requests", "3")]));
    assert!(summary.success(), "{}", summary.render());
    let served: Vec<f64> = exec.metrics.iter().filter(|m| m.name == "served-during-barrier").map(|m| m.value).collect();
    assert_eq!(served, vec![19.0 * 3.0], "instance 0 served every request while it awaited the barrier");
    // Without a request there is nothing to show: refused as such, not
    // reported as requests that went unanswered.
    let (summary, exec) = run(&case("barrier-while-serving", 2, &[("requests", "0")]));
    assert!(!summary.success());
    for outcome in &exec.outcomes {
        assert!(outcome.reason.as_deref().unwrap_or_default().contains("requests must be at least 1"), "{outcome:?}");
    }
}

#[test]
fn the_async_sync_client_gives_the_blocking_clients_digest() {
    let asynchronous = run(&case("sync-async", 50, &[])).0;
    let blocking = run(&case("sync-blocking", 50, &[])).0;
    assert!(asynchronous.success(), "{}", asynchronous.render());
    assert!(blocking.success(), "{}", blocking.render());
    assert_eq!(asynchronous.digest, blocking.digest, "the same sync operations, whichever way they were awaited");
    assert_eq!(asynchronous.sim_events, blocking.sim_events);
}

#[test]
fn udp_ping_on_tokio_and_on_std_both_pass() {
    for name in ["udp-ping", "udp-ping-std"] {
        let (summary, _) = run(&case(name, 30, &[("rounds", "4")]));
        assert!(summary.success(), "{name}: {}", summary.render());
    }
}

/// wasi-libc's UDP `recvfrom` (wasi-sdk 30) frees a received datagram's list
/// but not its bytes, so every datagram a plan received stayed in its linear
/// memory: at 4 MiB, std's ping crashed at round 19,000 ("memory limit
/// X
/// datagrams an instance, at least 6 MB of them) now fit, on std and on tokio,
/// whose mio receives through the same call.
#[test]
fn a_plan_receiving_many_datagrams_keeps_its_memory() {
    for name in ["udp-ping-std", "udp-ping"] {
        let mut s = case(name, 2, &[("rounds", "30000"), ("latency", "1ms")]);
        s.engine.memory_limit = 4 << 20;
        let (summary, _) = run(&s);
        assert!(summary.success(), "{name}: {}", summary.render());
    }
}

/// The same over TCP and hyper: 30,000 echoes (TCP and UDP) and 30,000
/// requests fit in 2 MiB, under a MiB above the plan's own memory, so a
/// read, write or request that kept 32 bytes would not.
#[test]
fn long_tcp_and_http_exchanges_keep_a_plans_memory() {
    for (name, count) in [("echo", "rounds"), ("http", "requests")] {
        let mut s = case(name, 2, &[(count, "30000"), ("latency", "1ms")]);
        s.engine.memory_limit = 2 << 20;
        let (summary, _) = run(&s);
        assert!(summary.success(), "{name}: {}", summary.render());
    }
}

#[test]
fn a_writer_waiting_for_room_leaves_its_runtime_running() {
    // 4 MiB written with vectored writes (hyper's), far more than a send buffer
    // holds, while the reading task of the same runtime sleeps for a second:
    // the plan checks the sleep ends on time and every byte arrives.
    let (summary, exec) = run(&case("backpressure", 1, &[]));
    assert!(summary.success(), "{}", summary.render());
    let received: Vec<f64> = exec.metrics.iter().filter(|m| m.name == "bytes-received").map(|m| m.value).collect();
    assert_eq!(received, [(4 << 20) as f64]);
}

#[test]
fn sockets_ready_in_one_wait_each_get_their_datagram_at_that_instant() {
    // More sockets than tg-sdk's `poll` gets answered in place (four): the
    // wait answers with a list. The plan checks every datagram and its instant.
    for sockets in ["3", "12"] {
        let (summary, _) = run(&case("ready-at-once", 2, &[("sockets", sockets)]));
        assert!(summary.success(), "{sockets} sockets: {}", summary.render());
    }
}

#[test]
fn every_tokio_case_gives_one_digest_in_five_runs() {
    for (name, instances) in [("echo", 12), ("http", 12), ("barrier-while-serving", 6), ("udp-ping", 12)] {
        let digests: Vec<String> = (0..5).map(|_| run(&case(name, instances, &[])).0.digest).collect();
        assert!(digests.iter().all(|d| *d == digests[0]), "{name}: {digests:?}");
    }
}

#[test]
fn instances_are_reached_by_name_through_the_sdks_resolvers() {
    let (summary, _) = run(&case("by-name", 10, &[("latency", "10ms")]));
    assert!(summary.success(), "{}", summary.render());
}

/// The crash reason of the one instance of `name`, which must crash.
fn crash_reason(name: &str) -> String {
    let (summary, exec) = run(&case(name, 1, &[]));
    assert!(!summary.success(), "{name} should crash: {}", summary.render());
    let outcome = &exec.outcomes[0];
    assert_eq!(outcome.outcome, tg_wasm::run::Outcome::Crashed, "{name}");
    outcome.reason.clone().expect("a crash has a reason")
}

#[test]
fn tokio_resolving_on_a_thread_crashes_with_one_line_naming_the_resolvers() {
    let reason = crash_reason("lookup-unchanged");
    assert!(reason.contains("tg_sdk::wasi_compat::resolve"), "{reason}");
    assert!(reason.contains("tg_sdk::wasi_compat::Resolver"), "{reason}");
    assert!(!reason.contains('\n'), "{reason}");
}

#[test]
fn a_multi_thread_runtime_crashes_naming_the_current_thread_one() {
    let reason = crash_reason("multi-thread");
    assert!(reason.contains("new_current_thread()"), "{reason}");
    assert!(!reason.contains('\n'), "{reason}");
}

#[test]
fn wstd_listener_and_client_at_exactly_the_links_round_trip() {
    let mut s = spec(plan("wstd"), "echo", 20, 0);
    s.groups[0].params.insert("latency".into(), "5ms".into());
    let (summary, _) = run(&s);
    assert!(summary.success(), "{}", summary.render());
    let digests: Vec<String> = (0..5).map(|_| run(&s).0.digest).collect();
    assert!(digests.iter().all(|d| *d == summary.digest), "{digests:?}");
}

#[test]
fn instances_past_their_socket_limit_fail_naming_it_on_both_sides_of_the_connections() {
    // Instance 1 opens more connections to instance 0 than either may hold
    // (1024 sockets each). As on Linux, the connections complete whether or
    // not the listener accepts them; the listener's `accept` past its limit
    // fails, as does the dialer's next socket, and each outcome names the
    // limit, instead of a dial that times out and a listener left waiting.
    for name in ["idle-sockets", "idle-sockets-poll"] {
        let (summary, exec) = run(&case(name, 2, &[("idle", "1100"), ("latency", "1ms"), ("rounds", "1")]));
        for (i, outcome) in exec.outcomes.iter().enumerate() {
            assert_eq!(outcome.outcome, tg_wasm::run::Outcome::Failed, "{name}, instance {i}: {}", summary.render());
            let reason = outcome.reason.as_deref().unwrap_or_default();
            assert!(
                reason.contains("limit of 1024 open sockets per instance (raise it with --max-sockets)"),
                "{reason}"
            );
        }
    }
}
