//! Cases that shape the network through `env.network()` and check, from inside
//! the plan, that plain `std::net` traffic sees exactly what was configured:
//! latency, routing policy, per-subnet rules and filters, bandwidth and loss.
//!
//! Every figure is measured with `Instant` on virtual time, recorded as a
//! result metric (so tests and reports can read it), and checked against the
//! configuration by the plan itself, as Testground's plans did.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use tg_sdk::prelude::*;

use crate::{ROUNDS, TCP_PORT, UDP_PORT, server};

/// The shaping cases, added to `manifest`.
pub fn cases(manifest: Manifest) -> Manifest {
    manifest
        .case(
            TestCase::new("ping-pong-reconfigure", ping_pong_reconfigure)
                .describe(
                    "Testground's ping-pong: both instances configure `latency`, measure the round trip over TCP \
                     and UDP (≈ 2 × latency), reconfigure to `latency2` and measure again",
                )
                .instances(2..=2)
                .param(Param::duration("latency", "100ms").describe("one-way latency of the first phase"))
                .param(Param::duration("latency2", "10ms").describe("one-way latency after reconfiguring"))
                .param(
                    Param::duration("jitter", "0s").describe("jitter of both phases; 0 makes the check exact to 1%"),
                ),
        )
        .case(
            TestCase::new("traffic-allowed", traffic_allowed)
                .describe("routing policy allow-all: a TCP echo and a UDP echo between the two instances work")
                .instances(2..=2),
        )
        .case(
            TestCase::new("traffic-blocked", traffic_blocked)
                .describe("routing policy deny-all: a TCP connect times out and a UDP datagram never arrives")
                .instances(2..=2),
        )
        .case(
            TestCase::new("filters", filters)
                .describe(
                    "instance 1 has rules per /32: reject instance 0, drop instance 2, 50 ms to instance 3, \
                     default 5 ms to instance 4; then a path filter on instance 4",
                )
                .instances(5..=5),
        )
        .case(
            TestCase::new("bandwidth", bandwidth)
                .describe(
                    "instance 1 sends `size` bytes over TCP on a `bandwidth` link; instance 0 measures throughput",
                )
                .instances(2..=2)
                .param(Param::int("bandwidth", 10_000_000).unit("bit/s").describe("link rate of both instances"))
                .param(Param::size("size", "4MiB").describe("bytes to transfer"))
                .param(Param::duration("latency", "5ms").describe("one-way latency")),
        )
        .case(
            TestCase::new("lossy", lossy)
                .describe(
                    "on links losing `loss` of packets: UDP delivery rate over `datagrams` datagrams, then a TCP \
                     transfer of `size` bytes that must arrive whole and in order",
                )
                .instances(2..=2)
                .param(Param::float("loss", 0.05).describe("loss probability of both instances' links"))
                .param(Param::int("datagrams", 12_000).describe("UDP datagrams to send"))
                .param(Param::size("size", "1MiB").describe("bytes to send over TCP"))
                .param(Param::duration("latency", "10ms").describe("one-way latency")),
        )
}

/// Fails unless `measured` is within `tolerance` (a fraction) of `expected`.
fn check_close(what: &str, measured: f64, expected: f64, tolerance: f64) -> tg_sdk::Result<()> {
    if expected == 0.0 {
        // Nothing is within a fraction of nothing but nothing itself.
        ensure!(measured == 0.0, "{what}: measured {measured:.0}, expected exactly 0");
        return Ok(());
    }
    let error = (measured - expected).abs() / expected;
    ensure!(
        error <= tolerance,
        "{what}: measured {measured:.0}, expected {expected:.0} within {:.1}% (off by {:.2}%)",
        tolerance * 100.0,
        error * 100.0
    );
    Ok(())
}

/// Configures this instance's default link and waits until every instance of
/// the run has configured theirs (the callback state is the barrier).
pub(crate) fn configure_all(env: &RunEnv, shape: LinkShape, routing: RoutingPolicy, state: &str) -> tg_sdk::Result<()> {
    env.network().configure(&NetworkConfig {
        default: shape,
        routing,
        callback_state: Some(state.to_string()),
        ..NetworkConfig::default()
    })?;
    env.sync().barrier(state, u64::from(env.test_instance_count()))?;
    Ok(())
}

