//! Fault injection on the simulated network and on instances: partitions and
//! heals, clogs and releases, crashes and restarts, at virtual times.

mod common;

use common::*;
use netsim::net::{LinkShape, NetworkConfig};
use netsim::{Executor, Fault, NodeId, PathAction, RunEnd, RunLimits, SimTime, Supervisor, Task};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn latency(ms_: u64) -> NetworkConfig {
    NetworkConfig { default: LinkShape::with_latency(Duration::from_millis(ms_)), ..NetworkConfig::default() }
}

fn at(ms_: u64) -> SimTime {
    SimTime::ZERO + Duration::from_millis(ms_)
}

fn paths(action: PathAction, both_ways: bool) -> Fault {
    Fault::Paths { action, from: vec![NodeId(0)], to: vec![NodeId(1)], both_ways }
}

/// Node 0 sends one numbered datagram to node 1 every 10 ms for `n` rounds; returns
/// (sequence number, arrival ms) as node 1 saw them.
fn ticker(faults: Vec<(u64, Fault)>, n: u32) -> Vec<(u32, f64)> {
    let sim = world(2, 1, latency(5));
    for (t, fault) in faults {
        sim.lock().schedule_fault(at(t), fault);
    }
    let tx = udp_bound(&sim, 0, 9);
    let rx = udp_bound(&sim, 1, 9);
    let got = Arc::new(Mutex::new(Vec::new()));
    let (s0, s1, g) = (sim.clone(), sim.clone(), got.clone());
    let sender: Task<()> = Box::pin(async move {
        for i in 0..n {
            udp_send(&s0, tx, sa(1, 9), &i.to_le_bytes());
            sleep(&s0, 0, Duration::from_millis(10)).await;
        }
        sleep(&s0, 0, Duration::from_millis(500)).await;
        udp_send(&s0, tx, sa(1, 9), b"end!!");
    });
    let receiver: Task<()> = Box::pin(async move {
        loop {
            let d = udp_recv(&s1, rx).await;
            if d.data == b"end!!" {
                break;
            }
            g.lock().unwrap().push((u32::from_le_bytes(d.data[..4].try_into().unwrap()), ms(now(&s1))));
        }
    });
    run(&sim, vec![sender, receiver]);
    std::mem::take(&mut *got.lock().unwrap())
}

#[test]
fn partition_drops_until_healed() {
    let got = ticker(vec![(25, paths(PathAction::Partition, true)), (65, paths(PathAction::Heal, true))], 10);
    let seqs: Vec<u32> = got.iter().map(|(s, _)| *s).collect();
    // Sent at 0,10,20 | 30,40,50,60 dropped | 70,80,90 delivered.
    assert_eq!(seqs, vec![0, 1, 2, 7, 8, 9]);
}

#[test]
fn one_way_partition_blocks_only_its_direction() {
    // 1 -> 0 is partitioned; 0 -> 1 still flows.
    let fault =
        Fault::Paths { action: PathAction::Partition, from: vec![NodeId(1)], to: vec![NodeId(0)], both_ways: false };
    assert_eq!(ticker(vec![(0, fault)], 5).len(), 5);
    // Healed after the data but before the end marker, so the receiver can stop.
    let blocked = ticker(vec![(0, paths(PathAction::Partition, false)), (200, paths(PathAction::Heal, false))], 5);
    // Only datagram 0 passes: it was sent at 0 ms, before the fault scheduled for 0 ms
    // was processed (instances runnable at an instant run before that instant's events).
    assert_eq!(blocked.iter().map(|(s, _)| *s).collect::<Vec<_>>(), vec![0]);
}

#[test]
fn clog_holds_traffic_and_release_delivers_it_in_order() {
    let got = ticker(vec![(25, paths(PathAction::Clog, false)), (100, paths(PathAction::Release, false))], 10);
    let seqs: Vec<u32> = got.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (0..10).collect::<Vec<_>>(), "nothing lost, order kept");
    // Datagrams 3..=9 (sent 30..90 ms) were held and arrive one latency after the release.
    for &(seq, t) in &got[3..] {
        assert_eq!(t, 105.0, "datagram {seq} arrived at {t} ms");
    }
    assert_eq!(got[2].1, 25.0);
}

