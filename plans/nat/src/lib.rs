//! `nat`: hole punching between instances behind simulated NATs, as
//! peer-to-peer programs do on the Internet (ICE, libp2p's DCUtR).
//!
//! Instance 0 is the *observer*, a STUN-like server on the public network:
//! it answers each UDP datagram, and each TCP connection, with the address
//! and port it came from — the sender's public endpoint, as its NAT mapped
//! it. Every other instance is a *peer*, paired with its neighbour (1 with
//! 2, 3 with 4, …). A peer learns its public endpoint from the observer,
//! publishes it to its partner through the sync service (the rendezvous) and
//! reads the partner's, then both punch:
//!
//! - `punch-udp`: both send pings to each other's public endpoint every
//!   `interval`, answer every ping with a pong, and add each address a ping
//!   came from to the addresses they ping (a peer-reflexive candidate, as ICE
//!   does). A side that gets a pong has punched through.
//! - `punch-tcp`: both listen on the port they dial from and dial each
//!   other's public endpoint from it — a simultaneous open through both NATs
//!   — redialling after every failure until `patience` runs out. A side whose
//!   dial connects, or whose listener accepts its partner, has punched
//!   through; the two then exchange a greeting over the connection.
//!
//! A peer that punched through ends `ok`; one that did not fails, saying so.
//! Which NAT each peer sits behind is the composition's business (`[groups.
//! network] nat = { type = … }`); the plan cannot see its type, only what
//! gets through. README.md has the matrix of outcomes.

