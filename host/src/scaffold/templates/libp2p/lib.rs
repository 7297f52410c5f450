//! `{{name}}`: a tg-wasm test plan on rust-libp2p. Every instance runs a
//! swarm — TCP on tokio, noise, yamux, identify, from crates.io, unchanged —
//! dials the next instance and records how long it took until identify
//! answered: a connection and two handshakes on the simulated network, on
//! virtual time.

use std::pin::pin;
use std::time::Duration;

use futures::StreamExt;
use futures::future::{Either, select};
use libp2p_core::upgrade::Version;
use libp2p_core::{Multiaddr, Transport};
use libp2p_identity::{Keypair, PeerId};
use libp2p_swarm::{Swarm, SwarmEvent};
use tg_sdk::prelude::*;
use tokio::time::Instant;

fn manifest() -> Manifest {
    Manifest::new("{{name}}").case(
        TestCase::new("{{case}}", identify)
            .describe("every instance dials the next one (TCP, noise, yamux) and waits for identify's answer")
            .instances(2..=10_000)
            .param(Param::duration("latency", "20ms").describe("one-way latency each instance adds to what it sends")),
    )
}

fn identify(env: &RunEnv) -> tg_sdk::Result<()> {
    let n = env.test_instance_count();
    let me = env.global_seq();

    // Shape what this instance sends, as Testground's sidecar did.
    let latency = env.duration_param("latency");
    env.network().configure(&NetworkConfig { default: LinkShape::with_latency(latency), ..NetworkConfig::default() })?;

    // wasm32-wasip2 has no threads: a current-thread runtime.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let sync = env.sync_async();
    runtime.block_on(async move {
        // The keys come from the instance's seeded randomness: the same seed, the same peer ids.
        let keypair = Keypair::generate_ed25519();
        let peer_id = keypair.public().to_peer_id();
        let transport = libp2p_tcp::tokio::Transport::new(libp2p_tcp::Config::new().nodelay(true))
            .upgrade(Version::V1)
            .authenticate(libp2p_noise::Config::new(&keypair)?)
            .multiplex(libp2p_yamux::Config::default())
            .boxed();
        let behaviour =
            libp2p_identify::Behaviour::new(libp2p_identify::Config::new("/{{name}}/1.0.0".into(), keypair.public()));
        // libp2p-swarm compiles its tokio executor out for WASI; tg-sdk's spawns on this runtime.
        let config = libp2p_swarm::Config::with_executor(tg_sdk::wasi_compat::spawn)
            .with_idle_connection_timeout(Duration::from_secs(60));
        let mut swarm = Swarm::new(transport, behaviour, peer_id, config);

        // Listen, and wait until the swarm says it does.
        swarm.listen_on("/ip4/0.0.0.0/tcp/4001".parse()?)?;
        while !matches!(swarm.select_next_some().await, SwarmEvent::NewListenAddr { .. }) {}
        let address: Multiaddr = format!("/ip4/{}/tcp/4001", env.network().data_address()).parse()?;

        // Tell the others who and where this node is; wait until everyone listens: a barrier.
        sync.publish_json("peers", &(me, peer_id.to_string(), address.to_string())).await?;
        sync.signal_and_wait("listening", u64::from(n)).await?;
        let peers: Vec<(u32, String, String)> = sync.subscribe("peers")?.take_json(n as usize).await?;

        // Dial the next instance (the last one is dialled by the one before it), and wait until
        // identify has answered on a connection, serving the swarm meanwhile.
        let started = Instant::now();
        if me + 1 < n {
            let Some((_, _, next)) = peers.iter().find(|(seq, ..)| *seq == me + 1) else {
                bail!("instance {} never published its address", me + 1);
            };
            swarm.dial(next.parse::<Multiaddr>()?)?;
        }
        let identified: PeerId = loop {
            match swarm.select_next_some().await {
                SwarmEvent::Behaviour(libp2p_identify::Event::Received { peer_id, .. }) => break peer_id,
                SwarmEvent::OutgoingConnectionError { error, .. } => bail!("dialling instance {}: {error}", me + 1),
                _ => {}
            }
        };
        // A result metric: its distribution per group is in the summary and report.html.
        env.r().timer("time-to-identify", started.elapsed());
        env.record_message(format!("identified {identified}"));

        // Keep serving the swarm until everyone has identified a peer: a peer still waiting
        // for this node's answer must get it.
        let mut everyone = pin!(sync.signal_and_wait("identified", u64::from(n)));
        loop {
            match select(everyone.as_mut(), swarm.select_next_some()).await {
                Either::Left((passed, _)) => break passed.map(drop)?,
                Either::Right(_) => {}
            }
        }
        Ok(())
    })
}

tg_sdk::export_plan!(manifest);