/// Counts how often each node's task starts, finishes, and crashes.
#[derive(Default)]
struct Tally {
    starts: Vec<u32>,
    done: Vec<(u32, SimTime)>,
    crashed: Vec<(u32, SimTime)>,
    sim: Option<netsim::SimHandle>,
}

fn sleeper(sim: netsim::SimHandle, node: u32) -> Task<u32> {
    Box::pin(async move {
        sleep(&sim, node, Duration::from_secs(10)).await;
        node
    })
}

impl Supervisor<u32> for Tally {
    fn done(&mut self, node: NodeId, _: u32) {
        let t = now(self.sim.as_ref().unwrap());
        self.done.push((node.0, t));
    }
    fn crashed(&mut self, node: NodeId) {
        let t = now(self.sim.as_ref().unwrap());
        self.crashed.push((node.0, t));
    }
    fn restart(&mut self, node: NodeId) -> Option<Task<u32>> {
        self.starts.push(node.0);
        Some(sleeper(self.sim.clone().unwrap(), node.0))
    }
}

#[test]
fn crash_ends_a_task_and_restart_runs_it_again_from_scratch() {
    let sim = world(2, 1, latency(1));
    sim.lock().schedule_fault(at(3_000), Fault::Crash(vec![NodeId(1)]));
    sim.lock().schedule_fault(at(20_000), Fault::Restart(vec![NodeId(1)]));
    let mut exec = Executor::new(sim.clone());
    exec.spawn(NodeId(0), sleeper(sim.clone(), 0));
    exec.spawn(NodeId(1), sleeper(sim.clone(), 1));
    let mut tally = Tally { sim: Some(sim.clone()), ..Tally::default() };
    assert_eq!(exec.run_supervised(&RunLimits::default(), &mut tally), RunEnd::Completed);
    assert_eq!(tally.crashed, vec![(1, at(3_000))]);
    assert_eq!(tally.starts, vec![1]);
    // Node 0 finished at 10 s; node 1 restarted at 20 s (after everyone else was done) and slept 10 s more.
    assert_eq!(tally.done, vec![(0, at(10_000)), (1, at(30_000))]);
}

#[test]
fn a_crashed_peer_resets_connections_on_the_next_packet() {
    let sim = world(2, 1, latency(5));
    let listener = listen(&sim, 1, 80);
    let result = Arc::new(Mutex::new(None));
    let (s0, s1, r) = (sim.clone(), sim.clone(), result.clone());
    sim.lock().schedule_fault(at(100), Fault::Crash(vec![NodeId(1)]));
    let client: Task<()> = Box::pin(async move {
        let conn = connect(&s0, 0, sa(1, 80)).await.unwrap();
        write_all(&s0, conn, b"hello").await.unwrap();
        sleep(&s0, 0, Duration::from_millis(200)).await;
        // The server's machine is gone; its empty port answers with a reset.
        let _ = write_all(&s0, conn, b"again").await;
        let outcome = read_some(&s0, conn).await;
        *r.lock().unwrap() = Some(outcome);
    });
    let server: Task<()> = Box::pin(async move {
        let conn = accept(&s1, listener).await;
        let _ = read_exact(&s1, conn, 5).await;
        std::future::pending::<()>().await;
    });
    let mut exec = Executor::new(sim.clone());
    exec.spawn(NodeId(0), client);
    exec.spawn(NodeId(1), server);
    struct Quiet;
    impl Supervisor<()> for Quiet {
        fn done(&mut self, _: NodeId, _: ()) {}
    }
    assert_eq!(exec.run_supervised(&RunLimits::default(), &mut Quiet), RunEnd::Completed);
    let outcome = result.lock().unwrap().take().unwrap();
    assert_eq!(outcome, Err(netsim::NetError::ConnectionReset), "{outcome:?}");
}

