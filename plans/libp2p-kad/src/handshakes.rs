//! `handshakes`: libp2p's connection upgrade — multistream-select, noise XX
//! with ed25519 identities, yamux — run `count` times between two transports
//! inside one instance, over libp2p-core's in-memory transport.
//!
//! No packet is sent and no virtual time passes, so the case is pure guest
//! CPU: what fuel metering costs a noise handshake, and how much of an
//! instance's fuel budget one takes, are measured on it (the README's
//! "Fuel"). Each iteration is both ends of one connection, as two nodes do.
//!
//! Owns: the measurement workload. Does not own: the stack it upgrades with
//! ([`node::upgrade`](crate::node::upgrade), the one the TCP nodes use).

use std::future::poll_fn;
use std::pin::Pin;

use libp2p_core::transport::{DialOpts, ListenerId, MemoryTransport, PortUse, TransportEvent};
use libp2p_core::{Endpoint, Multiaddr, Transport};
use libp2p_identity::Keypair;
use tg_sdk::prelude::*;

use crate::node::upgrade;
use crate::runtime;

pub fn case(manifest: Manifest) -> Manifest {
    manifest.case(
        TestCase::new("handshakes", handshakes)
            .describe(
                "`count` libp2p connection upgrades (multistream-select, noise XX, yamux) between two in-memory \
                 transports in one instance: guest CPU only, for measuring fuel",
            )
            .instances(1..=10_000)
            .param(Param::int("count", 100).describe("connections upgraded, each at both ends")),
    )
}

fn handshakes(env: &RunEnv) -> tg_sdk::Result<()> {
    let count: u32 = env.try_count_param("count")?;
    runtime()?.block_on(async {
        let (dialer_key, listener_key) = (Keypair::generate_ed25519(), Keypair::generate_ed25519());
        let mut dialer = upgrade(MemoryTransport::default(), &dialer_key)?;
        let mut listener = upgrade(MemoryTransport::default(), &listener_key)?;
        // Port 0: the hub picks a free one, so instances sharing it never clash.
        listener.listen_on(ListenerId::next(), "/memory/0".parse()?)?;
        let addr: Multiaddr = match poll_fn(|cx| Pin::new(&mut listener).poll(cx)).await {
            TransportEvent::NewAddress { listen_addr, .. } => listen_addr,
            _ => bail!("the in-memory listener reported no address"),
        };
        for _ in 0..count {
            let dial = dialer.dial(addr.clone(), DialOpts { role: Endpoint::Dialer, port_use: PortUse::New })?;
            // The connection reaches the listener only once the dial is polled: both at once.
            let accept = async {
                match poll_fn(|cx| Pin::new(&mut listener).poll(cx)).await {
                    TransportEvent::Incoming { upgrade, .. } => Ok(upgrade.await?),
                    _ => Err(tg_sdk::Error::from("the in-memory listener reported no connection")),
                }
            };
            let (dialled, accepted) = futures::join!(dial, accept);
            // Each end authenticated the other's identity.
            let ((listener_id, _), (dialer_id, _)) = (dialled?, accepted?);
            ensure!(listener_id == listener_key.public().to_peer_id(), "the dialer authenticated {listener_id}");
            ensure!(dialer_id == dialer_key.public().to_peer_id(), "the listener authenticated {dialer_id}");
        }
        env.r().counter("handshakes", f64::from(count));
        Ok(())
    })
}