fn ping_pong_reconfigure(env: &RunEnv) -> tg_sdk::Result<()> {
    let sync = env.sync();
    let net = env.network();
    net.wait_initialized();
    let jitter = env.params().duration("jitter")?;
    let phases = [env.params().duration("latency")?, env.params().duration("latency2")?];
    let server_side = env.global_seq() == 0;
    let (listener, udp) = if server_side {
        (Some(TcpListener::bind(("0.0.0.0", TCP_PORT))?), Some(UdpSocket::bind(("0.0.0.0", UDP_PORT))?))
    } else {
        (None, None)
    };
    for (phase, latency) in phases.into_iter().enumerate() {
        let shape = LinkShape { jitter, ..LinkShape::with_latency(latency) };
        configure_all(env, shape, RoutingPolicy::AllowAll, &format!("configured-{phase}"))?;
        if let (Some(listener), Some(udp)) = (&listener, &udp) {
            let (mut stream, _) = listener.accept()?;
            let mut buf = [0u8; 4];
            for _ in 0..ROUNDS {
                stream.read_exact(&mut buf)?;
                stream.write_all(&buf)?;
            }
            for _ in 0..ROUNDS {
                let mut buf = [0u8; 64];
                let (n, from) = udp.recv_from(&mut buf)?;
                udp.send_to(&buf[..n], from)?;
            }
        } else {
            let start = Instant::now();
            let mut stream = TcpStream::connect(server(TCP_PORT)?)?;
            let connect = start.elapsed();
            let mut tcp = Duration::ZERO;
            for round in 0..ROUNDS {
                let start = Instant::now();
                stream.write_all(&round.to_le_bytes())?;
                let mut buf = [0u8; 4];
                stream.read_exact(&mut buf)?;
                tcp += start.elapsed();
                ensure!(u32::from_le_bytes(buf) == round, "TCP echo {buf:?} for round {round}");
            }
            let udp = UdpSocket::bind(("0.0.0.0", 0))?;
            udp.connect(server(UDP_PORT)?)?;
            let mut udp_total = Duration::ZERO;
            for round in 0..ROUNDS {
                let start = Instant::now();
                udp.send(&round.to_le_bytes())?;
                let mut buf = [0u8; 64];
                let n = udp.recv(&mut buf)?;
                udp_total += start.elapsed();
                ensure!(buf[..n] == round.to_le_bytes(), "UDP echo {:?} for round {round}", &buf[..n]);
            }
            let per_round = |total: Duration| total.as_nanos() as f64 / f64::from(ROUNDS);
            let (tcp_ns, udp_ns, connect_ns) = (per_round(tcp), per_round(udp_total), connect.as_nanos() as f64);
            let tag = format!("{}ms", latency.as_millis());
            env.r().unit("ns").tag("latency", &tag).point("tcp-rtt", tcp_ns);
            env.r().unit("ns").tag("latency", &tag).point("udp-rtt", udp_ns);
            env.r().unit("ns").tag("latency", &tag).point("connect-time", connect_ns);
            env.record_message(format!(
                "latency={tag} tcp-rtt-ns={tcp_ns} udp-rtt-ns={udp_ns} connect-ns={connect_ns}"
            ));
            let expected = 2.0 * latency.as_nanos() as f64;
            // Jitter moves each one-way trip by up to ±jitter; without it the
            // round trip is exact and 1% is the acceptance bound.
            let tolerance = if jitter.is_zero() { 0.01 } else { 2.0 * jitter.as_nanos() as f64 / expected + 0.01 };
            check_close(&format!("TCP round trip at {tag}"), tcp_ns, expected, tolerance)?;
            check_close(&format!("UDP round trip at {tag}"), udp_ns, expected, tolerance)?;
            check_close(&format!("TCP handshake at {tag}"), connect_ns, expected, tolerance)?;
        }
        // Nobody reconfigures while the other is still measuring.
        sync.signal_and_wait(&format!("measured-{phase}"), 2)?;
    }
    Ok(())
}

