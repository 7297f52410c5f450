//! The shard transport against a real redis-server: frames of every window
//! arrive complete and in order, runs sharing a server stay apart, every way
//! of getting stuck (abort, dead server, silent peer, Ctrl-C) ends a waiting
//! shard promptly with its reason, a call whose reply is lost neither
//! duplicates nor loses frames, and a run's jobs go round trip and clean up.

#[path = "support/redis.rs"]
mod redis_server;

use redis_server::RedisServer;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};
use tg_wasm::shard::{Heartbeat, JobBoard, JobError, MailboxError, MailboxPolicy, ShardMailbox, ShardTicket};
use tg_wasm::sync::redis::RetryPolicy;

/// What shard `from` sends shard `to` in `window`: distinct per triple, and
/// sometimes large, so that a frame in the wrong slot or cut short shows.
fn payload(run: &str, window: u64, from: u32, to: u32) -> Vec<u8> {
    let mut p = format!("{run} w{window} {from}->{to}").into_bytes();
    if window % 7 == 3 {
        p.extend((0..100_000u32).map(|i| (i as u64 ^ window) as u8));
    }
    p
}

fn connect(server: &RedisServer, run: &str, index: u32, count: u32) -> ShardMailbox {
    ShardMailbox::connect(&server.url(), run, index, count, MailboxPolicy::default()).expect("connect")
}

/// Runs `windows` on shard `index` of `count`, checking every frame received.
fn run_windows(mut mb: ShardMailbox, run: &str, windows: impl Iterator<Item = u64>) -> ShardMailbox {
    let (i, count) = (mb.index(), mb.count());
    for w in windows {
        let out = (0..count).map(|d| if d == i { vec![] } else { payload(run, w, i, d) }).collect();
        let got = mb.exchange(w, out).unwrap_or_else(|e| panic!("shard {i} window {w}: {e}"));
        assert_eq!(got.len(), count as usize);
        for (from, frame) in got.iter().enumerate() {
            let expected = if from as u32 == i { vec![] } else { payload(run, w, from as u32, i) };
            assert!(*frame == expected, "shard {i} window {w}: wrong frame from shard {from}");
        }
    }
    mb
}

/// Waits (at most 10 s) until `cond` holds.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let started = Instant::now();
    while !cond() {
        assert!(started.elapsed() < Duration::from_secs(10), "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn llen(server: &RedisServer, key: &str) -> u64 {
    server.query(&["LLEN", key]).expect("LLEN")
}

#[test]
fn frames_of_three_shards_arrive_complete_and_ordered_over_many_windows() {
    let server = RedisServer::start();
    let run = "aaaaaaaaaaaa-0000000000000001";
    // Windows need not be consecutive: every shard gives the same increasing ones.
    let windows = || (0..150u64).map(|w| w * 3 + 1);
    let shards: Vec<ShardMailbox> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..3)
            .map(|i| {
                let mb = connect(&server, run, i, 3);
                s.spawn(move || run_windows(mb, run, windows()))
            })
            .collect();
        threads.into_iter().map(|t| t.join().expect("shard thread")).collect()
    });
    for mut mb in shards {
        assert_eq!(mb.duplicates_dropped(), 0);
        mb.close().expect("close");
    }
    assert_eq!(server.dbsize(), 0, "closed shards leave no keys behind");
}

#[test]
fn two_runs_sharing_one_server_do_not_see_each_others_frames() {
    let server = RedisServer::start();
    let runs = ["bbbbbbbbbbbb-0000000000000001", "bbbbbbbbbbbb-0000000000000002"];
    std::thread::scope(|s| {
        for run in runs {
            for i in 0..2 {
                let mb = connect(&server, run, i, 2);
                // run_windows checks that each frame carries its own run's key.
                s.spawn(move || run_windows(mb, run, 0..100));
            }
        }
    });
    assert_eq!(server.dbsize(), 0);
}

