//! `wstd`: a plan on wstd, the async runtime that waits through `wasi:io`
//! pollables directly (no wasi-libc, no file descriptors): its TCP listener
//! and streams, unchanged, on the simulated network.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use tg_sdk::prelude::*;
use wstd::io::{AsyncRead, AsyncWrite};
use wstd::iter::AsyncIterator;
use wstd::net::{TcpListener, TcpStream};

/// The port instance 0 echoes on.
const PORT: u16 = 7300;
/// The size of every echoed message: one segment.
const MESSAGE: usize = 64;

fn manifest() -> Manifest {
    Manifest::new("wstd").case(
        TestCase::new("echo", echo)
            .describe(
                "instance 0 echoes over a wstd TcpListener; every other instance connects with a wstd TcpStream, \
                 sends `rounds` messages and checks each connect and round trip is exactly what the links make it",
            )
            .instances(2..=10_000)
            .param(Param::duration("latency", "50ms").describe("one-way latency of every link"))
            .param(Param::int("rounds", 10).describe("round trips per client")),
    )
}

tg_sdk::export_plan!(manifest);

fn echo(env: &RunEnv) -> tg_sdk::Result<()> {
    let latency = env.duration_param("latency");
    let rounds: i64 = env.try_count_param("rounds")?;
    let sync = env.sync();
    let n = u64::from(env.test_instance_count());
    env.network().configure(&NetworkConfig {
        default: LinkShape::with_latency(latency),
        callback_state: Some("shaped".into()),
        ..NetworkConfig::default()
    })?;
    sync.barrier("shaped", n)?;
    if env.global_seq() == 0 {
        let clients = n - 1;
        let served = wstd::runtime::block_on(async {
            let listener = TcpListener::bind(&format!("0.0.0.0:{PORT}")).await?;
            sync.publish_json("server", &env.network().data_address())?;
            let mut incoming = listener.incoming();
            let mut served = 0;
            // Connections are served one after another: a client finishes before the next is accepted.
            while served < clients {
                let mut stream = incoming.next().await.ok_or("the listener stopped")??;
                while let Some(message) = read_message(&mut stream).await? {
                    stream.write_all(&message).await?;
                }
                served += 1;
            }
            tg_sdk::Result::<u64>::Ok(served)
        })?;
        ensure!(served == clients, "served {served} of {clients} clients");
        return Ok(());
    }
    let server: Ipv4Addr = sync.subscribe("server")?.next_json()?;
    // One client at a time, in seq order, so the server's sequential accept loop serves them all.
    sync.barrier("turn", u64::from(env.global_seq() - 1))?;
    let round_trip = 2 * latency;
    wstd::runtime::block_on(async {
        let start = Instant::now();
        let mut stream = TcpStream::connect_addr(SocketAddr::from((server, PORT))).await?;
        exactly("a connect", start.elapsed(), round_trip)?;
        for round in 0..rounds {
            let message = [round as u8; MESSAGE];
            let start = Instant::now();
            stream.write_all(&message).await?;
            let echoed = read_message(&mut stream).await?.ok_or("the server closed the connection")?;
            exactly("an echo", start.elapsed(), round_trip)?;
            ensure!(echoed == message, "echo of round {round} came back changed");
        }
        tg_sdk::Result::<()>::Ok(())
    })?;
    sync.signal_entry("turn")?;
    Ok(())
}

/// Reads one message, or `None` at the end of the stream.
async fn read_message(stream: &mut TcpStream) -> std::io::Result<Option<[u8; MESSAGE]>> {
    let mut message = [0u8; MESSAGE];
    let mut filled = 0;
    while filled < MESSAGE {
        match stream.read(&mut message[filled..]).await? {
            0 if filled == 0 => return Ok(None),
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => filled += n,
        }
    }
    Ok(Some(message))
}

fn exactly(what: &str, measured: Duration, expected: Duration) -> tg_sdk::Result<()> {
    ensure!(measured == expected, "{what} took {measured:?}, expected exactly {expected:?}");
    Ok(())
}
