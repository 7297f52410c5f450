//! TCP over the simulated network: timing, throughput, loss recovery,
//! connection outcomes, shutdown and back-pressure, measured in virtual time.

mod common;

use common::*;
use netsim::net::tcp::{RECV_BUFFER, SEND_BUFFER};
use netsim::net::{LinkShape, NetError, NetworkConfig, Shutdown, TcpState};
use netsim::{SimHandle, SimTime, Task};
use std::future::poll_fn;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn shaped(latency_ms: u64, bandwidth: u64, loss: f64) -> NetworkConfig {
    NetworkConfig {
        default: LinkShape { latency: Duration::from_millis(latency_ms), bandwidth, loss, ..LinkShape::default() },
        ..NetworkConfig::default()
    }
}

type Slot<T> = Arc<Mutex<Option<T>>>;

fn slot<T>() -> Slot<T> {
    Arc::new(Mutex::new(None))
}

fn take<T>(s: &Slot<T>) -> T {
    s.lock().unwrap().take().expect("the task stored its result")
}

#[test]
fn connect_and_echo_take_two_latencies() {
    let sim = world(2, 1, shaped(25, 0, 0.0));
    let l = listen(&sim, 1, 7000);
    let result: Slot<(f64, f64)> = slot();
    let (s0, s1, r) = (sim.clone(), sim.clone(), result.clone());
    let client: Task<()> = Box::pin(async move {
        let t0 = now(&s0);
        let c = connect(&s0, 0, sa(1, 7000)).await.unwrap();
        let connect_ms = ms(now(&s0)) - ms(t0);
        let t1 = now(&s0);
        write_all(&s0, c, b"ping").await.unwrap();
        assert_eq!(read_exact(&s0, c, 4).await.unwrap(), b"pong");
        *r.lock().unwrap() = Some((connect_ms, ms(now(&s0)) - ms(t1)));
    });
    let server: Task<()> = Box::pin(async move {
        let c = accept(&s1, l).await;
        assert_eq!(read_exact(&s1, c, 4).await.unwrap(), b"ping");
        write_all(&s1, c, b"pong").await.unwrap();
    });
    run(&sim, vec![client, server]);
    let (connect_ms, rtt_ms) = take(&result);
    assert!((connect_ms - 50.0).abs() <= 0.5, "connect took {connect_ms} ms");
    assert!((rtt_ms - 50.0).abs() <= 0.5, "round trip took {rtt_ms} ms");
}

/// Sends `len` bytes from 0 to 1 and returns (receiver's bytes, virtual seconds from connected to all received).
fn bulk(sim: &SimHandle, len: usize, seed: u64) -> (Vec<u8>, f64) {
    let l = listen(sim, 1, 9000);
    let data = pattern(len, seed);
    let got: Slot<(Vec<u8>, SimTime)> = slot();
    let started: Slot<SimTime> = slot();
    let (s0, s1, g, st) = (sim.clone(), sim.clone(), got.clone(), started.clone());
    let sender: Task<()> = Box::pin(async move {
        let c = connect(&s0, 0, sa(1, 9000)).await.unwrap();
        *st.lock().unwrap() = Some(now(&s0));
        write_all(&s0, c, &data).await.unwrap();
        s0.lock().with_net(|n, cx| n.tcp_shutdown(cx, c, Shutdown::Send)).unwrap();
    });
    let receiver: Task<()> = Box::pin(async move {
        let c = accept(&s1, l).await;
        let bytes = read_to_end(&s1, c).await.unwrap();
        *g.lock().unwrap() = Some((bytes, now(&s1)));
    });
    run(sim, vec![sender, receiver]);
    let (bytes, done) = take(&got);
    let secs = (done.as_nanos() - take(&started).as_nanos()) as f64 / 1e9;
    (bytes, secs)
}