fn traffic_allowed(env: &RunEnv) -> tg_sdk::Result<()> {
    let shape = LinkShape::with_latency(Duration::from_millis(10));
    configure_all(env, shape, RoutingPolicy::AllowAll, "configured")?;
    let sync = env.sync();
    if env.global_seq() == 0 {
        let listener = TcpListener::bind(("0.0.0.0", TCP_PORT))?;
        let udp = UdpSocket::bind(("0.0.0.0", UDP_PORT))?;
        sync.signal_entry("listening")?;
        let (mut stream, _) = listener.accept()?;
        let mut buf = [0u8; 5];
        stream.read_exact(&mut buf)?;
        stream.write_all(&buf)?;
        let (n, from) = udp.recv_from(&mut buf)?;
        udp.send_to(&buf[..n], from)?;
    } else {
        sync.barrier("listening", 1)?;
        let mut stream = TcpStream::connect(server(TCP_PORT)?)?;
        stream.write_all(b"hello")?;
        let mut buf = [0u8; 5];
        stream.read_exact(&mut buf)?;
        ensure!(&buf == b"hello", "TCP echo {buf:?}");
        let udp = UdpSocket::bind(("0.0.0.0", 0))?;
        udp.send_to(b"hello", server(UDP_PORT)?)?;
        let (n, _) = udp.recv_from(&mut buf)?;
        ensure!(&buf[..n] == b"hello", "UDP echo {:?}", &buf[..n]);
        env.r().counter("exchanges", 2.0);
    }
    sync.signal_and_wait("done", 2)?;
    Ok(())
}

fn traffic_blocked(env: &RunEnv) -> tg_sdk::Result<()> {
    let shape = LinkShape::with_latency(Duration::from_millis(10));
    configure_all(env, shape, RoutingPolicy::DenyAll, "configured")?;
    let sync = env.sync();
    if env.global_seq() == 0 {
        // Listening, so a failure on the other side is the policy's doing.
        let _listener = TcpListener::bind(("0.0.0.0", TCP_PORT))?;
        let _udp = UdpSocket::bind(("0.0.0.0", UDP_PORT))?;
        sync.signal_entry("listening")?;
        sync.signal_and_wait("done", 2)?;
        return Ok(());
    }
    sync.barrier("listening", 1)?;
    let start = Instant::now();
    let connect = TcpStream::connect(server(TCP_PORT)?).map(|_| ()).map_err(|e| e.kind());
    let waited = start.elapsed();
    ensure!(connect == Err(ErrorKind::TimedOut), "connect under deny-all: {connect:?} after {waited:?}");

    let udp = UdpSocket::bind(("0.0.0.0", 0))?;
    udp.send_to(b"hello", server(UDP_PORT)?)?;
    udp.set_nonblocking(true)?;
    // Far beyond any round trip the link could give.
    std::thread::sleep(Duration::from_secs(1));
    let mut buf = [0u8; 16];
    let answer = udp.recv_from(&mut buf).map(|_| ()).map_err(|e| e.kind());
    ensure!(answer == Err(ErrorKind::WouldBlock), "UDP under deny-all: {answer:?}");

    env.r().unit("ns").point("blocked-connect-timeout", waited.as_nanos() as f64);
    env.record_message(format!("connect-timed-out-after-ns={}", waited.as_nanos()));
    sync.signal_and_wait("done", 2)?;
    Ok(())
}

/// The data-network address of instance `seq`, as a `/32` rule subnet.
fn host_subnet(seq: u32) -> String {
    // Instances below 65533 live in 16.0.0.0/16 at offset seq + 2.
    let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(16, 0, 0, 2)) + seq);
    format!("{ip}/32")
}

fn connect_to(seq: u32) -> (Result<TcpStream, ErrorKind>, Duration) {
    let start = Instant::now();
    let stream = TcpStream::connect((format!("instance-{seq}").as_str(), TCP_PORT)).map_err(|e| e.kind());
    (stream, start.elapsed())
}

