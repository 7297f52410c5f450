//! The network plan: plain `std::net` sockets between instances, over the
//! simulated data network and never over the host's.

mod support;

use support::{plan, run, spec};

/// The round-trip times a client recorded, in nanoseconds: (TCP, UDP).
fn rtts(message: &str) -> (u64, u64) {
    let field = |name: &str| {
        let rest = message.split(name).nth(1).unwrap_or_else(|| panic!("{name} in {message:?}"));
        rest.split(' ').next().unwrap().parse::<u64>().unwrap()
    };
    (field("tcp-rtt-ns="), field("udp-rtt-ns="))
}

#[test]
fn ping_pong_over_tcp_and_udp_by_instance_name() {
    let (summary, exec) = run(&spec(plan("network"), "ping-pong", 4, 0));
    assert!(summary.success(), "{}", summary.render());
    assert_eq!(summary.groups[0].ok, 4);
    for client in 1..4 {
        let messages = &exec.records[client].messages;
        assert_eq!(messages.len(), 1, "instance {client} reports its round trips");
        let (tcp, udp) = rtts(&messages[0].text);
        // The default link adds no latency, and virtual time does not pass
        // while the host computes: an echo costs nothing on the clock.
        assert_eq!((tcp, udp), (0, 0), "instance {client}: {}", messages[0].text);
    }
}

#[test]
fn ping_pong_same_seed_same_digest() {
    let a = run(&spec(plan("network"), "ping-pong", 6, 11)).0;
    let b = run(&spec(plan("network"), "ping-pong", 6, 11)).0;
    assert!(a.success(), "{}", a.render());
    assert_eq!(a.digest, b.digest);
}

/// Open sockets of this process, from `/proc/self/fd`.
fn os_sockets() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("socket:["))
        .count()
}

#[test]
fn many_connections_open_no_os_socket() {
    let p = plan("network");
    let mut s = spec(p, "many-connections", 2, 0);
    s.groups[0].params.insert("connections".into(), "150".into());
    let before = os_sockets();
    let (summary, _) = run(&s);
    let after = os_sockets();
    assert!(summary.success(), "{}", summary.render());
    assert_eq!(before, after, "a plan's connections must not open host sockets");
}

#[test]
fn refused_unreachable_and_unknown_names_surface_as_std_errors() {
    let (summary, exec) = run(&spec(plan("network"), "errors", 2, 0));
    assert!(summary.success(), "{}", summary.render());
    let messages = &exec.records[1].messages;
    assert_eq!(messages.len(), 1);
    // netsim's UNREACHABLE_AFTER: three ARP probes, one second apart.
    assert_eq!(messages[0].text, "unreachable-after-ns=3000000000");
}

#[test]
fn bulk_transfer_arrives_whole_and_in_order() {
    let (summary, exec) = run(&spec(plan("network"), "bulk", 2, 0));
    assert!(summary.success(), "{}", summary.render());
    let received: Vec<f64> = exec.metrics.iter().filter(|m| m.name == "bytes-received").map(|m| m.value).collect();
    assert_eq!(received, vec![4.0 * 1024.0 * 1024.0]);
}

#[test]
fn a_read_nobody_answers_is_a_deadlock_naming_the_socket() {
    let (summary, exec) = run(&spec(plan("network"), "silent", 2, 0));
    assert_eq!(summary.end, "deadlock");
    let reason = exec.outcomes[1].reason.clone().unwrap();
    assert!(reason.contains("tcp read on socket"), "{reason}");
}

#[test]
fn writers_whose_peers_never_read_end_as_a_deadlock_a_minute_later_saying_so() {
    let mut s = spec(plan("network"), "gridlock", 4, 0);
    // Without the stall check, the zero-window probes would run the clock to this limit.
    s.virtual_timeout = Some(std::time::Duration::from_secs(3600));
    let (summary, exec) = run(&s);
    assert_eq!(summary.end, "deadlock", "{}", summary.render());
    for outcome in &exec.outcomes {
        let reason = outcome.reason.clone().unwrap();
        assert!(reason.contains("tcp write on socket"), "{reason}");
        assert!(reason.contains("whose peer has stopped reading"), "{reason}");
    }
    let quiet = netsim::quiet::STALL_CHECK_INTERVAL;
    assert!(exec.virtual_time <= netsim::SimTime::ZERO + quiet + std::time::Duration::from_secs(1));
    assert!(exec.events < 5000, "{} events", exec.events);
}

#[test]
fn two_hundred_clients_share_one_server() {
    let before = os_sockets();
    let (summary, _) = run(&spec(plan("network"), "ping-pong", 201, 3));
    assert!(summary.success(), "{}", summary.render());
    assert_eq!(summary.groups[0].ok, 201);
    assert_eq!(os_sockets(), before, "a plan's sockets must not open host sockets");
}