#[test]
fn bulk_transfer_reaches_the_configured_bandwidth() {
    for (bw, latency_ms, len) in [(10_000_000u64, 5, 4 << 20), (100_000_000, 1, 16 << 20)] {
        let sim = world(2, 3, shaped(latency_ms, bw, 0.0));
        let (bytes, secs) = bulk(&sim, len, 1);
        assert_eq!(bytes, pattern(len, 1));
        let goodput = len as f64 * 8.0 / secs;
        let share = goodput / bw as f64;
        eprintln!("bulk {bw} bit/s, {latency_ms} ms: {len} bytes in {secs:.4} s, goodput share {share:.4}");
        // Headers take 40 of every 1500 bytes on the wire, so 97.3% is the ceiling.
        assert!((0.95..=0.974).contains(&share), "{bw} bit/s, {latency_ms} ms: goodput {goodput:.0} = {share:.4}");
        let stats = sim.lock().net().stats();
        assert_eq!(stats.packets_dropped, 0);
    }
}

#[test]
fn five_percent_loss_slows_but_delivers_every_byte_in_order() {
    let len = 1 << 20;
    let clean = world(2, 5, shaped(10, 20_000_000, 0.0));
    let (_, clean_secs) = bulk(&clean, len, 2);
    let lossy = world(2, 5, shaped(10, 20_000_000, 0.05));
    let (bytes, lossy_secs) = bulk(&lossy, len, 2);
    assert_eq!(bytes.len(), len);
    assert!(bytes == pattern(len, 2), "payload differs");
    let stats = lossy.lock().net().stats();
    eprintln!("1 MiB: clean {clean_secs:.3} s, 5% loss {lossy_secs:.3} s, {} drops", stats.packets_dropped);
    assert!(stats.packets_dropped > 30, "only {} drops", stats.packets_dropped);
    assert!(lossy_secs > clean_secs * 1.2, "lossy {lossy_secs:.3}s vs clean {clean_secs:.3}s");
}

#[test]
fn connection_outcomes_follow_linux() {
    use netsim::net::{Filter, LinkRule};
    // Node 0 rejects traffic to node 2 and drops traffic to node 3; node 1 listens on 80 only.
    let rule =
        |node: u32, filter| LinkRule { subnet: sa(node, 0).ip(), prefix: 32, shape: LinkShape::default(), filter };
    let mut cfg = shaped(20, 0, 0.0);
    let sim = world(5, 1, cfg.clone());
    cfg.rules = vec![rule(2, Filter::Reject), rule(3, Filter::Drop)];
    sim.lock().with_net(|n, cx| n.configure(cx, netsim::NodeId(0), cfg));
    let _l = listen(&sim, 1, 80);
    let outcomes: Slot<Vec<(Result<(), NetError>, f64)>> = slot();
    let (s0, o) = (sim.clone(), outcomes.clone());
    let client: Task<()> = Box::pin(async move {
        let mut v = Vec::new();
        for dst in [sa(1, 80), sa(1, 81), sa(2, 80), sa(3, 80), sa(9, 80), "10.0.0.1:80".parse().unwrap()] {
            let t0 = now(&s0);
            let r = connect(&s0, 0, dst).await.map(|_| ());
            v.push((r, (ms(now(&s0)) - ms(t0)) / 1000.0));
        }
        *o.lock().unwrap() = Some(v);
    });
    let idle = || -> Task<()> { Box::pin(async {}) };
    run(&sim, vec![client, idle(), idle(), idle(), idle()]);
    let v = take(&outcomes);
    assert_eq!(v[0], (Ok(()), 0.04), "listening port");
    assert_eq!(v[1], (Err(NetError::ConnectionRefused), 0.04), "closed port: RST after a round trip");
    assert_eq!(v[2], (Err(NetError::ConnectionRefused), 0.0), "reject: at once");
    assert_eq!(v[3], (Err(NetError::Timeout), 15.0), "drop: SYN retries, then timeout");
    assert_eq!(v[4], (Err(NetError::RemoteUnreachable), 3.0), "no such instance");
    assert_eq!(v[5], (Err(NetError::RemoteUnreachable), 0.0), "outside the data network");
}

