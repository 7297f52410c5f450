//! A run split across shards gives the whole run's trace digest, records,
//! event count, clock and results, whatever the number of shards: TCP, UDP,
//! sync barriers and topics, jitter and loss, partitions, crashes and restarts.

mod common;

use common::*;
use netsim::net::{LinkShape, NetworkConfig};
use netsim::shard::{MemoryLink, ShardLayout, run_shard};
use netsim::{
    Executor, Fault, NodeDigest, NodeId, PathAction, RunEnd, RunLimits, Sim, SimConfig, SimHandle, SimTime, Supervisor,
    SyncOp, Task, combine_digests,
};
use std::future::poll_fn;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

const PORT: u16 = 80;

fn config(instances: u32, latency_ms: u64) -> SimConfig {
    let shape = LinkShape {
        latency: Duration::from_millis(latency_ms),
        jitter: Duration::from_micros(700),
        loss: 0.02,
        ..LinkShape::default()
    };
    SimConfig {
        instances,
        sync_latency: Duration::from_millis(2),
        keep_trace: true,
        seed: 42,
        net: NetworkConfig { default: shape, ..NetworkConfig::default() },
        limits: netsim::Limits::default(),
    }
}

fn faults() -> Vec<(SimTime, Fault)> {
    let at = |ms: u64| SimTime::ZERO + Duration::from_millis(ms);
    let split =
        |action| Fault::Paths { action, from: vec![NodeId(0)], to: vec![NodeId(1), NodeId(6)], both_ways: true };
    vec![
        (at(15), split(PathAction::Partition)),
        (at(45), split(PathAction::Heal)),
        (at(20), Fault::Crash(vec![NodeId(4)])),
        (at(70), Fault::Restart(vec![NodeId(4)])),
    ]
}

async fn sync(sim: &SimHandle, node: NodeId, op: SyncOp) -> u64 {
    let ticket = sim.lock().submit_sync(node, op).unwrap();
    poll_fn(|cx| sim.lock().poll_sync(ticket, cx)).await.unwrap_or(u64::MAX)
}

/// Polls both futures until both are done.
async fn join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (pin!(a), pin!(b));
    let (mut ra, mut rb) = (None, None);
    poll_fn(|cx| {
        if ra.is_none()
            && let Poll::Ready(v) = a.as_mut().poll(cx)
        {
            ra = Some(v);
        }
        if rb.is_none()
            && let Poll::Ready(v) = b.as_mut().poll(cx)
        {
            rb = Some(v);
        }
        if ra.is_some() && rb.is_some() { Poll::Ready(()) } else { Poll::Pending }
    })
    .await;
    (ra.unwrap(), rb.unwrap())
}

/// `fut`'s output, or `None` if `d` of virtual time passes first.
async fn within<F: Future>(sim: &SimHandle, node: u32, d: Duration, fut: F) -> Option<F::Output> {
    let (mut fut, mut timer) = (pin!(fut), pin!(sleep(sim, node, d)));
    poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        timer.as_mut().poll(cx).map(|()| None)
    })
    .await
}