fn filters(env: &RunEnv) -> tg_sdk::Result<()> {
    let sync = env.sync();
    let me = env.global_seq();
    if me != 1 {
        let listener = TcpListener::bind(("0.0.0.0", TCP_PORT))?;
        sync.signal_entry("listening")?;
        // Accept whatever gets through; the client decides what should have.
        listener.set_nonblocking(true)?;
        let done = sync.subscribe("client-done")?;
        let mut kept = Vec::new();
        while done.try_next().is_none() {
            match listener.accept() {
                Ok((stream, _)) => kept.push(stream),
                Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => return Err(e.into()),
            }
        }
        return Ok(());
    }
    let rule = |seq, filter, latency| LinkRule {
        subnet: host_subnet(seq),
        shape: LinkShape::with_latency(Duration::from_millis(latency)),
        filter,
    };
    env.network().configure(&NetworkConfig {
        default: LinkShape::with_latency(Duration::from_millis(5)),
        rules: vec![rule(0, Filter::Reject, 0), rule(2, Filter::Drop, 0), rule(3, Filter::Accept, 50)],
        ..NetworkConfig::default()
    })?;
    sync.barrier("listening", 4)?;

    let (to0, t0) = connect_to(0);
    ensure!(
        to0.as_ref().err() == Some(&ErrorKind::ConnectionRefused) && t0.is_zero(),
        "reject rule: {:?} after {t0:?}",
        to0.map(|_| ())
    );
    let (to2, t2) = connect_to(2);
    ensure!(to2.as_ref().err() == Some(&ErrorKind::TimedOut), "drop rule: {:?} after {t2:?}", to2.map(|_| ()));
    // A connect costs one round trip: our SYN on our link, their SYN-ACK on
    // theirs, which is unshaped. So it measures exactly our one-way latency.
    let (to3, t3) = connect_to(3);
    ensure!(to3.is_ok() && t3 == Duration::from_millis(50), "50 ms rule: {:?} after {t3:?}", to3.map(|_| ()));
    let (to4, t4) = connect_to(4);
    ensure!(to4.is_ok() && t4 == Duration::from_millis(5), "default link: {:?} after {t4:?}", to4.map(|_| ()));

    // A path filter overrides the rules, and healing it restores them.
    env.network().set_path_filter(1, 4, Some(Filter::Reject))?;
    let (cut, _) = connect_to(4);
    ensure!(cut.as_ref().err() == Some(&ErrorKind::ConnectionRefused), "path filter: {:?}", cut.map(|_| ()));
    env.network().set_path_filter(1, 4, None)?;
    let (healed, th) = connect_to(4);
    ensure!(healed.is_ok() && th == Duration::from_millis(5), "healed path: {:?}", healed.map(|_| ()));

    for (name, t) in [("reject", t0), ("drop", t2), ("rule-50ms", t3), ("default-5ms", t4)] {
        env.r().unit("ns").tag("path", name).point("connect-time", t.as_nanos() as f64);
    }
    env.record_message(format!(
        "reject-ns={} drop-ns={} rule-ns={} default-ns={}",
        t0.as_nanos(),
        t2.as_nanos(),
        t3.as_nanos(),
        t4.as_nanos()
    ));
    sync.publish("client-done", b"")?;
    Ok(())
}

/// FNV-1a, 64 bits: a checksum both ends compute without a dependency.
fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// Pseudo-random stream bytes (xorshift64): a lost, duplicated or reordered
/// segment cannot go unnoticed, unlike with a short repeating pattern.
fn stream_bytes(size: u64, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..size)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

/// Reads the whole stream from one accepted connection; returns the bytes and
/// the virtual time from accept to end of stream.
fn receive_all(listener: &TcpListener) -> tg_sdk::Result<(Vec<u8>, Duration)> {
    let (mut stream, _) = listener.accept()?;
    let start = Instant::now();
    let mut received = Vec::new();
    stream.read_to_end(&mut received)?;
    Ok((received, start.elapsed()))
}

