//! `{{name}}`: a tg-wasm test plan. Every instance shapes its link, listens
//! on TCP, tells the others its address through the sync service, pings the
//! next instance and records the round trip — plain `std::net`, on the
//! simulated network, on virtual time.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::time::Instant;

use tg_sdk::prelude::*;

/// The port every instance listens on: each has an address of its own.
const PORT: u16 = 7000;

fn manifest() -> Manifest {
    Manifest::new("{{name}}").case(
        TestCase::new("{{case}}", ping)
            .describe("every instance pings the next one over TCP and records the round trip")
            .instances(2..=10_000)
            .param(Param::duration("latency", "20ms").describe("one-way latency each instance adds to what it sends")),
    )
}

fn ping(env: &RunEnv) -> tg_sdk::Result<()> {
    let n = env.test_instance_count();
    let me = env.global_seq();
    let sync = env.sync();

    // Shape what this instance sends, as Testground's sidecar did.
    let latency = env.duration_param("latency");
    env.network().configure(&NetworkConfig { default: LinkShape::with_latency(latency), ..NetworkConfig::default() })?;

    // Listen, say where, and wait until everyone listens: a barrier.
    let listener = TcpListener::bind((Ipv4Addr::UNSPECIFIED, PORT))?;
    sync.publish_json("addresses", &(me, env.network().data_address()))?;
    sync.signal_and_wait("listening", u64::from(n))?;
    let addresses: Vec<(u32, Ipv4Addr)> = sync.subscribe("addresses")?.take_json(n as usize)?;
    let next = (me + 1) % n;
    let Some(&(_, address)) = addresses.iter().find(|(seq, _)| *seq == next) else {
        bail!("instance {next} never published its address");
    };

    // Ping the next instance, timing one round trip (the connect took another); answer the
    // previous one's ping.
    let mut out = TcpStream::connect((address, PORT))?;
    let started = Instant::now();
    out.write_all(b"ping")?;
    let (mut inbound, _) = listener.accept()?;
    let mut message = [0u8; 4];
    inbound.read_exact(&mut message)?;
    ensure!(&message == b"ping", "the previous instance sent {message:?}, not a ping");
    inbound.write_all(b"pong")?;
    out.read_exact(&mut message)?;
    ensure!(&message == b"pong", "instance {next} answered {message:?}, not a pong");
    let round_trip = started.elapsed();

    // A result metric: its distribution per group is in the summary and report.html.
    env.r().timer("round-trip", round_trip);
    env.record_message(format!("instance {next} answered in {round_trip:?}"));

    // Nobody closes a connection a peer still reads from: wait for everyone.
    sync.signal_and_wait("done", u64::from(n))?;
    Ok(())
}

tg_sdk::export_plan!(manifest);
