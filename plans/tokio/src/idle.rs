//! `idle-sockets` and `idle-sockets-poll`: what an instance's open-but-quiet
//! sockets cost its busy one.
//!
//! Instance 1 opens `idle` TCP connections to instance 0, then the two
//! exchange `rounds` UDP round trips over a separate socket. In
//! `idle-sockets` both sides keep a tokio task reading each connection (as a
//! libp2p node keeps its peers' connections), so every one is armed in
//! tokio's reactor, which waits in `poll` over all of them. In
//! `idle-sockets-poll` the same sockets are std's, and each wait is one
//! `poll(2)` over all of them, as an event loop written against `poll(2)`
//! does: the host's and the SDK's share of the cost without tokio's reactor.
//! The cost of a round trip should not grow with `idle` (`cargo bench -p
//! tg-wasm --bench poll` measures both at 1, 10, 100, 1000).

use std::io;
use std::net::{
    Ipv4Addr, SocketAddr, TcpListener as StdTcpListener, TcpStream as StdTcpStream, UdpSocket as StdUdpSocket,
};
use std::os::fd::AsRawFd;
use std::time::Duration;

use tg_sdk::prelude::*;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::time::Instant;

use crate::{exactly, latency_param, runtime, shape};

const TCP_PORT: u16 = 7500;
const UDP_PORT: u16 = 7501;

pub fn cases(manifest: Manifest) -> Manifest {
    let case = |name, run, how| {
        TestCase::new(name, run)
            .describe(format!(
                "instance 1 opens `idle` TCP connections to instance 0, {how}, then the two exchange `rounds` UDP \
                 round trips, each checked to be 2 × latency"
            ))
            .instances(2..=2)
            .param(latency_param())
            .param(Param::int("idle", 100).describe("idle TCP connections between the two"))
            .param(Param::int("rounds", 1000).describe("UDP round trips"))
    };
    manifest.case(case("idle-sockets", idle_sockets, "each read by a tokio task on both sides")).case(case(
        "idle-sockets-poll",
        idle_sockets_poll,
        "std sockets each side waits on in one poll(2) over all of them",
    ))
}

/// Instance `seq`'s address.
fn peer(seq: u8) -> Ipv4Addr {
    Ipv4Addr::new(16, 0, 0, 2 + seq)
}

/// What both cases are given.
struct Workload {
    latency: Duration,
    idle: usize,
    rounds: i64,
}

/// The parameters, checked, once every link is shaped.
fn workload(env: &RunEnv) -> tg_sdk::Result<Workload> {
    let idle = env.try_count_param("idle")?;
    let latency = env.duration_param("latency");
    shape(env, latency)?;
    Ok(Workload { latency, idle, rounds: env.try_count_param("rounds")? })
}

fn idle_sockets(env: &RunEnv) -> tg_sdk::Result<()> {
    let Workload { latency, idle, rounds } = workload(env)?;
    let sync = env.sync_async();
    runtime()?.block_on(async move {
        let udp = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, UDP_PORT)).await?;
        if env.global_seq() == 0 {
            let listener = TcpListener::bind((Ipv4Addr::UNSPECIFIED, TCP_PORT)).await?;
            sync.signal_entry("listening").await?;
            for _ in 0..idle {
                let (stream, _) = listener.accept().await?;
                tokio::spawn(read_forever(stream));
            }
        } else {
            sync.barrier("listening", 1).await?;
            for _ in 0..idle {
                tokio::spawn(read_forever(TcpStream::connect((peer(0), TCP_PORT)).await?));
            }
        }
        sync.signal_and_wait("connected", 2).await?;
        let other = SocketAddr::from((peer(1 - env.global_seq() as u8), UDP_PORT));
        let mut buf = [0u8; 64];
        for round in 0..rounds {
            if env.global_seq() == 0 {
                let start = Instant::now();
                udp.send_to(&round.to_le_bytes(), other).await?;
                let (n, _) = udp.recv_from(&mut buf).await?;
                exactly("a round trip", start.elapsed(), 2 * latency)?;
                ensure!(buf[..n] == round.to_le_bytes(), "round {round} came back changed");
            } else {
                let (n, from) = udp.recv_from(&mut buf).await?;
                udp.send_to(&buf[..n], from).await?;
            }
        }
        Ok(())
    })
}

/// Reads until the connection ends: a quiet connection keeps its task waiting.
async fn read_forever(mut stream: TcpStream) {
    let mut buf = [0u8; 64];
    while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
}

fn idle_sockets_poll(env: &RunEnv) -> tg_sdk::Result<()> {
    let Workload { latency, idle, rounds } = workload(env)?;
    let sync = env.sync();
    let first = env.global_seq() == 0;
    let udp = StdUdpSocket::bind((Ipv4Addr::UNSPECIFIED, UDP_PORT))?;
    let mut idle_streams = Vec::with_capacity(idle);
    if first {
        let listener = StdTcpListener::bind((Ipv4Addr::UNSPECIFIED, TCP_PORT))?;
        sync.signal_entry("listening")?;
        for _ in 0..idle {
            idle_streams.push(listener.accept()?.0);
        }
    } else {
        sync.barrier("listening", 1)?;
        for _ in 0..idle {
            idle_streams.push(StdTcpStream::connect((peer(0), TCP_PORT))?);
        }
    }
    sync.signal_and_wait("connected", 2)?;
    udp.set_nonblocking(true)?;
    // The UDP socket first, then every idle connection, each waited on for input:
    // the one array an event loop keeps and hands `poll` on every wait.
    let mut fds: Vec<libc::pollfd> = std::iter::once(udp.as_raw_fd())
        .chain(idle_streams.iter().map(AsRawFd::as_raw_fd))
        .map(|fd| libc::pollfd { fd, events: libc::POLLIN, revents: 0 })
        .collect();
    let other = SocketAddr::from((peer(1 - env.global_seq() as u8), UDP_PORT));
    let mut buf = [0u8; 64];
    for round in 0..rounds {
        if first {
            let start = std::time::Instant::now();
            udp.send_to(&round.to_le_bytes(), other)?;
            let (n, _) = recv_polling(&udp, &mut fds, &mut buf)?;
            exactly("a round trip", start.elapsed(), 2 * latency)?;
            ensure!(buf[..n] == round.to_le_bytes(), "round {round} came back changed");
        } else {
            let (n, from) = recv_polling(&udp, &mut fds, &mut buf)?;
            udp.send_to(&buf[..n], from)?;
        }
    }
    Ok(())
}

/// Receives on `udp`, the first of `fds`, waiting in one `poll` over all of
/// `fds` while nothing is there. The count `poll` returns says whether anything
/// but `udp` woke it, so the wait needs no scan of the idle ones.
fn recv_polling(udp: &StdUdpSocket, fds: &mut [libc::pollfd], buf: &mut [u8]) -> tg_sdk::Result<(usize, SocketAddr)> {
    loop {
        match udp.recv_from(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            received => return Ok(received?),
        }
        // SAFETY: `fds` is a live, exclusively borrowed array of `fds.len()` pollfds.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        ensure!(ready >= 0, "poll failed: {}", io::Error::last_os_error());
        ensure!(ready == 1 && fds[0].revents & libc::POLLIN != 0, "an idle connection woke the wait");
    }
}