/// What each instance does; the result sums what it saw, so that outputs are compared too.
fn workload(sim: &SimHandle, node: u32, n: u32) -> Task<u64> {
    let sim = sim.clone();
    Box::pin(async move {
        let me = NodeId(node);
        let listener = listen(&sim, node, PORT);
        let udp = udp_bound(&sim, node, PORT);
        let mut seen = sync(&sim, me, SyncOp::SignalAndWait { state: "ready".into(), target: u64::from(n) }).await;
        if node == 9 {
            // A fault an instance asks for itself, for an instance that another
            // shard hosts: it must land at the same point on every shard.
            let mut s = sim.lock();
            s.request_fault(me, Duration::ZERO, Fault::Crash(vec![NodeId(2)]));
            s.request_fault(me, Duration::from_millis(30), Fault::Restart(vec![NodeId(2)]));
        }
        let payload = pattern(6000 + node as usize * 100, u64::from(node));
        let peer = (node + 1) % n;
        // Bounded: the peer may have crashed without a word.
        let serve = within(&sim, node, Duration::from_secs(3), async {
            let conn = accept(&sim, listener).await;
            read_to_end(&sim, conn).await.map_or(0, |d| d.len() as u64)
        });
        let send = async {
            match connect(&sim, node, sa(peer, PORT)).await {
                Ok(conn) => {
                    let ok = write_all(&sim, conn, &payload).await.is_ok();
                    sim.lock().with_net(|net, cx| net.close(cx, conn));
                    u64::from(ok)
                }
                Err(_) => 7,
            }
        };
        let (got, sent) = join(serve, send).await;
        seen += got.unwrap_or(5) * 3 + sent;
        udp_send(&sim, udp, sa((node + 2) % n, PORT), &node.to_le_bytes());
        sync(&sim, me, SyncOp::Publish { topic: "hello".into(), payload: node.to_le_bytes().to_vec().into() }).await;
        for cursor in 0..3 {
            let msg = poll_fn(|cx| sim.lock().poll_topic(me, "hello", cursor, cx)).await;
            seen += u64::from(msg[0]) << cursor;
        }
        sleep(&sim, node, Duration::from_micros(1500 * u64::from(node))).await;
        if let Ok(Some(d)) = sim.lock().net_mut().udp_try_recv(udp) {
            seen += u64::from(d.data[0]) * 1000;
        }
        // The timer outlives the task by 1 ms: after the last instance ends, the
        // whole run processes nothing more, so a split run must not count it either.
        let done = sync(&sim, me, SyncOp::SignalEntry { state: "done".into() });
        seen + within(&sim, node, Duration::from_millis(5), done).await.unwrap_or(9)
    })
}

struct Restarting<'a> {
    sim: SimHandle,
    n: u32,
    results: &'a mut Vec<(u32, u64)>,
}

impl Supervisor<u64> for Restarting<'_> {
    fn done(&mut self, node: NodeId, output: u64) {
        self.results.push((node.0, output));
    }
    fn crashed(&mut self, node: NodeId) {
        self.results.push((node.0, u64::MAX));
    }
    fn restart(&mut self, node: NodeId) -> Option<Task<u64>> {
        Some(workload(&self.sim, node.0, self.n))
    }
}

/// What a run produced that must not depend on how it was split.
#[derive(Debug, PartialEq)]
struct Observed {
    end: RunEnd,
    digest: String,
    events: u64,
    now: SimTime,
    results: Vec<(u32, u64)>,
    records: netsim::trace::Records,
}

fn whole(config: SimConfig, limits: &RunLimits) -> Observed {
    let n = config.instances;
    let sim = SimHandle::new(Sim::new(config));
    for (at, fault) in faults() {
        sim.lock().schedule_fault(at, fault);
    }
    let mut exec = Executor::new(sim.clone());
    for node in 0..n {
        exec.spawn(NodeId(node), workload(&sim, node, n));
    }
    let mut results = Vec::new();
    let end = exec.run_supervised(limits, &mut Restarting { sim: sim.clone(), n, results: &mut results });
    results.sort();
    let mut s = sim.lock();
    Observed {
        end,
        digest: s.trace().digest_hex(),
        events: s.events_processed(),
        now: s.now(),
        results,
        records: s.trace_mut().take_records().unwrap(),
    }
}