use std::io::{ErrorKind, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

use tg_sdk::prelude::*;
use tg_sdk::wait::Wait;
use wasip2::clocks::monotonic_clock::subscribe_duration;
use wasip2::io::poll::poll;
use wasip2::io::streams::{InputStream, OutputStream, StreamError};
use wasip2::sockets::instance_network::instance_network;
use wasip2::sockets::network::{ErrorCode, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, Network};
use wasip2::sockets::tcp::TcpSocket;
use wasip2::sockets::tcp_create_socket::create_tcp_socket;

/// The observer's port, UDP and TCP: STUN's (RFC 8489).
const STUN_PORT: u16 = 3478;
/// The port peers punch from.
const PUNCH_PORT: u16 = 6000;

fn manifest() -> Manifest {
    Manifest::new("nat")
        .case(
            TestCase::new("punch-udp", punch_udp)
                .describe("instance 0 observes; pairs of peers (1-2, 3-4, …) punch UDP holes to each other")
                .instances(3..=10_001)
                .param(Param::int("rounds", 20).describe("ping rounds"))
                .param(Param::duration("interval", "100ms").describe("time between ping rounds")),
        )
        .case(
            TestCase::new("punch-tcp", punch_tcp)
                .describe(
                    "instance 0 observes; pairs of peers (1-2, 3-4, …) punch TCP holes to each other by \
                     simultaneous open",
                )
                .instances(3..=10_001)
                .param(Param::duration("patience", "20s").describe("how long a peer keeps dialling"))
                .param(Param::duration("interval", "100ms").describe("time between a failed dial and the next")),
        )
}

tg_sdk::export_plan!(manifest);

/// The observer's address, found by name.
fn observer() -> tg_sdk::Result<SocketAddrV4> {
    let found = ("instance-0", STUN_PORT).to_socket_addrs()?.find_map(|a| match a {
        SocketAddr::V4(v4) => Some(v4),
        SocketAddr::V6(_) => None,
    });
    Ok(found.ok_or("instance-0 has no IPv4 address")?)
}

/// This peer's pair number and partner.
fn pair_of(env: &RunEnv) -> tg_sdk::Result<(u32, u32)> {
    let (n, me) = (env.test_instance_count(), env.global_seq());
    ensure!((n - 1) % 2 == 0, "peers come in pairs: {n} instances are the observer and {} peers", n - 1);
    let partner = if me % 2 == 1 { me + 1 } else { me - 1 };
    Ok(((me - 1) / 2, partner))
}

/// The rendezvous: publishes this peer's public endpoint for its pair and
/// returns the partner's.
fn rendezvous(env: &RunEnv, pair: u32, partner: u32, mine: SocketAddrV4) -> tg_sdk::Result<SocketAddrV4> {
    let sync = env.sync();
    let topic = format!("pair-{pair}");
    sync.publish_json(&topic, &(env.global_seq(), mine.to_string()))?;
    let endpoints = sync.subscribe(&topic)?;
    loop {
        let (seq, addr): (u32, String) = endpoints.next_json()?;
        if seq == partner {
            return Ok(addr.parse()?);
        }
    }
}

/// Instance 0: answers every datagram and connection with where it came from,
/// until every peer said it is done.
fn observe(env: &RunEnv) -> tg_sdk::Result<()> {
    let peers = env.test_instance_count() - 1;
    let udp = UdpSocket::bind(("0.0.0.0", STUN_PORT))?;
    let tcp = TcpListener::bind(("0.0.0.0", STUN_PORT))?;
    udp.set_nonblocking(true)?;
    tcp.set_nonblocking(true)?;
    let done = env.sync().subscribe("done")?;
    env.sync().signal_entry("observing")?;
    let (mut finished, mut answered) = (0, 0u64);
    let mut buf = [0u8; 64];
    while finished < peers {
        Wait::new().readable(&udp).readable(&tcp).message(&done).wait()?;
        loop {
            match udp.recv_from(&mut buf) {
                Ok((_, from)) => {
                    udp.send_to(from.to_string().as_bytes(), from)?;
                    answered += 1;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(e.into()),
            }
        }
        loop {
            match tcp.accept() {
                Ok((mut stream, from)) => {
                    stream.set_nonblocking(false)?;
                    stream.write_all(from.to_string().as_bytes())?;
                    answered += 1;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(e.into()),
            }
        }
        while done.try_next().is_some() {
            finished += 1;
        }
    }
    env.d().counter("observations", answered as f64);
    Ok(())
}

/// Waits up to `timeout` for a datagram.
fn recv_within(socket: &UdpSocket, buf: &mut [u8], timeout: Duration) -> tg_sdk::Result<Option<(usize, SocketAddr)>> {
    if Wait::new().readable(socket).timeout(timeout).wait()?.timed_out() {
        return Ok(None);
    }
    match socket.recv_from(buf) {
        Ok(got) => Ok(Some(got)),
        // An ICMP error about an earlier datagram: nothing to read after all.
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn v4(addr: SocketAddr) -> tg_sdk::Result<SocketAddrV4> {
    match addr {
        SocketAddr::V4(a) => Ok(a),
        SocketAddr::V6(a) => bail!("{a} is not an IPv4 address; NATs translate IPv4"),
    }
}

fn punch_udp(env: &RunEnv) -> tg_sdk::Result<()> {
    if env.global_seq() == 0 {
        return observe(env);
    }
    let outcome = udp_peer(env);
    // Whatever happened, the observer must hear this peer is done.
    env.sync().publish("done", &[])?;
    outcome
}

/// The time between tries, refused at zero: a peer that never waits between
/// tries redials or re-sends at one instant, and virtual time stops while it
/// spins.
fn interval_param(env: &RunEnv) -> tg_sdk::Result<Duration> {
    let interval = env.duration_param("interval");
    ensure!(!interval.is_zero(), "interval must be above 0s: a peer that never waits between tries only spins");
    Ok(interval)
}

fn udp_peer(env: &RunEnv) -> tg_sdk::Result<()> {
    let (pair, partner) = pair_of(env)?;
    let rounds: i64 = env.try_count_param("rounds")?;
    let interval = interval_param(env)?;
    let observer = observer()?;
    env.sync().barrier("observing", 1)?;
    let socket = UdpSocket::bind(("0.0.0.0", PUNCH_PORT))?;
    let mut buf = [0u8; 64];
    let mut mine = None;
    // Ask the observer where we come from; a lost answer is asked again.
    for _ in 0..5 {
        socket.send_to(b"who am I", observer)?;
        if let Some((len, from)) = recv_within(&socket, &mut buf, Duration::from_secs(1))?
            && from == SocketAddr::V4(observer)
        {
            mine = Some(std::str::from_utf8(&buf[..len])?.parse::<SocketAddr>()?);
            break;
        }
    }
    let mine = v4(mine.ok_or("the observer never answered")?)?;
    let theirs = rendezvous(env, pair, partner, mine)?;
    let start = Instant::now();
    let mut candidates = vec![SocketAddr::V4(theirs)];
    let mut answered_at = None;
    for _ in 0..rounds {
        for &c in &candidates {
            socket.send_to(b"ping", c)?;
        }
        let round_end = Instant::now() + interval;
        loop {
            let left = round_end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            let Some((len, from)) = recv_within(&socket, &mut buf, left)? else { break };
            match &buf[..len] {
                b"ping" => {
                    socket.send_to(b"pong", from)?;
                    if !candidates.contains(&from) {
                        candidates.push(from);
                    }
                }
                b"pong" if answered_at.is_none() => answered_at = Some(start.elapsed()),
                _ => {}
            }
        }
    }
    report(env, "UDP", mine, theirs, answered_at.map(|t| (t, "ping")))
}

/// What a peer says at the end: `ok` with how it got through, or why it failed.
fn report(
    env: &RunEnv,
    proto: &str,
    mine: SocketAddrV4,
    theirs: SocketAddrV4,
    punched: Option<(Duration, &str)>,
) -> tg_sdk::Result<()> {
    let nat = match env.network().nat_address() {
        Some(public) => format!("behind a NAT at {public}"),
        None => "on the public network".into(),
    };
    match punched {
        Some((after, how)) => {
            env.record_message(format!(
                "{proto}: punched through to {theirs} by {how} after {} ms; {nat}, seen as {mine}",
                after.as_millis()
            ));
            env.r().counter("punched", 1.0);
            Ok(())
        }
        None => bail!("{proto} hole punching failed: nothing came back from {theirs}; {nat}, seen as {mine}"),
    }
}

/// A wasi:sockets error as a plan error.
fn wasi<T>(what: &str, r: Result<T, ErrorCode>) -> tg_sdk::Result<T> {
    r.map_err(|e| format!("{what}: {e:?}").into())
}

fn wasi_addr(a: SocketAddrV4) -> IpSocketAddress {
    let [w, x, y, z] = a.ip().octets();
    IpSocketAddress::Ipv4(Ipv4SocketAddress { port: a.port(), address: (w, x, y, z) })
}

fn std_addr(a: IpSocketAddress) -> Option<SocketAddrV4> {
    match a {
        IpSocketAddress::Ipv4(a) => {
            let (w, x, y, z) = a.address;
            Some(SocketAddrV4::new(Ipv4Addr::new(w, x, y, z), a.port))
        }
        IpSocketAddress::Ipv6(_) => None,
    }
}

/// A TCP socket bound to the punch port (several may share it, as with
/// `SO_REUSEADDR`/`SO_REUSEPORT`: one listens, the others dial from it).
fn bound(net: &Network) -> tg_sdk::Result<TcpSocket> {
    let socket = wasi("creating a socket", create_tcp_socket(IpAddressFamily::Ipv4))?;
    let any = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PUNCH_PORT);
    wasi("binding the punch port", socket.start_bind(net, wasi_addr(any)))?;
    poll(&[&socket.subscribe()]);
    wasi("binding the punch port", socket.finish_bind())?;
    Ok(socket)
}

/// Starts a dial from the punch port to `to`; `None` if a connection
/// between the two endpoints exists already (`address-not-bindable`, Linux's
/// `EADDRNOTAVAIL`): the partner's dial got through to our listener first.
fn dial(net: &Network, to: SocketAddrV4) -> tg_sdk::Result<Option<TcpSocket>> {
    let socket = bound(net)?;
    match socket.start_connect(net, wasi_addr(to)) {
        Ok(()) => Ok(Some(socket)),
        Err(ErrorCode::AddressNotBindable) => Ok(None),
        Err(e) => bail!("dialling: {e:?}"),
    }
}

/// Reads `input` to its end (or `limit` bytes).
fn read_all(input: &InputStream, limit: usize) -> tg_sdk::Result<Vec<u8>> {
    let mut data = Vec::new();
    while data.len() < limit {
        match input.blocking_read((limit - data.len()) as u64) {
            Ok(bytes) => data.extend(bytes),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => bail!("reading: {}", e.to_debug_string()),
        }
    }
    Ok(data)
}

/// A connection that got through: its socket and streams, and how.
struct Punched {
    _streams: (InputStream, OutputStream),
    _socket: TcpSocket,
}

fn punch_tcp(env: &RunEnv) -> tg_sdk::Result<()> {
    if env.global_seq() == 0 {
        return observe(env);
    }
    let outcome = tcp_peer(env);
    env.sync().publish("done", &[])?;
    outcome
}

fn tcp_peer(env: &RunEnv) -> tg_sdk::Result<()> {
    let (pair, partner) = pair_of(env)?;
    let patience = env.duration_param("patience");
    let interval = interval_param(env)?;
    let observer = observer()?;
    env.sync().barrier("observing", 1)?;
    let net = instance_network();
    let listener = bound(&net)?;
    wasi("listening", listener.start_listen())?;
    poll(&[&listener.subscribe()]);
    wasi("listening", listener.finish_listen())?;

    // Where does the punch port come from, as the observer sees it?
    let probe = dial(&net, observer)?.ok_or("a connection to the observer exists already")?;
    let mine = loop {
        poll(&[&probe.subscribe()]);
        match probe.finish_connect() {
            Err(ErrorCode::WouldBlock) => continue,
            r => {
                let (input, output) = wasi("connecting to the observer", r)?;
                let seen = read_all(&input, 64)?;
                drop((input, output));
                break std::str::from_utf8(&seen)?.parse::<SocketAddrV4>()?;
            }
        }
    };
    drop(probe);
    let theirs = rendezvous(env, pair, partner, mine)?;

    let start = Instant::now();
    let mut attempt = dial(&net, theirs)?;
    let mut redial_at = None;
    let punched: Option<(Punched, &str)> = loop {
        if start.elapsed() >= patience {
            break None;
        }
        {
            let timer = subscribe_duration(u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX));
            let accepting = listener.subscribe();
            match &attempt {
                Some(a) => {
                    let dialling = a.subscribe();
                    poll(&[&accepting, &dialling, &timer]);
                }
                None => {
                    poll(&[&accepting, &timer]);
                }
            }
        }
        match listener.accept() {
            Ok((socket, input, output)) => {
                let from = socket.remote_address().ok().and_then(std_addr);
                if from.is_some_and(|f| f.ip() == theirs.ip()) {
                    break Some((Punched { _streams: (input, output), _socket: socket }, "accepting"));
                }
            }
            Err(ErrorCode::WouldBlock) => {}
            Err(e) => bail!("accepting: {e:?}"),
        }
        if let Some(a) = &attempt {
            match a.finish_connect() {
                Err(ErrorCode::WouldBlock) => {}
                Ok(streams) => {
                    let socket = attempt.take().expect("an attempt");
                    break Some((Punched { _streams: streams, _socket: socket }, "dialling"));
                }
                Err(_) => {
                    // Refused or timed out: dial again, after a pause.
                    attempt = None;
                    redial_at = Some(Instant::now() + interval);
                }
            }
        }
        if attempt.is_none() && redial_at.is_some_and(|at| Instant::now() >= at) {
            attempt = dial(&net, theirs)?;
            redial_at = None;
        }
    };
    let outcome = match punched {
        Some((conn, how)) => {
            let (input, output) = &conn._streams;
            wasi("greeting", output.blocking_write_and_flush(b"hello").map_err(|_| ErrorCode::ConnectionReset))?;
            let greeting = read_all(input, 5)?;
            ensure!(greeting == b"hello", "the partner's greeting was {greeting:?}");
            Some((start.elapsed(), how))
        }
        None => None,
    };
    drop(attempt);
    // Both ends keep the connection until both have greeted.
    env.sync().signal_and_wait(&format!("finished-{pair}"), 2)?;
    report(env, "TCP", mine, theirs, outcome)
}
