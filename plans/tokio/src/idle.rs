//! `idle-sockets`: what an instance's open-but-quiet sockets cost its busy one.
//!
//! Instance 1 opens `idle` TCP connections to instance 0, and both sides keep
//! a task reading each (as a libp2p node keeps its peers' connections), so
//! every one is armed in tokio's reactor; then the two exchange `rounds`
//! UDP round trips over a separate socket. tokio waits in `poll` over every
//! armed socket, so the cost of a round trip should not grow with `idle`
//! (`cargo bench -p tg-wasm --bench poll` measures it at 1, 10, 100, 1000).

use std::net::{Ipv4Addr, SocketAddr};

use tg_sdk::prelude::*;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::time::Instant;

use crate::{exactly, latency_param, runtime, shape};

const TCP_PORT: u16 = 7500;
const UDP_PORT: u16 = 7501;

pub fn cases(manifest: Manifest) -> Manifest {
    manifest.case(
        TestCase::new("idle-sockets", idle_sockets)
            .describe(
                "instance 1 opens `idle` TCP connections to instance 0, each read by a task on both sides, \
                 then the two exchange `rounds` UDP round trips, each checked to be 2 × latency",
            )
            .instances(2..=2)
            .param(latency_param())
            .param(Param::int("idle", 100).describe("idle TCP connections between the two"))
            .param(Param::int("rounds", 1000).describe("UDP round trips")),
    )
}

fn idle_sockets(env: &RunEnv) -> tg_sdk::Result<()> {
    let latency = env.duration_param("latency");
    let idle = env.int_param("idle") as usize;
    let rounds = env.int_param("rounds");
    shape(env, latency)?;
    let sync = env.sync_async();
    let peer = |seq: u8| Ipv4Addr::new(16, 0, 0, 2 + seq);
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
