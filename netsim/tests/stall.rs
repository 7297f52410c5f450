//! A run whose instances all wait while TCP probes closed windows for ever
//! ends as a deadlock soon after its last real event (see `netsim::quiet`),
//! and only then: a reader that comes back, or a window opened without an
//! update, keeps it going.

mod common;

use common::*;
use netsim::net::tcp::{RECV_BUFFER, SEND_BUFFER};
use netsim::net::{LinkShape, NetError, NetworkConfig, SocketId};
use netsim::quiet::STALL_CHECK_INTERVAL;
use netsim::{Executor, NodeId, RunEnd, RunLimits, SimHandle, SimTime, Task, WaitReason};
use std::future::poll_fn;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PORT: u16 = 7000;

fn linked(latency_ms: u64) -> NetworkConfig {
    NetworkConfig {
        default: LinkShape { latency: Duration::from_millis(latency_ms), ..LinkShape::default() },
        ..NetworkConfig::default()
    }
}

/// Writes all of `data`, counting in `written` what the connection took.
async fn write_counting(sim: &SimHandle, id: SocketId, data: &[u8], written: &AtomicU64) -> Result<(), NetError> {
    let mut at = 0;
    while at < data.len() {
        poll_fn(|cx| {
            let mut s = sim.lock();
            s.add_wait(id.node, WaitReason::Socket { id, what: "tcp write" });
            s.net_mut().poll_writable(id, cx)
        })
        .await;
        let n = sim.lock().with_net(|net, cx| net.tcp_write(cx, id, &data[at..]))?;
        at += n;
        written.fetch_add(n as u64, Ordering::Relaxed);
    }
    Ok(())
}

/// Runs `tasks` (one per instance) until the run ends, at most an hour of virtual time.
fn run_for_an_hour(sim: &SimHandle, tasks: Vec<Task<()>>) -> (RunEnd, SimTime, u64) {
    let mut exec = Executor::new(sim.clone());
    for (i, t) in tasks.into_iter().enumerate() {
        exec.spawn(NodeId(i as u32), t);
    }
    let limits =
        RunLimits { virtual_deadline: Some(SimTime::ZERO + Duration::from_secs(3600)), ..RunLimits::default() };
    let end = exec.run(&limits, |_, ()| {});
    let s = sim.lock();
    (end, s.now(), s.events_processed())
}

/// Instances 0 and 1 connect; each runs `side(sim, conn, node)`.
fn pair(sim: &SimHandle, side: impl Fn(SimHandle, SocketId, u32) -> Task<()> + Send + Sync + 'static) -> Vec<Task<()>> {
    let side = Arc::new(side);
    let l = listen(sim, 1, PORT);
    let (s0, s1, a, b) = (sim.clone(), sim.clone(), side.clone(), side);
    vec![
        Box::pin(async move {
            let c = connect(&s0, 0, sa(1, PORT)).await.unwrap();
            a(s0, c, 0).await;
        }),
        Box::pin(async move {
            let c = accept(&s1, l).await;
            b(s1, c, 1).await;
        }),
    ]
}

#[test]
fn two_writers_that_never_read_are_a_deadlock_a_check_interval_after_they_stopped() {
    let sim = world(2, 1, linked(10));
    let written = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let w = written.clone();
    let tasks = pair(&sim, move |sim, c, node| {
        let w = w.clone();
        Box::pin(async move {
            let _ = write_counting(&sim, c, &vec![7; 4 << 20], &w[node as usize]).await;
        })
    });
    let (end, at, events) = run_for_an_hour(&sim, tasks);
    assert_eq!(end, RunEnd::Deadlock, "{:?}", sim.lock().blocked(&[NodeId(0), NodeId(1)]));
    // Each side's send buffer and the other's receive buffer filled; nothing more.
    for w in written.iter() {
        assert_eq!(w.load(Ordering::Relaxed), SEND_BUFFER + RECV_BUFFER);
    }
    // The last write was within a second; the check came one interval after
    // it, and the clock stays at the last probe before the check.
    assert!(at <= SimTime::ZERO + STALL_CHECK_INTERVAL + Duration::from_secs(1), "ended at {at}");
    assert!(events < 2000, "{events} events");
    let blocked = sim.lock().blocked(&[NodeId(0), NodeId(1)]);
    for b in &blocked {
        assert!(b.waits_on.iter().any(|w| w.contains("stopped reading")), "{b:?}");
    }
}