#[test]
fn faults_are_traced_and_deterministic() {
    let digest = |seed| {
        let sim = world(2, seed, latency(5));
        sim.lock().schedule_fault(at(10), paths(PathAction::Clog, true));
        sim.lock().schedule_fault(at(20), paths(PathAction::Release, true));
        let tx = udp_bound(&sim, 0, 9);
        let rx = udp_bound(&sim, 1, 9);
        let (s0, s1) = (sim.clone(), sim.clone());
        let a: Task<()> = Box::pin(async move {
            sleep(&s0, 0, Duration::from_millis(12)).await;
            udp_send(&s0, tx, sa(1, 9), b"x");
        });
        let b: Task<()> = Box::pin(async move {
            udp_recv(&s1, rx).await;
        });
        run(&sim, vec![a, b]);
        let s = sim.lock();
        (s.trace().digest_hex(), s.trace().len())
    };
    assert_eq!(digest(1), digest(1));
}

type Moved = (SimTime, Result<std::net::IpAddr, netsim::net::AddressError>);

/// Asks for node 0 to move to `to` and waits to hear how it went.
fn mover(sim: netsim::SimHandle, to: &str) -> Task<Moved> {
    let to: std::net::IpAddr = to.parse().unwrap();
    Box::pin(async move {
        let request = sim.lock().request_address_move(NodeId(0), to);
        let moved = std::future::poll_fn(|cx| sim.lock().poll_address_move(NodeId(0), request, cx)).await;
        (now(&sim), moved)
    })
}

/// Restarts node 0 with a mover to 16.0.7.8, and keeps what each mover heard.
struct Remover {
    sim: netsim::SimHandle,
    heard: Vec<Moved>,
}

impl Supervisor<Moved> for Remover {
    fn done(&mut self, _: NodeId, moved: Moved) {
        self.heard.push(moved);
    }
    fn restart(&mut self, _: NodeId) -> Option<Task<Moved>> {
        Some(mover(self.sim.clone(), "16.0.7.8"))
    }
}

/// An address move takes the sync latency, and answers the request that
/// asked for it: a test case restarted while an earlier move was on its way
/// hears of its own, not of that one.
#[test]
fn an_address_move_answers_its_own_request_even_across_a_restart() {
    let config = netsim::SimConfig {
        instances: 1,
        sync_latency: Duration::from_millis(10),
        net: latency(1),
        ..netsim::SimConfig::default()
    };
    let sim = netsim::SimHandle::new(netsim::Sim::new(config));
    let first: std::net::IpAddr = "16.0.7.7".parse().unwrap();
    // Asked for at 0 ms and due at 10 ms; the test case is crashed at 5 and restarted at 6.
    sim.lock().schedule_fault(at(5), Fault::Crash(vec![NodeId(0)]));
    sim.lock().schedule_fault(at(6), Fault::Restart(vec![NodeId(0)]));
    let mut exec = Executor::new(sim.clone());
    exec.spawn(NodeId(0), mover(sim.clone(), "16.0.7.7"));
    let mut supervisor = Remover { sim: sim.clone(), heard: Vec::new() };
    assert_eq!(exec.run_supervised(&RunLimits::default(), &mut supervisor), RunEnd::Completed);
    // The first move still happened (at 10 ms); the second, asked at 6, is what the restarted case heard.
    assert_eq!(supervisor.heard, vec![(at(16), Ok(first))]);
    assert_eq!(sim.lock().net().ipv4_of(NodeId(0)).to_string(), "16.0.7.8");
}

/// Until its move reaches the network, an instance is reported as waiting on it.
#[test]
fn an_instance_waiting_on_its_address_move_is_reported_so() {
    let config =
        netsim::SimConfig { instances: 1, sync_latency: Duration::from_millis(10), ..netsim::SimConfig::default() };
    let mut sim = netsim::Sim::new(config);
    let request = sim.request_address_move(NodeId(0), "16.0.7.7".parse().unwrap());
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(sim.poll_address_move(NodeId(0), request, &mut cx).is_pending());
    let blocked = sim.blocked(&[NodeId(0)]);
    assert_eq!(blocked[0].waits_on, vec!["its move to 16.0.7.7, due at 0.010000000s".to_string()]);
}