/// A stream's second half: the bytes read after half of the expected size had
/// arrived, and how long they took.
struct SecondHalf {
    bytes: u64,
    took: Duration,
}

/// Reads a connection to its end, noting when half of `expected` bytes had
/// arrived: by then slow start is over, so the rest arrives at the rate the
/// path allows. Returns the bytes, the time from accept to the end, and the
/// second half.
fn receive_timed(listener: &TcpListener, expected: u64) -> tg_sdk::Result<(Vec<u8>, Duration, SecondHalf)> {
    let (mut stream, _) = listener.accept()?;
    let start = Instant::now();
    let mut received = Vec::new();
    let mut half: Option<(usize, Instant)> = None;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        received.extend_from_slice(&buf[..n]);
        if half.is_none() && received.len() as u64 * 2 >= expected {
            half = Some((received.len(), Instant::now()));
        }
    }
    let end = Instant::now();
    let (at, when) = half.unwrap_or((received.len(), end));
    let second = SecondHalf { bytes: (received.len() - at) as u64, took: end - when };
    Ok((received, end - start, second))
}

/// Sends `data` then closes the write side and waits for the peer's close.
fn send_all(addr: SocketAddr, data: &[u8]) -> tg_sdk::Result<()> {
    let mut stream = TcpStream::connect(addr)?;
    stream.write_all(data)?;
    stream.shutdown(std::net::Shutdown::Write)?;
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest)?;
    Ok(())
}

fn bandwidth(env: &RunEnv) -> tg_sdk::Result<()> {
    let sync = env.sync();
    let rate: u64 = env.params().count("bandwidth")?;
    // A link's bandwidth 0 is no limit: nothing to measure the rate against.
    ensure!(
        rate > 0,
        "parameter `bandwidth` = 0 leaves the link unlimited, which this case cannot measure; give a rate in bit/s"
    );
    let size = crate::buffer_size(env)?;
    ensure!(size > 0, "size must be above 0: the rate is measured over the bytes sent");
    let latency = env.params().duration("latency")?;
    let shape = LinkShape { bandwidth: rate, ..LinkShape::with_latency(latency) };
    configure_all(env, shape, RoutingPolicy::AllowAll, "configured")?;
    if env.global_seq() == 0 {
        let listener = TcpListener::bind(("0.0.0.0", TCP_PORT))?;
        sync.signal_entry("listening")?;
        let (received, elapsed, second) = receive_timed(&listener, size)?;
        ensure!(received.len() as u64 == size, "received {} of {size} bytes", received.len());
        ensure!(received == stream_bytes(size, 7), "the stream arrived altered");
        ensure!(
            !second.took.is_zero(),
            "the second half of {size} bytes arrived in one read, too little to measure a rate over; send more"
        );
        // The link's rate is what the second half shows; the whole transfer
        // (goodput) also pays for slow start, a few round trips below it.
        let throughput = second.bytes as f64 * 8.0 / second.took.as_secs_f64();
        let goodput = received.len() as f64 * 8.0 / elapsed.as_secs_f64();
        env.r().unit("bit/s").point("throughput", throughput);
        env.r().unit("bit/s").point("goodput", goodput);
        env.record_message(format!(
            "throughput-bps={throughput:.0} goodput-bps={goodput:.0} elapsed-ns={}",
            elapsed.as_nanos()
        ));
        // Past TCP's 256 KiB window per round trip, the window and not the link bounds the rate.
        let window_bps = 256.0 * 1024.0 * 8.0 / (2.0 * latency.as_secs_f64());
        if let Err(e) = check_close("TCP throughput", throughput, rate as f64, 0.05) {
            if (rate as f64) > window_bps {
                bail!(
                    "{e}: at {latency:?} each way TCP's 256 KiB window carries at most {window_bps:.0} bit/s, \
                     below the link's rate; lower `bandwidth` or `latency` to measure the link"
                );
            }
            return Err(e);
        }
    } else {
        sync.barrier("listening", 1)?;
        send_all(server(TCP_PORT)?, &stream_bytes(size, 7))?;
    }
    sync.signal_and_wait("done", 2)?;
    Ok(())
}