#[test]
fn an_aborted_run_ends_every_waiting_shard_promptly_with_the_reason() {
    let server = RedisServer::start();
    let run = "cccccccccccc-0000000000000001";
    let mut shard0 = connect(&server, run, 0, 3);
    std::thread::scope(|s| {
        let waiting: Vec<_> = (1..3)
            .map(|i| {
                let mut mb = connect(&server, run, i, 3);
                s.spawn(move || {
                    let err = mb.exchange(0, vec![vec![1]; 3]).expect_err("shard 0 never sends");
                    (err, Instant::now())
                })
            })
            .collect();
        // Both have sent to shard 0, so both are waiting for it.
        wait_for("shards 1 and 2 wait", || llen(&server, &format!("tg:shard:{run}:inbox:0")) == 2);
        shard0.abort("the operator gave up").expect("abort");
        let aborted = Instant::now();
        for t in waiting {
            let (err, ended) = t.join().unwrap();
            assert!(
                matches!(&err, MailboxError::Aborted { reason, .. } if reason == "shard 0: the operator gave up"),
                "{err}"
            );
            assert!(err.to_string().contains("was aborted (shard 0: the operator gave up)"), "{err}");
            let took = ended.saturating_duration_since(aborted);
            assert!(took < Duration::from_secs(2), "a waiting shard ended {took:?} after the abort");
        }
    });
}

#[test]
fn a_silent_peer_or_ctrl_c_ends_the_wait_and_tells_the_others() {
    let server = RedisServer::start();
    let run = "dddddddddddd-0000000000000001";
    let policy = MailboxPolicy { peer_timeout: Duration::from_millis(300), ..MailboxPolicy::default() };
    let mut mb = ShardMailbox::connect(&server.url(), run, 0, 3, policy).unwrap();
    let started = Instant::now();
    let err = mb.exchange(0, vec![vec![]; 3]).expect_err("shards 1 and 2 never send");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    let MailboxError::PeerTimeout { missing, window: 0, .. } = &err else { panic!("{err}") };
    assert_eq!(missing, &vec![1, 2]);
    assert!(err.to_string().contains("heard nothing from shard(s) [1, 2]"), "{err}");
    // It aborted the run, so a peer arriving late stops at once instead of waiting for shard 0.
    let mut late = connect(&server, run, 1, 3);
    let e = late.exchange(0, vec![vec![]; 3]).expect_err("the run was aborted");
    assert!(matches!(&e, MailboxError::Aborted { reason, .. } if reason.starts_with("shard 0: ")), "{e}");

    let run = "dddddddddddd-0000000000000002";
    let mut mb = connect(&server, run, 0, 2);
    let flag = Arc::new(AtomicBool::new(false));
    mb.set_interrupt(flag.clone());
    let started = Instant::now();
    let err = std::thread::scope(|s| {
        let t = s.spawn(|| mb.exchange(0, vec![vec![]; 2]));
        wait_for("shard 0 waits", || llen(&server, &format!("tg:shard:{run}:inbox:1")) == 1);
        flag.store(true, Ordering::Relaxed);
        t.join().unwrap().expect_err("interrupted")
    });
    assert!(matches!(err, MailboxError::Interrupted { index: 0, window: 0, .. }), "{err}");
    assert!(started.elapsed() < Duration::from_secs(3));
    // It asked the others to stop, not aborted the run: a peer is interrupted at its
    // next drain and reports what it has, as the interrupted shard does.
    let mut peer = connect(&server, run, 1, 2);
    let peer_flag = Arc::new(AtomicBool::new(false));
    peer.set_interrupt(peer_flag.clone());
    let _ = peer.exchange(0, vec![vec![]; 2]);
    assert!(peer_flag.load(Ordering::Relaxed), "the peer was told to stop");
    let e = peer.exchange(1, vec![vec![]; 2]).expect_err("the peer stops");
    assert!(matches!(e, MailboxError::Interrupted { index: 1, .. }), "{e}");
}