/// TCP sockets bind as with `SO_REUSEADDR` and `SO_REUSEPORT`: a second
/// socket may bind a listener's port (to dial from it), but not listen on it.
/// UDP ports stay exclusive.
#[test]
fn a_second_listener_on_a_port_is_address_in_use() {
    let sim = world(1, 1, NetworkConfig::default());
    let _l = listen(&sim, 0, 80);
    let mut s = sim.lock();
    let net = s.net_mut();
    let b = net.tcp_socket(netsim::NodeId(0)).unwrap();
    assert_eq!(net.tcp_bind(b, sa(0, 80)), Ok(sa(0, 80)));
    assert_eq!(net.tcp_listen(b), Err(NetError::AddressInUse));
    assert_eq!(net.tcp_bind(b, sa(0, 81)), Err(NetError::InvalidState), "already bound");
    let e = net.tcp_socket(netsim::NodeId(0)).unwrap();
    let any = net.tcp_bind(e, sa(0, 0)).unwrap();
    assert!(any.port() >= 49152 && any.port() != 80, "an ephemeral port is one nobody uses");
    let c = net.tcp_socket(netsim::NodeId(0)).unwrap();
    assert_eq!(net.tcp_bind(c, sa(1, 80)), Err(NetError::AddressNotBindable));
    let u1 = net.udp_socket(netsim::NodeId(0)).unwrap();
    let u2 = net.udp_socket(netsim::NodeId(0)).unwrap();
    net.udp_bind(u1, sa(0, 80)).unwrap();
    assert_eq!(net.udp_bind(u2, sa(0, 80)), Err(NetError::AddressInUse));
}

#[test]
fn fin_gives_eof_after_data_and_half_close_keeps_the_other_direction() {
    let sim = world(2, 1, shaped(5, 0, 0.0));
    let l = listen(&sim, 1, 80);
    let log: Slot<Vec<String>> = slot();
    let (s0, s1, lg) = (sim.clone(), sim.clone(), log.clone());
    let client: Task<()> = Box::pin(async move {
        let c = connect(&s0, 0, sa(1, 80)).await.unwrap();
        write_all(&s0, c, b"request").await.unwrap();
        s0.lock().with_net(|n, cx| n.tcp_shutdown(cx, c, Shutdown::Send)).unwrap();
        assert_eq!(s0.lock().net_mut().tcp_check_write(c), Err(NetError::InvalidState), "write after shutdown");
        let reply = read_to_end(&s0, c).await.unwrap();
        assert_eq!(reply, b"response");
        s0.lock().with_net(|n, cx| n.close(cx, c));
        let after = s0.lock().with_net(|n, cx| n.tcp_read(cx, c, 10));
        *lg.lock().unwrap() = Some(vec![format!("{after:?}")]);
    });
    let server: Task<()> = Box::pin(async move {
        let c = accept(&s1, l).await;
        assert_eq!(read_to_end(&s1, c).await.unwrap(), b"request");
        // End of stream stays end of stream.
        assert_eq!(s1.lock().with_net(|n, cx| n.tcp_read(cx, c, 10)), Ok(None));
        write_all(&s1, c, b"response").await.unwrap();
        s1.lock().with_net(|n, cx| n.close(cx, c));
    });
    run(&sim, vec![client, server]);
    assert_eq!(take(&log), vec!["Err(InvalidState)".to_string()]);
}

/// A reset fails the peer's next read or write once, as Linux's `sk_err`
/// does; after that reads see end of stream and writes a closed connection.
#[test]
fn reset_fails_the_peers_next_operation_once() {
    let sim = world(2, 1, shaped(5, 0, 0.0));
    let l = listen(&sim, 1, 80);
    type Seen =
        (Result<Option<Vec<u8>>, NetError>, Result<usize, NetError>, Result<Option<Vec<u8>>, NetError>, TcpState);
    let seen: Slot<Seen> = slot();
    let (s0, s1, sn) = (sim.clone(), sim.clone(), seen.clone());
    let client: Task<()> = Box::pin(async move {
        let c = connect(&s0, 0, sa(1, 80)).await.unwrap();
        s0.lock().with_net(|n, cx| n.tcp_reset(cx, c)).unwrap();
        assert_eq!(s0.lock().net_mut().tcp_check_write(c), Err(NetError::ConnectionAborted));
    });
    let server: Task<()> = Box::pin(async move {
        let c = accept(&s1, l).await;
        let read = read_some(&s1, c).await;
        let write = s1.lock().with_net(|n, cx| n.tcp_write(cx, c, b"x"));
        let again = s1.lock().with_net(|n, cx| n.tcp_read(cx, c, 10));
        let state = s1.lock().net_mut().tcp_state(c).unwrap();
        *sn.lock().unwrap() = Some((read, write, again, state));
    });
    run(&sim, vec![client, server]);
    let (read, write, again, state) = take(&seen);
    assert_eq!(read, Err(NetError::ConnectionReset));
    assert_eq!(write, Err(NetError::InvalidState), "reported already: EPIPE");
    assert_eq!(again, Ok(None), "reported already: end of stream");
    assert_eq!(state, TcpState::Closed);
}

