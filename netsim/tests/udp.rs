//! UDP over the simulated network: latency, loss rate, duplication,
//! corruption, reordering and receive-queue limits, measured.

mod common;

use common::*;
use netsim::Task;
use netsim::net::{LinkShape, NetError, NetworkConfig};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn with(shape: LinkShape) -> NetworkConfig {
    NetworkConfig { default: shape, ..NetworkConfig::default() }
}

/// Sends `n` numbered datagrams from 0 to 1, one per millisecond, and returns
/// the numbers in arrival order and their payloads.
fn stream(shape: LinkShape, n: u32, seed: u64) -> Vec<(u32, Vec<u8>)> {
    let sim = world(2, seed, with(shape));
    let tx = udp_bound(&sim, 0, 5000);
    let rx = udp_bound(&sim, 1, 5000);
    let got = Arc::new(Mutex::new(Vec::new()));
    let (s0, s1, g) = (sim.clone(), sim.clone(), got.clone());
    let sender: Task<()> = Box::pin(async move {
        for i in 0..n {
            let mut payload = i.to_le_bytes().to_vec();
            payload.extend([0u8; 60]);
            udp_send(&s0, tx, sa(1, 5000), &payload);
            sleep(&s0, 0, Duration::from_millis(1)).await;
        }
        // Let held-back (reordered) datagrams land before the end marker.
        sleep(&s0, 0, Duration::from_millis(100)).await;
        udp_send(&s0, tx, sa(1, 5000), b"end");
    });
    let receiver: Task<()> = Box::pin(async move {
        loop {
            let d = udp_recv(&s1, rx).await;
            if d.data == b"end" {
                break;
            }
            assert_eq!(d.from, sa(0, 5000));
            let seq = u32::from_le_bytes(d.data[..4].try_into().unwrap());
            g.lock().unwrap().push((seq, d.data));
        }
    });
    run(&sim, vec![sender, receiver]);
    std::mem::take(&mut *got.lock().unwrap())
}

#[test]
fn round_trip_is_two_latencies() {
    let sim = world(2, 1, with(LinkShape::with_latency(Duration::from_millis(30))));
    let a = udp_bound(&sim, 0, 1);
    let b = udp_bound(&sim, 1, 2);
    let rtt = Arc::new(Mutex::new(0.0));
    let (s0, s1, r) = (sim.clone(), sim.clone(), rtt.clone());
    let client: Task<()> = Box::pin(async move {
        let t0 = now(&s0);
        udp_send(&s0, a, sa(1, 2), b"ping");
        let d = udp_recv(&s0, a).await;
        assert_eq!(d.data, b"pong");
        *r.lock().unwrap() = ms(now(&s0)) - ms(t0);
    });
    let server: Task<()> = Box::pin(async move {
        let d = udp_recv(&s1, b).await;
        udp_send(&s1, b, d.from, b"pong");
    });
    run(&sim, vec![client, server]);
    let rtt = *rtt.lock().unwrap();
    assert!((rtt - 60.0).abs() <= 0.6, "rtt {rtt} ms");
}

#[test]
fn delivered_share_matches_one_minus_loss() {
    for loss in [0.01, 0.1, 0.3] {
        let n = 12_000;
        let got = stream(LinkShape { loss, ..LinkShape::default() }, n, 11);
        let share = got.len() as f64 / f64::from(n);
        assert!((share - (1.0 - loss)).abs() <= 0.02, "loss {loss}: delivered {share}");
    }
}

#[test]
fn correlated_loss_keeps_its_rate() {
    let n = 12_000;
    let got = stream(LinkShape { loss: 0.1, loss_correlation: 0.7, ..LinkShape::default() }, n, 12);
    let share = got.len() as f64 / f64::from(n);
    assert!((share - 0.9).abs() <= 0.02, "delivered {share}");
}