#[test]
fn killing_redis_while_shards_wait_ends_them_with_the_address() {
    let mut server = RedisServer::start();
    let run = "eeeeeeeeeeee-0000000000000001";
    let port = server.port;
    let (ends, killed_at) = std::thread::scope(|s| {
        let waiting: Vec<_> = (0..2)
            .map(|i| {
                let mut mb = connect(&server, run, i, 3);
                s.spawn(move || {
                    let err = mb.exchange(0, vec![vec![7]; 3]).expect_err("the server dies");
                    (err, Instant::now())
                })
            })
            .collect();
        wait_for("shards 0 and 1 wait", || llen(&server, &format!("tg:shard:{run}:inbox:2")) == 2);
        server.kill();
        let killed_at = Instant::now();
        (waiting.into_iter().map(|t| t.join().unwrap()).collect::<Vec<_>>(), killed_at)
    });
    for (err, ended) in ends {
        let took = ended.saturating_duration_since(killed_at);
        // The default policy: three tries over about two seconds.
        assert!(took < Duration::from_secs(10), "a shard ended {took:?} after the server died");
        assert!(matches!(err, MailboxError::Lost { .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains(&format!("Redis at 127.0.0.1:{port}")), "{msg}");
        assert!(msg.contains("tries"), "it says it retried: {msg}");
    }
}

#[test]
fn an_unreachable_server_is_reported_with_its_address() {
    let port = redis_server::free_port();
    let policy =
        MailboxPolicy { retry: RetryPolicy { backoff: vec![], ..RetryPolicy::default() }, ..Default::default() };
    let url = format!("redis://127.0.0.1:{port}");
    let err = ShardMailbox::connect(&url, "r-1", 0, 2, policy).err().expect("nothing listens there");
    assert!(err.to_string().contains(&format!("cannot reach Redis at 127.0.0.1:{port}")), "{err}");
    let err = ShardMailbox::connect(&url, "a:b", 0, 2, MailboxPolicy::default()).err().expect("a bad run key");
    assert!(matches!(err, MailboxError::InvalidRun(_)), "{err}");
}

/// A TCP proxy in front of the real server that, once armed, drops the next
/// reply coming back from the server and closes that client's connection:
/// the command was executed, but the client never learns it, as when a
/// connection breaks at the worst moment.
struct CutProxy {
    port: u16,
    armed: Arc<AtomicBool>,
    cuts: Arc<AtomicU32>,
}

impl CutProxy {
    fn start(upstream: u16) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (armed, cuts) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU32::new(0)));
        let (a, c) = (armed.clone(), cuts.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let server = TcpStream::connect(("127.0.0.1", upstream)).unwrap();
                let (mut c2s_from, mut c2s_to) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut c2s_from, &mut c2s_to);
                    let _ = c2s_to.shutdown(Shutdown::Write);
                });
                let (a, c) = (a.clone(), c.clone());
                std::thread::spawn(move || {
                    let (mut from, mut to) = (server, client);
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match from.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if a.swap(false, Ordering::SeqCst) {
                            c.fetch_add(1, Ordering::SeqCst);
                            break;
                        }
                        if to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                    let _ = to.shutdown(Shutdown::Both);
                    let _ = from.shutdown(Shutdown::Both);
                });
            }
        });
        CutProxy { port, armed, cuts }
    }
}

#[test]
fn a_lost_reply_neither_duplicates_nor_loses_frames() {
    let server = RedisServer::start();
    let proxy = CutProxy::start(server.port);
    let run = "ffffffffffff-0000000000000001";
    let via_proxy = format!("redis://127.0.0.1:{}/0", proxy.port);
    let shard1 = ShardMailbox::connect(&via_proxy, run, 1, 3, MailboxPolicy::default()).unwrap();
    let shards = std::thread::scope(|s| {
        let others: Vec<_> = [0, 2]
            .into_iter()
            .map(|i| {
                let mb = connect(&server, run, i, 3);
                s.spawn(move || run_windows(mb, run, 0..4))
            })
            .collect();
        // Shard 1's first call both sends its frames and drains the two waiting
        // for it; losing its reply tests both directions at once.
        wait_for("shards 0 and 2 sent to shard 1", || llen(&server, &format!("tg:shard:{run}:inbox:1")) == 2);
        proxy.armed.store(true, Ordering::SeqCst);
        let one = s.spawn(move || run_windows(shard1, run, 0..4));
        let mut shards: Vec<ShardMailbox> = others.into_iter().map(|t| t.join().unwrap()).collect();
        shards.insert(1, one.join().unwrap());
        shards
    });
    assert_eq!(proxy.cuts.load(Ordering::SeqCst), 1, "the reply was cut once");
    let dropped: Vec<u64> = shards.iter().map(ShardMailbox::duplicates_dropped).collect();
    assert_eq!(dropped, vec![1, 0, 1], "the retried send reached shards 0 and 2 twice, and was dropped once each");
}