fn split(config: SimConfig, shards: u32, lookahead: Duration, limits: &RunLimits) -> Observed {
    let n = config.instances;
    let links = MemoryLink::group(shards as usize);
    let parts: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = links
            .into_iter()
            .enumerate()
            .map(|(index, mut link)| {
                let config = config.clone();
                scope.spawn(move || {
                    let layout = ShardLayout::new(index as u32, shards, n).unwrap();
                    let mut world = Sim::new(config);
                    world.split(layout);
                    let sim = SimHandle::new(world);
                    for (at, fault) in faults() {
                        sim.lock().schedule_fault(at, fault);
                    }
                    let mut exec = Executor::new(sim.clone());
                    for node in layout.nodes() {
                        exec.spawn(NodeId(node), workload(&sim, node, n));
                    }
                    let mut results = Vec::new();
                    let mut supervisor = Restarting { sim: sim.clone(), n, results: &mut results };
                    let end = run_shard(&mut exec, &mut link, lookahead, limits, &mut supervisor);
                    let mut s = sim.lock();
                    let digests: Vec<NodeDigest> = s.trace().node_digests();
                    (end, digests, s.events_processed(), s.now(), results, s.trace_mut().take_records().unwrap())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("shard thread")).collect()
    });
    let end = parts[0].0.clone();
    let now = parts[0].3;
    for p in &parts {
        assert_eq!((&p.0, p.3), (&end, now), "every shard ends alike");
    }
    let mut digests: Vec<NodeDigest> = parts.iter().flat_map(|p| p.1.clone()).collect();
    digests.sort_by_key(|d| d.node);
    let mut results: Vec<(u32, u64)> = parts.iter().flat_map(|p| p.4.clone()).collect();
    results.sort();
    let mut records = netsim::trace::Records::default();
    for p in &parts {
        records.append(p.5.clone());
    }
    records.sort();
    Observed { end, digest: combine_digests(&digests), events: parts.iter().map(|p| p.2).sum(), now, results, records }
}

/// Shard `index` of `shards` of a run of `config`'s instances, each running `task`.
fn shard(
    config: SimConfig,
    index: u32,
    shards: u32,
    task: impl Fn(&SimHandle, u32) -> Task<u64>,
) -> (SimHandle, Executor<u64>) {
    let layout = ShardLayout::new(index, shards, config.instances).unwrap();
    let mut world = Sim::new(config);
    world.split(layout);
    let sim = SimHandle::new(world);
    let mut exec = Executor::new(sim.clone());
    for node in layout.nodes() {
        exec.spawn(NodeId(node), task(&sim, node));
    }
    (sim, exec)
}

fn assert_same(a: &Observed, b: &Observed, what: &str) {
    if let Some(d) = netsim::first_divergence(&a.records, &b.records) {
        panic!("{what}: first divergence at record {}: {:?} vs {:?}", d.index, d.left, d.right);
    }
    assert_eq!(a, b, "{what}");
}

#[test]
fn a_split_run_equals_the_whole_run_for_any_number_of_shards() {
    let limits = RunLimits::default();
    let one = whole(config(10, 5), &limits);
    assert_eq!(one.end, RunEnd::Completed);
    assert_eq!(one.results.len(), 12, "nodes 4 and 2 crashed and ran again: {:?}", one.results);
    let crashes: Vec<u32> = one.results.iter().filter(|r| r.1 == u64::MAX).map(|r| r.0).collect();
    assert_eq!(crashes, [2, 4], "{:?}", one.results);
    assert!(one.records.iter().any(|r| r.kind == "net.deliver"), "traffic flowed");
    for shards in [1, 2, 3, 5, 10] {
        let lookahead = Duration::from_millis(2);
        assert_same(&one, &split(config(10, 5), shards, lookahead, &limits), &format!("{shards} shards"));
    }
    assert_ne!(one.digest, whole(SimConfig { seed: 43, ..config(10, 5) }, &limits).digest, "the seed matters");
}

#[test]
fn a_virtual_timeout_stops_every_shard_where_the_whole_run_stops() {
    let limits =
        RunLimits { virtual_deadline: Some(SimTime::ZERO + Duration::from_millis(33)), ..RunLimits::default() };
    let one = whole(config(8, 4), &limits);
    assert_eq!(one.end, RunEnd::VirtualTimeout);
    assert_same(&one, &split(config(8, 4), 3, Duration::from_millis(2), &limits), "timeout");
}

#[test]
fn a_run_whose_events_pass_the_end_of_virtual_time_ends_there_split_or_whole() {
    // A sync latency of 400 years: an operation reaches the service at 400
    // years and its reply would come back after the clock's end (584 years).
    // Windows as long as the latency used to reach the end of time and stay
    // there, never moving on.
    let latency = Duration::from_secs(400 * 365 * 24 * 3600);
    let cfg = SimConfig { sync_latency: latency, ..config(4, 5) };
    let run = |sim: &SimHandle, node: u32| -> Task<u64> {
        let sim = sim.clone();
        Box::pin(async move {
            sync(&sim, NodeId(node), SyncOp::SignalAndWait { state: "first".into(), target: 4 }).await;
            sync(&sim, NodeId(node), SyncOp::SignalAndWait { state: "second".into(), target: 4 }).await
        })
    };
    let sim = SimHandle::new(Sim::new(cfg.clone()));
    let mut exec = Executor::new(sim.clone());
    for node in 0..4 {
        exec.spawn(NodeId(node), run(&sim, node));
    }
    assert_eq!(exec.run(&RunLimits::default(), |_, _| {}), RunEnd::VirtualTimeout);
    let whole_now = sim.lock().now();
    assert_eq!(whole_now, SimTime::ZERO + latency);
    let blocked = sim.lock().blocked(&exec.unfinished());
    assert_eq!(blocked.len(), 4);
    for b in &blocked {
        assert_eq!(b.waits_on_kind, vec!["the sync service's reply".to_string()], "{b:?}");
    }
    // On a thread of its own, so that a run that never ends fails the test
    // instead of hanging it.
    let (done, ends) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let links = MemoryLink::group(2);
        let ends: Vec<(RunEnd, SimTime)> = std::thread::scope(|scope| {
            let handles: Vec<_> = links
                .into_iter()
                .enumerate()
                .map(|(index, mut link)| {
                    let cfg = cfg.clone();
                    scope.spawn(move || {
                        let (sim, mut exec) = shard(cfg, index as u32, 2, run);
                        let mut supervisor = Restarting { sim: sim.clone(), n: 4, results: &mut Vec::new() };
                        let end = run_shard(&mut exec, &mut link, latency, &RunLimits::default(), &mut supervisor);
                        let now = sim.lock().now();
                        (end, now)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("shard thread")).collect()
        });
        let _ = done.send(ends);
    });
    let ends = ends.recv_timeout(Duration::from_secs(60)).expect("the split run ended");
    assert_eq!(ends, vec![(RunEnd::VirtualTimeout, whole_now); 2]);
}

#[test]
fn a_deadlock_is_found_by_all_shards_at_the_same_time() {
    // Ten instances wait for eleven at the barrier.
    let run = |sim: &SimHandle, node: u32| -> Task<u64> {
        let sim = sim.clone();
        Box::pin(async move {
            sleep(&sim, node, Duration::from_millis(u64::from(node))).await;
            sync(&sim, NodeId(node), SyncOp::SignalAndWait { state: "never".into(), target: 11 }).await
        })
    };
    let cfg = config(10, 5);
    let sim = SimHandle::new(Sim::new(cfg.clone()));
    let mut exec = Executor::new(sim.clone());
    for node in 0..10 {
        exec.spawn(NodeId(node), run(&sim, node));
    }
    assert_eq!(exec.run(&RunLimits::default(), |_, _| {}), RunEnd::Deadlock);
    let whole_now = sim.lock().now();
    let links = MemoryLink::group(4);
    std::thread::scope(|scope| {
        for (index, mut link) in links.into_iter().enumerate() {
            let cfg = cfg.clone();
            scope.spawn(move || {
                let (sim, mut exec) = shard(cfg, index as u32, 4, run);
                let end = run_shard(
                    &mut exec,
                    &mut link,
                    Duration::from_millis(2),
                    &RunLimits::default(),
                    &mut Restarting { sim: sim.clone(), n: 10, results: &mut Vec::new() },
                );
                assert_eq!(end, RunEnd::Deadlock);
                assert_eq!(sim.lock().now(), whole_now);
                let blocked = sim.lock().blocked(&exec.unfinished());
                assert_eq!(blocked[0].waits_on, vec!["barrier \"never\": 10/11 arrived".to_string()]);
            });
        }
    });
}

#[test]
fn a_packet_faster_than_the_lookahead_ends_the_split_run_with_the_reason() {
    // 1 ms links, but windows of 3 ms: a packet would arrive inside the window it was sent in.
    let limits = RunLimits::default();
    let got = split(
        SimConfig { sync_latency: Duration::from_millis(3), ..config(6, 1) },
        2,
        Duration::from_millis(3),
        &limits,
    );
    let RunEnd::SplitFailed(why) = &got.end else { panic!("expected a split failure, got {:?}", got.end) };
    assert!(why.contains("a packet from instance") && why.contains("lookahead"), "{why}");
}