#[test]
fn duplicates_corruption_and_reordering_happen_at_their_rates() {
    let n = 10_000;
    let dup = stream(LinkShape { duplicate: 0.1, ..LinkShape::default() }, n, 3);
    let extra = dup.len() as f64 / f64::from(n) - 1.0;
    assert!((extra - 0.1).abs() <= 0.02, "duplicated {extra}");

    let bad = stream(LinkShape { corrupt: 0.1, ..LinkShape::default() }, n, 4);
    assert_eq!(bad.len(), n as usize, "UDP delivers corrupted datagrams");
    let mut damaged = 0;
    for (_, data) in &bad {
        // The 60 padding bytes were zero: a flip there shows as exactly one set bit. Flips in the
        // 4-byte sequence number are invisible to this check.
        let bits: u32 = data[4..].iter().map(|b| b.count_ones()).sum();
        assert!(bits <= 1);
        damaged += bits as usize;
    }
    let share = damaged as f64 / f64::from(n);
    // Flips in the sequence number itself are invisible to this check (4 of 64 bytes).
    assert!((share - 0.1 * 60.0 / 64.0).abs() <= 0.02, "corrupted {share}");

    let shape = LinkShape { latency: Duration::from_millis(5), reorder: 0.2, ..LinkShape::default() };
    let re = stream(shape, n, 5);
    assert_eq!(re.len(), n as usize);
    let late = re.windows(2).filter(|w| w[1].0 < w[0].0).count();
    assert!(late > 1000, "only {late} out of order");
}

#[test]
fn a_full_receive_queue_drops_and_big_datagrams_are_refused() {
    let sim = world(2, 1, NetworkConfig::default());
    let tx = udp_bound(&sim, 0, 1);
    let rx = udp_bound(&sim, 1, 2);
    let s0 = sim.clone();
    let sender: Task<()> = Box::pin(async move {
        for _ in 0..10 {
            udp_send(&s0, tx, sa(1, 2), &[0u8; 60_000]);
        }
        let too_big = s0.lock().with_net(|n, cx| n.udp_send_to(cx, tx, Some(sa(1, 2)), &[0u8; 65_508]));
        assert_eq!(too_big, Err(NetError::DatagramTooLarge));
    });
    let idle: Task<()> = Box::pin(async {});
    run(&sim, vec![sender, idle]);
    // The tasks are done; let the datagrams still in flight arrive.
    while sim.lock().step().is_some() {}
    let mut queued = 0;
    while sim.lock().net_mut().udp_try_recv(rx).unwrap().is_some() {
        queued += 1;
    }
    // 212,992 bytes of queue hold three 60,000-byte datagrams.
    assert_eq!(queued, 3);
    assert_eq!(sim.lock().net().stats().packets_dropped, 7);
}

#[test]
fn names_resolve_to_instances_only() {
    let sim = world(3, 1, NetworkConfig::default());
    let s = sim.lock();
    assert_eq!(s.net().resolve("instance-2"), Ok(vec![sa(2, 0).ip()]), "IPv6 is off by default");
    assert_eq!(s.net().resolve("instance-3"), Err(NetError::NameUnresolvable));
    assert_eq!(s.net().resolve("example.com"), Err(NetError::NameUnresolvable));
}

/// A host's sockets are found by number whatever closed between them: the
/// one closed in the middle is gone (its port free again), the others keep
/// their addresses, and a socket opened after gets a number of its own.
#[test]
fn closing_a_socket_between_others_leaves_them_as_they_were() {
    let sim = world(1, 1, NetworkConfig::default());
    let ids: Vec<_> = (1..=4).map(|port| udp_bound(&sim, 0, port)).collect();
    sim.lock().with_net(|net, cx| net.close(cx, ids[1]));
    let mut s = sim.lock();
    let net = s.net_mut();
    let any = |port| std::net::SocketAddr::from(([0, 0, 0, 0], port));
    assert_eq!(net.local_addr(ids[0]), Ok(any(1)));
    assert_eq!(net.local_addr(ids[2]), Ok(any(3)));
    assert_eq!(net.local_addr(ids[3]), Ok(any(4)));
    assert_eq!(net.local_addr(ids[1]), Err(NetError::InvalidState), "closed");
    drop(s);
    let again = udp_bound(&sim, 0, 2);
    assert!(!ids.contains(&again), "a new number, not the closed one's");
    assert_eq!(sim.lock().net_mut().local_addr(again).unwrap().port(), 2);
}