#[test]
fn a_run_is_published_claimed_fetched_and_collected_and_cleanup_empties_the_server() {
    let server = RedisServer::start();
    let mut board = JobBoard::connect(&server.url(), RetryPolicy::default()).unwrap();
    let run = "111111111111-0000000000000001";
    let other = "222222222222-0000000000000002";
    let plan: Vec<u8> = (0..300_000u32).map(|i| i as u8).collect();
    board.publish_run(run, 3, b"{\"spec\":1}", &plan, 0).unwrap();
    board.publish_run(other, 2, b"{}", b"wasm", 0).unwrap();
    let again = board.publish_run(run, 3, b"{}", b"", 0).expect_err("the key is taken");
    assert!(matches!(again, JobError::AlreadyPublished { .. }), "{again}");

    let tickets: Vec<ShardTicket> =
        (0..3).map(|_| board.claim(Duration::from_secs(1), None).unwrap().expect("a ticket")).collect();
    let expected: Vec<ShardTicket> =
        (0..3).map(|index| ShardTicket { run: run.to_string(), index, count: 3 }).collect();
    assert_eq!(tickets, expected, "tickets come oldest first");

    let fetched = board.fetch_run(run).unwrap();
    assert_eq!((fetched.count, fetched.spec_json.as_slice(), &fetched.plan_wasm), (3, &b"{\"spec\":1}"[..], &plan));

    let results = std::thread::scope(|s| {
        for t in &tickets {
            let url = server.url();
            s.spawn(move || {
                let mut worker = JobBoard::connect(&url, RetryPolicy::default()).unwrap();
                worker.push_result(&t.run, t.index, format!("result {}", t.index).as_bytes()).unwrap();
            });
        }
        let mut results = vec![None; 3];
        board.collect_results(run, &mut results, Duration::from_secs(10), None, || Ok(())).unwrap();
        results
    });
    assert_eq!(results, vec![Some(b"result 0".to_vec()), Some(b"result 1".to_vec()), Some(b"result 2".to_vec())]);

    assert!(board.cleanup(run).unwrap() > 0);
    // The other run's tickets and keys are untouched, and its unclaimed tickets go with it.
    assert_eq!(llen(&server, "tg:shard:queue"), 2);
    assert!(board.fetch_run(other).is_ok());
    board.cleanup(other).unwrap();
    assert_eq!(server.dbsize(), 0, "cleanup leaves nothing behind");
    let err = board.fetch_run(run).expect_err("cleaned up");
    assert!(err.to_string().contains("is not in Redis"), "{err}");

    let started = Instant::now();
    assert_eq!(board.claim(Duration::from_millis(300), None).unwrap(), None);
    assert!(started.elapsed() >= Duration::from_millis(300));
    let flag = AtomicBool::new(true);
    let err = board.claim(Duration::from_secs(60), Some(&flag)).expect_err("interrupted");
    assert!(matches!(err, JobError::Interrupted { .. }), "{err}");
    assert_eq!(server.dbsize(), 0);
}

#[test]
fn a_failed_check_while_collecting_aborts_the_run_for_every_shard() {
    let server = RedisServer::start();
    let mut board = JobBoard::connect(&server.url(), RetryPolicy::default()).unwrap();
    let run = "333333333333-0000000000000001";
    board.publish_run(run, 2, b"{}", b"", 2).unwrap();
    assert_eq!(llen(&server, "tg:shard:queue"), 0, "no tickets without `queue`");
    let mut shard = connect(&server, run, 0, 2);
    let (collected, exchanged) = std::thread::scope(|s| {
        let t = s.spawn(move || shard.exchange(0, vec![vec![]; 2]));
        wait_for("shard 0 waits", || llen(&server, &format!("tg:shard:{run}:inbox:1")) == 1);
        let mut turns = 0;
        let collected = board.collect_results(run, &mut [None, None], Duration::from_secs(60), None, || {
            turns += 1;
            if turns < 3 { Ok(()) } else { Err("worker 1 exited with status 101".into()) }
        });
        (collected, t.join().unwrap())
    });
    let err = collected.expect_err("the check failed");
    assert!(matches!(&err, JobError::CheckFailed { reason, .. } if reason.to_string().contains("status 101")), "{err}");
    let err = exchanged.expect_err("the run was aborted");
    assert!(err.to_string().contains("worker 1 exited with status 101"), "{err}");
    board.cleanup(run).unwrap();
    assert_eq!(server.dbsize(), 0);
}

