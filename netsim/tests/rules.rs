//! Routing policy, per-subnet rules and path overrides, and determinism of
//! everything the network draws at random.

mod common;

use common::*;
use netsim::net::{Filter, LinkRule, LinkShape, NetworkConfig, RoutingPolicy};
use netsim::{NodeId, Task};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Node 0 pings nodes 1 and 2 over UDP; returns whether each answered within 1 s.
fn ping_both(cfg0: NetworkConfig, path: Option<(u32, u32, Filter)>) -> Vec<bool> {
    let sim = world(
        3,
        1,
        NetworkConfig { default: LinkShape::with_latency(Duration::from_millis(10)), ..NetworkConfig::default() },
    );
    sim.lock().with_net(|n, cx| n.configure(cx, NodeId(0), cfg0));
    if let Some((a, b, f)) = path {
        sim.lock().net_mut().set_path_filter(NodeId(a), NodeId(b), Some(f));
    }
    let out = Arc::new(Mutex::new(Vec::new()));
    let (s0, o) = (sim.clone(), out.clone());
    let a = udp_bound(&sim, 0, 9);
    let client: Task<()> = Box::pin(async move {
        for dst in [1, 2] {
            udp_send(&s0, a, sa(dst, 7), b"ping");
            sleep(&s0, 0, Duration::from_secs(1)).await;
            let reply = s0.lock().net_mut().udp_try_recv(a).unwrap();
            o.lock().unwrap().push(reply.is_some());
        }
    });
    let mut tasks = vec![client];
    for node in [1u32, 2] {
        let s = sim.clone();
        let sock = udp_bound(&sim, node, 7);
        tasks.push(Box::pin(async move {
            let d = udp_recv(&s, sock).await;
            udp_send(&s, sock, d.from, b"pong");
        }));
    }
    // Echo servers that never hear anything would block forever; bound the run instead.
    let mut exec = netsim::Executor::new(sim.clone());
    for (i, t) in tasks.into_iter().enumerate() {
        exec.spawn(NodeId(i as u32), t);
    }
    let limits = netsim::RunLimits {
        virtual_deadline: Some(netsim::SimTime::ZERO + Duration::from_secs(5)),
        ..netsim::RunLimits::default()
    };
    exec.run(&limits, |_, ()| {});

    out.lock().unwrap().clone()
}

fn rule(node: u32, prefix: u8, filter: Filter) -> LinkRule {
    LinkRule { subnet: sa(node, 0).ip(), prefix, shape: LinkShape::default(), filter }
}

#[test]
fn deny_all_blocks_other_instances_unless_a_rule_accepts() {
    let base =
        NetworkConfig { default: LinkShape::with_latency(Duration::from_millis(10)), ..NetworkConfig::default() };
    assert_eq!(ping_both(base.clone(), None), vec![true, true]);
    let deny = NetworkConfig { routing: RoutingPolicy::DenyAll, ..base.clone() };
    assert_eq!(ping_both(deny.clone(), None), vec![false, false]);
    let allow_2 = NetworkConfig { rules: vec![rule(2, 32, Filter::Accept)], ..deny };
    assert_eq!(ping_both(allow_2, None), vec![false, true]);
}

#[test]
fn a_rule_for_one_subnet_leaves_others_alone() {
    let base =
        NetworkConfig { default: LinkShape::with_latency(Duration::from_millis(10)), ..NetworkConfig::default() };
    let drop_1 = NetworkConfig { rules: vec![rule(1, 32, Filter::Drop)], ..base.clone() };
    assert_eq!(ping_both(drop_1, None), vec![false, true]);
    // Longest prefix wins: the /16 drops everything, the /32 lets node 2 through.
    let nested = NetworkConfig { rules: vec![rule(1, 16, Filter::Drop), rule(2, 32, Filter::Accept)], ..base.clone() };
    assert_eq!(ping_both(nested, None), vec![false, true]);
    // A one-way partition from 2 to 0 blocks the reply only.
    assert_eq!(ping_both(base, Some((2, 0, Filter::Drop))), vec![true, false]);
}

#[test]
fn a_rule_shape_changes_only_its_subnet() {
    let slow = LinkShape::with_latency(Duration::from_millis(100));
    let cfg = NetworkConfig {
        default: LinkShape::with_latency(Duration::from_millis(10)),
        rules: vec![LinkRule { subnet: sa(1, 0).ip(), prefix: 32, shape: slow, filter: Filter::Accept }],
        ..NetworkConfig::default()
    };
    let sim = world(3, 1, cfg);
    let rtts = Arc::new(Mutex::new(Vec::new()));
    let (s0, r) = (sim.clone(), rtts.clone());
    let _l1 = listen(&sim, 1, 80);
    let _l2 = listen(&sim, 2, 80);
    let client: Task<()> = Box::pin(async move {
        for dst in [1, 2] {
            let t0 = now(&s0);
            connect(&s0, 0, sa(dst, 80)).await.unwrap();
            r.lock().unwrap().push(ms(now(&s0)) - ms(t0));
        }
    });
    let idle = || -> Task<()> { Box::pin(async {}) };
    run(&sim, vec![client, idle(), idle()]);
    // Node 1's replies use node 1's default (10 ms); node 0's SYN to node 1 takes the rule's 100 ms.
    assert_eq!(*rtts.lock().unwrap(), vec![110.0, 20.0]);
}

/// A busy little run with jitter, loss and TCP; returns its trace digest.
fn digest(seed: u64) -> String {
    let shape = LinkShape {
        latency: Duration::from_millis(5),
        jitter: Duration::from_millis(2),
        bandwidth: 50_000_000,
        loss: 0.02,
        ..LinkShape::default()
    };
    let sim = world(4, seed, NetworkConfig { default: shape, ..NetworkConfig::default() });
    let l = listen(&sim, 0, 80);
    let mut tasks: Vec<Task<()>> = Vec::new();
    let s = sim.clone();
    tasks.push(Box::pin(async move {
        for _ in 0..3 {
            let c = accept(&s, l).await;
            let data = read_exact(&s, c, 100_000).await.unwrap();
            assert_eq!(data.len(), 100_000);
        }
    }));
    for node in 1..4u32 {
        let s = sim.clone();
        tasks.push(Box::pin(async move {
            let c = connect(&s, node, sa(0, 80)).await.unwrap();
            write_all(&s, c, &pattern(100_000, u64::from(node))).await.unwrap();
            let u = udp_bound(&s, node, 0);
            for _ in 0..50 {
                udp_send(&s, u, sa((node % 3) + 1, 9), b"noise");
            }
        }));
    }
    run(&sim, tasks);

    sim.lock().trace().digest_hex()
}

#[test]
fn same_seed_same_trace_different_seed_different_trace() {
    let a = digest(7);
    assert_eq!(a, digest(7));
    assert_ne!(a, digest(8));
}