#[test]
fn a_writer_whose_reader_comes_back_after_hours_of_probing_finishes() {
    let sim = world(2, 1, linked(10));
    let got = Arc::new(Mutex::new(0usize));
    let g = got.clone();
    let tasks = pair(&sim, move |sim, c, node| {
        let g = g.clone();
        Box::pin(async move {
            if node == 0 {
                write_all(&sim, c, &vec![1; 2 << 20]).await.unwrap();
                sim.lock().with_net(|net, cx| net.close(cx, c));
            } else {
                // Hours in which only the writer's probes happen: a timer is pending, so no stall.
                sleep(&sim, node, Duration::from_secs(3000)).await;
                *g.lock().unwrap() = read_to_end(&sim, c).await.unwrap().len();
            }
        })
    });
    let (end, at, _) = run_for_an_hour(&sim, tasks);
    assert_eq!(end, RunEnd::Completed);
    assert_eq!(*got.lock().unwrap(), 2 << 20);
    assert!(at > SimTime::ZERO + Duration::from_secs(3000));
}

#[test]
fn room_made_without_a_window_update_is_found_by_a_probe_before_the_run_stalls() {
    // The reader makes room for less than half its buffer, which sends no
    // window update, then waits for ever on a connection nobody writes to.
    // The writer's next probe finds the room; only once it is full again is
    // the run stalled. On a lossy link the probe that would find it may be
    // lost and the next come after the check: the check must see the room.
    const READ: usize = 10_000;
    for seed in 1..=20 {
        let mut net = linked(10);
        net.default.loss = 0.1;
        let sim = world(3, seed, net);
        let written = Arc::new(AtomicU64::new(0));
        let w = written.clone();
        let idle = listen(&sim, 1, PORT + 1);
        let mut tasks = pair(&sim, move |sim, c, node| {
            let w = w.clone();
            Box::pin(async move {
                if node == 0 {
                    let _ = write_counting(&sim, c, &vec![3; 4 << 20], &w).await;
                } else {
                    sleep(&sim, node, Duration::from_secs(600)).await;
                    let mut taken = 0;
                    while taken < READ {
                        let want = READ - taken;
                        let data = sim.lock().with_net(|net, cx| net.tcp_read(cx, c, want)).unwrap();
                        taken += data.expect("the writer has not closed").len();
                    }
                    let quiet = accept(&sim, idle).await;
                    let _ = read_some(&sim, quiet).await;
                }
            })
        });
        let s2 = sim.clone();
        tasks.push(Box::pin(async move {
            // Connects and never writes: the reader waits on it for ever.
            let _c = connect(&s2, 2, sa(1, PORT + 1)).await.unwrap();
            poll_fn(|_| std::task::Poll::<()>::Pending).await;
        }));
        let (end, _, _) = run_for_an_hour(&sim, tasks);
        assert_eq!(end, RunEnd::Deadlock, "seed {seed}");
        assert_eq!(written.load(Ordering::Relaxed), SEND_BUFFER + RECV_BUFFER + READ as u64, "seed {seed}");
    }
}

/// Takes no notice of tasks ending.
struct Ignore;

impl netsim::Supervisor<()> for Ignore {
    fn done(&mut self, _: NodeId, (): ()) {}
}

/// Instance `node` of `n`: of the first `n / 2 * 2`, the first half listen
/// and the second half dial them, and each connection's two ends write 4 MiB
/// without reading, starting a little apart so that their probes spread over
/// time; an odd instance out sleeps for `sleeper`, keeping the run going
/// past the first check.
fn gridlocked(sim: &SimHandle, node: u32, n: u32, sleeper: Duration) -> Task<()> {
    let sim = sim.clone();
    Box::pin(async move {
        let half = n / 2;
        if node >= 2 * half {
            sleep(&sim, node, sleeper).await;
            return;
        }
        let conn = if node < half {
            let l = listen(&sim, node, PORT);
            accept(&sim, l).await
        } else {
            sleep(&sim, node, Duration::from_millis(1500 * u64::from(node - half))).await;
            connect(&sim, node, sa(node - half, PORT)).await.unwrap()
        };
        let _ = write_all(&sim, conn, &vec![node as u8; 4 << 20]).await;
    })
}

#[test]
fn a_stalled_run_split_across_shards_ends_where_the_whole_run_does() {
    // The checks fall at different points of the probing as the sleeper's
    // wake moves: some in the middle of a burst of probes, which a shard
    // that ran its window past the check would take.
    for secs in [75, 85, 95, 105, 115] {
        stalled_alike_whole_and_split(Duration::from_secs(secs));
    }
}