/// A worker that stops beating while its result is missing is gone, wherever
/// it ran: the collector says which shard and aborts the run for the others;
/// one that beats while it works is waited for, however long its result takes.
#[test]
fn a_worker_that_stops_beating_ends_the_collection_and_a_beating_one_is_waited_for() {
    let server = RedisServer::start();
    let limit = Duration::from_millis(600);
    let run = "444444444444-0000000000000001";
    let mut board = JobBoard::connect(&server.url(), RetryPolicy::default()).unwrap().with_silent_limit(limit);
    board.publish_run(run, 2, b"{}", b"", 2).unwrap();
    let beating = Heartbeat::for_shard(&server.url(), run, 0).unwrap();
    let gone = Heartbeat::for_shard(&server.url(), run, 1).unwrap();
    let key = |i: u32| format!("tg:shard:{run}:alive:{i}");
    assert_eq!(server.query::<u64>(&["EXISTS", &key(0), &key(1)]).unwrap(), 2, "a heartbeat beats at once");
    let mut results = vec![None, None];
    let started = Instant::now();
    let collected = std::thread::scope(|s| {
        s.spawn(|| {
            // Shard 1's worker vanishes once the collector has seen it beat (its first
            // look is at once, then one every 200 ms at most); shard 0's goes on
            // beating and sends its result late.
            std::thread::sleep(limit);
            drop(gone);
            std::thread::sleep(limit * 3);
            let mut worker = JobBoard::connect(&server.url(), RetryPolicy::default()).unwrap();
            worker.push_result(run, 0, b"late").unwrap();
        });
        board.collect_results(run, &mut results, Duration::from_secs(60), None, || Ok(()))
    });
    let err = collected.expect_err("shard 1 is gone");
    assert!(matches!(err, JobError::WorkerSilent { shard: 1, .. }), "{err}");
    assert!(err.to_string().contains("shard 1") && err.to_string().contains("stopped its heartbeat"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10), "noticed after {:?}", started.elapsed());
    let abort: Option<String> = server.query(&["GET", &format!("tg:shard:{run}:abort")]).unwrap();
    assert!(abort.is_some_and(|r| r.contains("stopped its heartbeat")), "the other shards are told");

    // Beating past the limit without a result is not silence.
    let other = "444444444444-0000000000000002";
    board.publish_run(other, 1, b"{}", b"", 1).unwrap();
    let slow = Heartbeat::for_shard(&server.url(), other, 0).unwrap();
    let mut results = vec![None];
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(limit * 4);
            let mut worker = JobBoard::connect(&server.url(), RetryPolicy::default()).unwrap();
            worker.push_result(other, 0, b"slow").unwrap();
        });
        board.collect_results(other, &mut results, Duration::from_secs(60), None, || Ok(())).unwrap();
    });
    assert_eq!(results, vec![Some(b"slow".to_vec())]);
    drop((beating, slow));
    board.cleanup(run).unwrap();
    board.cleanup(other).unwrap();
    assert_eq!(server.dbsize(), 0, "a stopped heartbeat leaves no key");
}

