//! `{{name}}`: a tg-wasm test plan on tokio. Every instance shapes its link,
//! serves a TCP echo, tells the others its address through the sync service,
//! pings the next instance and records the round trip — tokio's own
//! networking, on the simulated network, on virtual time.

use std::net::{Ipv4Addr, SocketAddr};

use tg_sdk::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// The port every instance listens on: each has an address of its own.
const PORT: u16 = 7000;

fn manifest() -> Manifest {
    Manifest::new("{{name}}").case(
        TestCase::new("{{case}}", ping)
            .describe("every instance pings the next one over tokio TCP and records the round trip")
            .instances(2..=10_000)
            .param(Param::duration("latency", "20ms").describe("one-way latency each instance adds to what it sends")),
    )
}

fn ping(env: &RunEnv) -> tg_sdk::Result<()> {
    let n = env.test_instance_count();
    let me = env.global_seq();

    // Shape what this instance sends, as Testground's sidecar did.
    let latency = env.duration_param("latency");
    env.network().configure(&NetworkConfig { default: LinkShape::with_latency(latency), ..NetworkConfig::default() })?;

    // wasm32-wasip2 has no threads: a current-thread runtime, which the sync
    // service's async client lets other tasks keep running beside.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let sync = env.sync_async();
    runtime.block_on(async move {
        let listener = TcpListener::bind((Ipv4Addr::UNSPECIFIED, PORT)).await?;
        tokio::spawn(echo(listener));
        sync.publish_json("addresses", &(me, env.network().data_address())).await?;
        sync.signal_and_wait("listening", u64::from(n)).await?;
        let addresses: Vec<(u32, Ipv4Addr)> = sync.subscribe("addresses")?.take_json(n as usize).await?;
        let next = (me + 1) % n;
        let Some(&(_, address)) = addresses.iter().find(|(seq, _)| *seq == next) else {
            bail!("instance {next} never published its address");
        };

        // One round trip to the next instance (the connect took another).
        let mut stream = TcpStream::connect(SocketAddr::from((address, PORT))).await?;
        let started = Instant::now();
        stream.write_all(b"ping").await?;
        let mut answer = [0u8; 4];
        stream.read_exact(&mut answer).await?;
        let round_trip = started.elapsed();
        ensure!(&answer == b"ping", "instance {next} echoed {answer:?}");

        // A result metric: its distribution per group is in the summary and report.html.
        env.r().timer("round-trip", round_trip);

        // The echo task keeps serving while this one waits for everyone.
        sync.signal_and_wait("done", u64::from(n)).await?;
        Ok(())
    })
}

/// Echoes whatever each connection sends, each in its own task.
async fn echo(listener: TcpListener) -> std::io::Result<()> {
    loop {
        let (mut stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let mut buf = [0u8; 64];
            while let Ok(read) = stream.read(&mut buf).await {
                if read == 0 || stream.write_all(&buf[..read]).await.is_err() {
                    break;
                }
            }
        });
    }
}

tg_sdk::export_plan!(manifest);
