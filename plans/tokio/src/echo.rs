//! `echo`: a tokio TCP and UDP echo server on instance 0, every other
//! instance a client that checks each connect and round trip is exactly what
//! the links make it.

use std::net::{Ipv4Addr, SocketAddr};

use tg_sdk::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::time::Instant;

use crate::{exactly, latency_param, runtime, shape};

/// The port instance 0 echoes TCP on.
pub const TCP_PORT: u16 = 7000;
/// The port instance 0 echoes UDP on.
pub const UDP_PORT: u16 = 7001;
/// The size of every echoed message: one segment, one datagram.
const MESSAGE: usize = 64;

pub fn cases(manifest: Manifest) -> Manifest {
    manifest.case(
        TestCase::new("echo", echo)
            .describe(
                "instance 0 echoes over tokio TCP and UDP; every other instance connects, sends `rounds` messages \
                 over each and checks every round trip is exactly 2 × latency",
            )
            .instances(2..=10_000)
            .param(latency_param())
            .param(Param::int("rounds", 10).describe("round trips per client and protocol")),
    )
}

fn echo(env: &RunEnv) -> tg_sdk::Result<()> {
    let latency = env.duration_param("latency");
    let rounds: i64 = env.try_count_param("rounds")?;
    shape(env, latency)?;
    let sync = env.sync_async();
    let clients = u64::from(env.test_instance_count() - 1);
    runtime()?.block_on(async move {
        if env.global_seq() == 0 {
            let tcp = TcpListener::bind((Ipv4Addr::UNSPECIFIED, TCP_PORT)).await?;
            let udp = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, UDP_PORT)).await?;
            tokio::spawn(serve_tcp(tcp));
            tokio::spawn(serve_udp(udp));
            sync.publish_json("server", &env.network().data_address()).await?;
            sync.barrier("done", clients).await?;
            return Ok(());
        }
        let server: Ipv4Addr = sync.subscribe("server")?.next_json().await?;
        let round_trip = 2 * latency;

        let start = Instant::now();
        let mut stream = TcpStream::connect((server, TCP_PORT)).await?;
        exactly("a TCP connect", start.elapsed(), round_trip)?;
        for round in 0..rounds {
            let message = [round as u8; MESSAGE];
            let start = Instant::now();
            stream.write_all(&message).await?;
            let mut echoed = [0u8; MESSAGE];
            stream.read_exact(&mut echoed).await?;
            exactly("a TCP echo", start.elapsed(), round_trip)?;
            ensure!(echoed == message, "TCP echo of round {round} came back changed");
        }

        let udp = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).await?;
        udp.connect(SocketAddr::from((server, UDP_PORT))).await?;
        for round in 0..rounds {
            let message = [round as u8; MESSAGE];
            let start = Instant::now();
            udp.send(&message).await?;
            let mut echoed = [0u8; MESSAGE];
            let n = udp.recv(&mut echoed).await?;
            exactly("a UDP echo", start.elapsed(), round_trip)?;
            ensure!(echoed[..n] == message, "UDP echo of round {round} came back changed");
        }
        env.r().point("round-trip", round_trip.as_secs_f64());
        sync.signal_entry("done").await?;
        Ok(())
    })
}

/// Echoes every connection, each in its own task.
async fn serve_tcp(listener: TcpListener) -> std::io::Result<()> {
    loop {
        let (mut stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let mut buf = [0u8; MESSAGE];
            while stream.read_exact(&mut buf).await.is_ok() {
                if stream.write_all(&buf).await.is_err() {
                    break;
                }
            }
        });
    }
}

/// Echoes every datagram to its sender.
async fn serve_udp(socket: UdpSocket) -> std::io::Result<()> {
    let mut buf = [0u8; 1500];
    loop {
        let (n, from) = socket.recv_from(&mut buf).await?;
        socket.send_to(&buf[..n], from).await?;
    }
}