/// A reset after the peer finished in order (Linux's CLOSE_WAIT) has no
/// error to report: the next write fails as on a closed pipe and reads see
/// the end of stream, as `tcp_reset` leaves `EPIPE` there.
#[test]
fn a_reset_after_the_peers_fin_is_a_broken_pipe_not_a_reset() {
    let sim = world(2, 1, shaped(5, 0, 0.0));
    let l = listen(&sim, 1, 80);
    type Seen = (Result<usize, NetError>, Result<usize, NetError>, Result<Option<Vec<u8>>, NetError>);
    let seen: Slot<Seen> = slot();
    let (s0, s1, sn) = (sim.clone(), sim.clone(), seen.clone());
    let client: Task<()> = Box::pin(async move {
        let c = connect(&s0, 0, sa(1, 80)).await.unwrap();
        assert_eq!(read_some(&s0, c).await, Ok(None), "the server's FIN");
        let first = s0.lock().with_net(|n, cx| n.tcp_write(cx, c, b"x"));
        // The closed server answers with a reset, one round trip later.
        sleep(&s0, 0, Duration::from_millis(20)).await;
        let second = s0.lock().with_net(|n, cx| n.tcp_write(cx, c, b"x"));
        let read = s0.lock().with_net(|n, cx| n.tcp_read(cx, c, 10));
        *sn.lock().unwrap() = Some((first, second, read));
    });
    let server: Task<()> = Box::pin(async move {
        let c = accept(&s1, l).await;
        s1.lock().with_net(|n, cx| n.close(cx, c));
    });
    run(&sim, vec![client, server]);
    let (first, second, read) = take(&seen);
    assert_eq!(first, Ok(1), "the peer's FIN does not stop this side writing");
    assert_eq!(second, Err(NetError::InvalidState), "EPIPE, not a reset");
    assert_eq!(read, Ok(None), "end of stream");
}

#[test]
fn a_full_send_buffer_pushes_back_until_the_reader_drains() {
    let sim = world(2, 1, shaped(1, 0, 0.0));
    let l = listen(&sim, 1, 80);
    let result: Slot<(usize, usize)> = slot();
    let (s0, s1, r) = (sim.clone(), sim.clone(), result.clone());
    let total = 2 * (SEND_BUFFER + RECV_BUFFER) as usize;
    let client: Task<()> = Box::pin(async move {
        let c = connect(&s0, 0, sa(1, 80)).await.unwrap();
        let data = pattern(total, 9);
        let mut written = 0;
        // Write without waiting until the buffer refuses; let the network settle; repeat.
        for _ in 0..3 {
            while s0.lock().net_mut().tcp_check_write(c).unwrap() > 0 {
                written += s0.lock().with_net(|n, cx| n.tcp_write(cx, c, &data[written..written + 1000])).unwrap();
            }
            sleep(&s0, 0, Duration::from_secs(1)).await;
        }
        let blocked_at = written;
        let writable = poll_fn(|cx| s0.lock().net_mut().poll_writable(c, cx).map(|()| true));
        let still_full = s0.lock().net_mut().tcp_check_write(c).unwrap();
        *r.lock().unwrap() = Some((blocked_at, still_full));
        writable.await;
        write_all(&s0, c, &data[written..]).await.unwrap();
        s0.lock().with_net(|n, cx| n.tcp_shutdown(cx, c, Shutdown::Send)).unwrap();
    });
    let server: Task<()> = Box::pin(async move {
        let c = accept(&s1, l).await;
        sleep(&s1, 1, Duration::from_secs(5)).await;
        let all = read_to_end(&s1, c).await.unwrap();
        assert_eq!(all, pattern(total, 9));
    });
    run(&sim, vec![client, server]);
    let (blocked_at, still_full) = take(&result);
    eprintln!("writer blocked after {blocked_at} bytes");
    assert_eq!(still_full, 0);
    // The receiver's buffer and the sender's both fill: nothing more is accepted.
    let full = (SEND_BUFFER + RECV_BUFFER) as usize;
    assert!(blocked_at >= full - 1000 && blocked_at <= full, "blocked after {blocked_at} bytes");
}