fn stalled_alike_whole_and_split(sleeper: Duration) {
    use netsim::shard::{MemoryLink, ShardLayout, run_shard};
    use netsim::{NodeDigest, Sim, SimConfig, combine_digests};
    // Windows as long as the links are slow, so that the window around a
    // check holds probes: a shard that ran past the check would take them.
    let n = 41;
    let latency = Duration::from_secs(1);
    let config = SimConfig { instances: n, seed: 5, net: linked(1000), ..SimConfig::default() };
    let limits =
        RunLimits { virtual_deadline: Some(SimTime::ZERO + Duration::from_secs(3600)), ..RunLimits::default() };

    let sim = SimHandle::new(Sim::new(config.clone()));
    let mut exec = Executor::new(sim.clone());
    for node in 0..n {
        exec.spawn(NodeId(node), gridlocked(&sim, node, n, sleeper));
    }
    let whole_end = exec.run(&limits, |_, ()| {});
    let whole = {
        let s = sim.lock();
        (s.trace().digest_hex(), s.events_processed(), s.now())
    };
    assert_eq!(whole_end, RunEnd::Deadlock);
    // Not at the first check, a minute in: the sleeper's timer was pending.
    assert!(whole.2 > SimTime::ZERO + sleeper, "ended at {}", whole.2);

    // Two shards, every connection between them, the sleeper on the second.
    let parts: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = MemoryLink::group(2)
            .into_iter()
            .enumerate()
            .map(|(index, mut link)| {
                let config = config.clone();
                let limits = limits.clone();
                scope.spawn(move || {
                    let layout = ShardLayout::new(index as u32, 2, n).unwrap();
                    let mut world = Sim::new(config);
                    world.split(layout);
                    let sim = SimHandle::new(world);
                    let mut exec = Executor::new(sim.clone());
                    for node in layout.nodes() {
                        exec.spawn(NodeId(node), gridlocked(&sim, node, n, sleeper));
                    }
                    let end = run_shard(&mut exec, &mut link, latency, &limits, &mut Ignore);
                    let s = sim.lock();
                    let digests: Vec<NodeDigest> = s.trace().node_digests();
                    (end, digests, s.events_processed(), s.now())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("shard thread")).collect()
    });
    let mut digests: Vec<NodeDigest> = parts.iter().flat_map(|p| p.1.clone()).collect();
    digests.sort_by_key(|d| d.node);
    for p in &parts {
        assert_eq!(
            (&p.0, p.3),
            (&RunEnd::Deadlock, whole.2),
            "sleeper {sleeper:?}: every shard ends where the whole run does"
        );
    }
    let events: u64 = parts.iter().map(|p| p.2).sum();
    assert_eq!((combine_digests(&digests), events), (whole.0, whole.1), "sleeper {sleeper:?}");
}

/// Instance 0 writes more than the connection holds to instance 1, which
/// does not read; at 5 s a partition cuts them apart for good. Instance 1
/// then either sleeps for `reader_sleeps` or, without one, waits for ever
/// on a read. Returns how the run ended, when, and what the write said.
fn writer_cut_off_behind_a_closed_window(reader_sleeps: Option<Duration>) -> (RunEnd, SimTime, Option<NetError>) {
    let sim = world(2, 1, linked(10));
    let cut = netsim::Fault::Paths {
        action: netsim::PathAction::Partition,
        from: vec![NodeId(0)],
        to: vec![NodeId(1)],
        both_ways: true,
    };
    sim.lock().schedule_fault(SimTime::ZERO + Duration::from_secs(5), cut);
    let outcome = Arc::new(Mutex::new(None));
    let o = outcome.clone();
    let tasks = pair(&sim, move |sim, c, node| {
        let o = o.clone();
        Box::pin(async move {
            if node == 0 {
                let written = AtomicU64::new(0);
                *o.lock().unwrap() = write_counting(&sim, c, &vec![3; 4 << 20], &written).await.err();
            } else if let Some(d) = reader_sleeps {
                sleep(&sim, node, d).await;
            } else {
                sleep(&sim, node, Duration::from_secs(10)).await;
                let _ = read_to_end(&sim, c).await;
            }
        })
    });
    let (end, at, _) = run_for_an_hour(&sim, tasks);
    let error = *outcome.lock().unwrap();
    (end, at, error)
}

#[test]
fn a_writer_cut_off_behind_a_closed_window_times_out_as_on_linux() {
    // The reader lives on (it sleeps): the writer's unanswered probes give up.
    let (end, at, error) = writer_cut_off_behind_a_closed_window(Some(Duration::from_secs(3000)));
    assert_eq!(end, RunEnd::Completed);
    assert_eq!(error, Some(NetError::Timeout), "the write fails once the probes go unanswered");
    assert!(at >= SimTime::ZERO + Duration::from_secs(3000), "{at}");
    // Everyone waits: the probes still give up first, and the reader, whose
    // peer went silent without a word, is what is left blocked.
    let (end, at, error) = writer_cut_off_behind_a_closed_window(None);
    assert_eq!(error, Some(NetError::Timeout));
    assert_eq!(end, RunEnd::Deadlock);
    assert!(at < SimTime::ZERO + Duration::from_secs(600), "{at}");
}