/// A worker elsewhere that dies between claiming its shard and its first
/// heartbeat (fetching a large plan, say) is noticed as one that dies later:
/// the claim is the shard's first beat.
#[test]
fn a_worker_gone_before_its_heartbeat_started_is_noticed_from_its_claim() {
    let server = RedisServer::start();
    let limit = Duration::from_millis(600);
    let run = "555555555555-0000000000000001";
    let mut board = JobBoard::connect(&server.url(), RetryPolicy::default()).unwrap().with_silent_limit(limit);
    board.publish_run(run, 2, b"{}", b"", 1).unwrap();
    let claimer = JobBoard::connect(&server.url(), RetryPolicy::default()).unwrap().claim(Duration::from_secs(5), None);
    assert_eq!(claimer.unwrap(), Some(ShardTicket { run: run.to_string(), index: 1, count: 2 }));
    // The claimer stops here, never beating; shard 0 (run by the publisher) sends its result.
    let mut results = vec![Some(b"shard 0".to_vec()), None];
    let started = Instant::now();
    let err = board.collect_results(run, &mut results, Duration::from_secs(60), None, || Ok(())).expect_err("gone");
    assert!(matches!(err, JobError::WorkerSilent { shard: 1, .. }), "{err}");
    // The claim's key lapses after a heartbeat's lifetime (6 s), then the limit runs.
    assert!(started.elapsed() < Duration::from_secs(15), "noticed after {:?}", started.elapsed());

    // A ticket whose run is gone by the time it is claimed leaves no key.
    let gone = "555555555555-0000000000000002";
    board.publish_run(gone, 1, b"{}", b"", 0).unwrap();
    server.query::<u64>(&["DEL", &format!("tg:shard:{gone}:count")]).unwrap();
    assert_eq!(board.claim(Duration::from_millis(300), None).unwrap(), None);
    let alive = format!("tg:shard:{gone}:alive:0");
    assert_eq!(server.query::<u64>(&["EXISTS", &alive]).unwrap(), 0, "the dropped claim's beat is taken back");
    board.cleanup(run).unwrap();
    board.cleanup(gone).unwrap();
    assert_eq!(server.dbsize(), 0, "a claim leaves nothing behind");
}

/// Shards watching for their coordinator stop once its heartbeat is gone,
/// even while their frames keep coming, and not while it beats.
#[test]
fn shards_stop_when_their_coordinators_heartbeat_is_gone_and_not_while_it_beats() {
    let server = RedisServer::start();
    let limit = Duration::from_millis(500);
    let policy = MailboxPolicy { coordinator_silence: Some(limit), ..MailboxPolicy::default() };
    // Both shards exchange the same windows, one every `pause` at least: a
    // shard that stopped at another window than its peer would leave it waiting.
    let pause = Duration::from_millis(50);
    let exchange = |run: &'static str, windows: u64| {
        std::thread::scope(|s| {
            let shards: Vec<_> = (0..2)
                .map(|i| {
                    let mut mb = ShardMailbox::connect(&server.url(), run, i, 2, policy.clone()).unwrap();
                    s.spawn(move || {
                        for window in 1..=windows {
                            mb.exchange(window, vec![vec![1]; 2])?;
                            std::thread::sleep(pause);
                        }
                        Ok::<(), MailboxError>(())
                    })
                })
                .collect();
            shards.into_iter().map(|t| t.join().unwrap()).collect::<Vec<_>>()
        })
    };
    // Enough windows to outlast the limit three times over.
    let windows = (limit * 3).as_millis().div_ceil(pause.as_millis()) as u64;

    let beating = "555555555555-0000000000000001";
    let coordinator = Heartbeat::for_coordinator(&server.url(), beating).unwrap();
    for ended in exchange(beating, windows) {
        ended.expect("the coordinator beats");
    }
    drop(coordinator);

    let gone = "555555555555-0000000000000002";
    let started = Instant::now();
    for ended in exchange(gone, windows * 100) {
        let err = ended.expect_err("nobody beats for this run");
        assert!(matches!(err, MailboxError::CoordinatorGone { .. } | MailboxError::Aborted { .. }), "{err}");
    }
    assert!(started.elapsed() < Duration::from_secs(5), "stopped after {:?}", started.elapsed());
}

/// The queue says which shards of a run still wait for a worker, and only that run's.
#[test]
fn the_queue_lists_the_shards_of_a_run_no_worker_has_claimed() {
    let server = RedisServer::start();
    let mut board = JobBoard::connect(&server.url(), RetryPolicy::default()).unwrap();
    let (run, other) = ("888888888888-0000000000000001", "888888888888-0000000000000002");
    board.publish_run(run, 4, b"{}", b"", 1).unwrap();
    board.publish_run(other, 2, b"{}", b"", 0).unwrap();
    assert_eq!(board.queued(run).unwrap(), vec![1, 2, 3]);
    assert_eq!(board.claim(Duration::from_secs(1), None).unwrap().map(|t| t.index), Some(1));
    assert_eq!(board.queued(run).unwrap(), vec![2, 3]);
    assert_eq!(board.queued(other).unwrap(), vec![0, 1]);
    board.cleanup(run).unwrap();
    assert_eq!(board.queued(run).unwrap(), Vec::<u32>::new());
    board.cleanup(other).unwrap();
    assert_eq!(server.dbsize(), 0);
}