#[test]
fn backlog_limits_pending_connections() {
    let sim = world(3, 1, shaped(5, 0, 0.0));
    let l = listen(&sim, 2, 80);
    sim.lock().net_mut().tcp_set_backlog(l, 1).unwrap();
    let results: Slot<Vec<Result<(), NetError>>> = slot();
    let (s0, s1, r) = (sim.clone(), sim.clone(), results.clone());
    let first: Task<()> = Box::pin(async move {
        connect(&s0, 0, sa(2, 80)).await.unwrap();
    });
    let second: Task<()> = Box::pin(async move {
        // Starts after the first connection sits unaccepted in the backlog.
        sleep(&s1, 1, Duration::from_millis(100)).await;
        let res = connect(&s1, 1, sa(2, 80)).await.map(|_| ());
        *r.lock().unwrap() = Some(vec![res]);
    });
    let server: Task<()> = Box::pin(async {});
    run(&sim, vec![first, second, server]);
    assert_eq!(take(&results), vec![Err(NetError::Timeout)]);
}

#[test]
fn connections_past_the_socket_limit_are_established_and_refused_at_accept_as_on_linux() {
    // Each instance may hold 3 sockets. The server holds its listener and two
    // accepted connections; four clients connect, two from each other instance,
    // and send a byte on each.
    let sim = world(3, 1, shaped(5, 0, 0.0));
    sim.lock().net_mut().set_socket_limit(3);
    let l = listen(&sim, 1, 80);
    let connected: Slot<Vec<bool>> = Arc::new(Mutex::new(Some(Vec::new())));
    let client = |node: u32| -> Task<()> {
        let (s, done) = (sim.clone(), connected.clone());
        Box::pin(async move {
            for _ in 0..2 {
                let c = connect(&s, node, sa(1, 80)).await;
                if let Ok(c) = c {
                    write_all(&s, c, b"x").await.unwrap();
                }
                done.lock().unwrap().as_mut().unwrap().push(c.is_ok());
            }
        })
    };
    // The accept at the limit, whether the refusal was noted, the accept after a close.
    type AtLimit = (Result<(), NetError>, bool, Result<(), NetError>);
    let refused: Slot<AtLimit> = slot();
    let (s, r) = (sim.clone(), refused.clone());
    let server: Task<()> = Box::pin(async move {
        let first = accept(&s, l).await;
        accept(&s, l).await;
        // Every client has connected by now: the handshake does not wait for `accept`.
        sleep(&s, 1, Duration::from_millis(100)).await;
        let at_limit = s.lock().net_mut().tcp_accept(l).map(|_| ());
        let noted = s.lock().net().socket_limit_hit(netsim::NodeId(1));
        // Closed with a byte unread, the connection is reset and gone at once.
        s.lock().with_net(|n, cx| n.close(cx, first));
        let after_close = s.lock().net_mut().tcp_accept(l).map(|_| ());
        *r.lock().unwrap() = Some((at_limit, noted, after_close));
    });
    run(&sim, vec![client(0), server, client(2)]);
    assert_eq!(take(&connected), vec![true; 4], "every connect completes, as on Linux");
    let (at_limit, noted, after_close) = take(&refused);
    assert_eq!(at_limit, Err(NetError::NewSocketLimit), "the accept past the limit is refused");
    assert!(noted, "the refusal is noted for the instance's outcome");
    assert_eq!(after_close, Ok(()), "a socket closed makes room: the queued connection is accepted");
}