fn lossy(env: &RunEnv) -> tg_sdk::Result<()> {
    let sync = env.sync();
    let loss = env.params().float("loss")?;
    let datagrams: u64 = env.params().count("datagrams")?;
    ensure!(datagrams >= 1, "datagrams must be at least 1: the delivery rate is over them");
    let size = crate::buffer_size(env)?;
    let latency = env.params().duration("latency")?;
    let shape = LinkShape { loss, ..LinkShape::with_latency(latency) };
    configure_all(env, shape, RoutingPolicy::AllowAll, "configured")?;
    let data = stream_bytes(size, 11);
    if env.global_seq() == 0 {
        let udp = UdpSocket::bind(("0.0.0.0", UDP_PORT))?;
        let listener = TcpListener::bind(("0.0.0.0", TCP_PORT))?;
        udp.set_nonblocking(true)?;
        sync.signal_entry("listening")?;
        // Drain every millisecond, as fast as the sender paces, until it says
        // it is done; then once more for what was still in flight.
        let sent = sync.subscribe("udp-sent")?;
        let mut seen = vec![false; datagrams as usize];
        let mut buf = [0u8; 64];
        let mut finished = false;
        loop {
            loop {
                match udp.recv_from(&mut buf) {
                    Ok((8, _)) => {
                        let seq = u64::from_le_bytes(buf[..8].try_into()?);
                        ensure!(seq < datagrams, "datagram {seq} was never sent");
                        seen[seq as usize] = true;
                    }
                    Ok((n, _)) => bail!("a {n}-byte datagram; 8 were sent"),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e.into()),
                }
            }
            if finished {
                break;
            }
            finished = sent.try_next().is_some();
            std::thread::sleep(Duration::from_millis(1));
        }
        let delivered = seen.iter().filter(|&&s| s).count() as f64 / datagrams as f64;
        env.r().point("udp-delivery", delivered);
        let (received, elapsed) = receive_all(&listener)?;
        ensure!(received.len() as u64 == size, "TCP under loss delivered {} of {size} bytes", received.len());
        let checksum = fnv1a(FNV_OFFSET, &received);
        let expected: u64 = sync.subscribe("tcp-checksum")?.next_json()?;
        ensure!(checksum == expected, "TCP checksum {checksum:016x}, sender's {expected:016x}");
        ensure!(received == data, "TCP bytes arrived out of order");
        env.r().counter("tcp-bytes-verified", received.len() as f64);
        env.r().unit("s").point("tcp-transfer-time", elapsed.as_secs_f64());
        env.record_message(format!(
            "udp-delivery={delivered:.4} tcp-bytes={} tcp-checksum={checksum:016x} tcp-transfer-ns={}",
            received.len(),
            elapsed.as_nanos()
        ));
        let expected_rate = 1.0 - loss;
        ensure!(
            (delivered - expected_rate).abs() <= 0.02,
            "UDP delivery {:.2}% at {:.1}% loss, expected {:.2}% ± 2 points",
            delivered * 100.0,
            loss * 100.0,
            expected_rate * 100.0
        );
    } else {
        sync.barrier("listening", 1)?;
        let udp = UdpSocket::bind(("0.0.0.0", 0))?;
        udp.connect(server(UDP_PORT)?)?;
        for seq in 0..datagrams {
            udp.send(&seq.to_le_bytes())?;
            // Ten per millisecond: the receiver's queue never overflows, so
            // every missing datagram is the link's loss.
            if seq % 10 == 9 {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        std::thread::sleep(latency * 2 + Duration::from_millis(10));
        sync.publish("udp-sent", &datagrams.to_le_bytes())?;
        sync.publish_json("tcp-checksum", &fnv1a(FNV_OFFSET, &data))?;
        send_all(server(TCP_PORT)?, &data)?;
    }
    sync.signal_and_wait("done", 2)?;
    Ok(())
}