#[test]
fn a_syn_ignored_while_as_many_connections_wait_as_the_limit_allows_succeeds_on_its_retry() {
    // A limit of 3: the server holds its listener and two accepted connections,
    // and three more may wait unaccepted. Four clients connect at once: the
    // fourth SYN finds three waiting and is ignored; once two are accepted
    // there is room, and its retry a second later connects.
    let sim = world(5, 1, shaped(5, 0, 0.0));
    sim.lock().net_mut().set_socket_limit(3);
    let l = listen(&sim, 1, 80);
    sim.lock().net_mut().tcp_set_backlog(l, 3).unwrap();
    let connected: Slot<Vec<(u32, f64)>> = Arc::new(Mutex::new(Some(Vec::new())));
    let client = |node: u32| -> Task<()> {
        let (s, done) = (sim.clone(), connected.clone());
        Box::pin(async move {
            connect(&s, node, sa(1, 80)).await.unwrap();
            done.lock().unwrap().as_mut().unwrap().push((node, ms(now(&s))));
        })
    };
    let s = sim.clone();
    let server: Task<()> = Box::pin(async move {
        accept(&s, l).await;
        accept(&s, l).await;
    });
    run(&sim, vec![client(0), server, client(2), client(3), client(4)]);
    let mut connected = take(&connected);
    connected.sort_by(|a, b| a.1.total_cmp(&b.1));
    let times: Vec<f64> = connected.iter().map(|c| c.1).collect();
    assert_eq!(times.len(), 4, "every client connects: {connected:?}");
    assert!(times[..3].iter().all(|&t| (t - 10.0).abs() < 0.5), "three at once: {connected:?}");
    assert!(times[3] > 1000.0 && times[3] < 1100.0, "the fourth on its SYN's retry: {connected:?}");
}

#[test]
fn a_closed_connection_still_finishing_does_not_count_toward_the_socket_limit() {
    // A limit of 2: the server holds its listener and one connection. It
    // closes the first while the peer keeps its side open (the connection
    // waits in FIN_WAIT2), and accepts the second at once, as on Linux,
    // where `close` frees the descriptor whatever the connection still does.
    let sim = world(3, 1, shaped(5, 0, 0.0));
    sim.lock().net_mut().set_socket_limit(2);
    let l = listen(&sim, 1, 80);
    let client = |node: u32| -> Task<()> {
        let s = sim.clone();
        Box::pin(async move {
            let c = connect(&s, node, sa(1, 80)).await.unwrap();
            // Reads the server's end of stream, and keeps its own side open.
            assert_eq!(read_to_end(&s, c).await.unwrap(), b"");
        })
    };
    let accepted: Slot<Result<(), NetError>> = slot();
    let (s, r) = (sim.clone(), accepted.clone());
    let server: Task<()> = Box::pin(async move {
        let first = accept(&s, l).await;
        sleep(&s, 1, Duration::from_millis(50)).await;
        s.lock().with_net(|n, cx| n.close(cx, first));
        sleep(&s, 1, Duration::from_millis(50)).await;
        let second = s.lock().net_mut().tcp_accept(l);
        if let Ok(c) = second {
            s.lock().with_net(|n, cx| n.close(cx, c));
        }
        *r.lock().unwrap() = Some(second.map(|_| ()));
    });
    run(&sim, vec![client(0), server, client(2)]);
    assert_eq!(take(&accepted), Ok(()));
}

#[test]
fn a_close_past_as_many_finishing_connections_as_the_limit_resets() {
    // A limit of 2, so two closed connections may finish at once. The server
    // accepts and closes three while their peers keep their sides open: the
    // first two end with a FIN, the third with a reset.
    let sim = world(4, 1, shaped(5, 0, 0.0));
    sim.lock().net_mut().set_socket_limit(2);
    let l = listen(&sim, 3, 80);
    // Each client's node and how its connection ended.
    type Ends = Vec<(u32, Result<Vec<u8>, NetError>)>;
    let ends: Slot<Ends> = Arc::new(Mutex::new(Some(Vec::new())));
    let client = |node: u32| -> Task<()> {
        let (s, ends) = (sim.clone(), ends.clone());
        Box::pin(async move {
            sleep(&s, node, Duration::from_millis(u64::from(node) * 100)).await;
            let c = connect(&s, node, sa(3, 80)).await.unwrap();
            let end = read_to_end(&s, c).await;
            ends.lock().unwrap().as_mut().unwrap().push((node, end));
        })
    };
    let s = sim.clone();
    let server: Task<()> = Box::pin(async move {
        for _ in 0..3 {
            let c = accept(&s, l).await;
            s.lock().with_net(|n, cx| n.close(cx, c));
        }
    });
    run(&sim, vec![client(0), client(1), client(2), server]);
    let mut ends = take(&ends);
    ends.sort_by_key(|e| e.0);
    assert_eq!(ends, vec![(0, Ok(Vec::new())), (1, Ok(Vec::new())), (2, Err(NetError::ConnectionReset))]);
}
