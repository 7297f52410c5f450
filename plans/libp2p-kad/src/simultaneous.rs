//! `simultaneous-open`: the socket calls libp2p-tcp makes when two nodes that
//! listen on the same port dial each other at the same moment with port
//! reuse, without libp2p.
//!
//! Each of two instances listens on `port`, then binds a second socket to
//! its own address and `port` (as libp2p-tcp does to dial from its listening
//! port) and connects it to the other's `port`. The two SYNs carry the same
//! pair of addresses and cross: on Linux this is TCP's simultaneous open
//! (RFC 793 §3.4; each side answers the SYN with a SYN-ACK), and both
//! connects complete after one round trip, with nothing accepted. The case
//! checks exactly that (before netsim had simultaneous open, both connects
//! hung until the SYN retries ran out, 15 s later).
//!
//! Owns: the check. Does not own: what libp2p does on such a connection
//! (both ends believe they dialled; multistream-select and noise then fail).

use std::net::{SocketAddr, SocketAddrV4, ToSocketAddrs};
use std::time::{Duration, Instant};

use socket2::{Domain, Socket, Type};
use tg_sdk::prelude::*;

pub fn case(manifest: Manifest) -> Manifest {
    manifest.case(
        TestCase::new("simultaneous-open", simultaneous_open)
            .describe(
                "two instances listening on one port dial each other from it at the same instant, as libp2p-tcp \
                 does with port reuse; both connects must complete within a round trip, as on Linux",
            )
            .instances(2..=2)
            .param(Param::duration("latency", "50ms").describe("one-way latency of every link"))
            .param(Param::int("port", 4001).describe("the port both listen on and dial from")),
    )
}

fn simultaneous_open(env: &RunEnv) -> tg_sdk::Result<()> {
    let latency = env.duration_param("latency");
    // With no time in flight the dials cannot cross: the first SYN reaches the
    // other listener before the other side dials, and that dial then finds its
    // address pair taken by the connection being accepted (EADDRNOTAVAIL, as on Linux).
    ensure!(!latency.is_zero(), "latency must be above 0s: simultaneous dials cross only while the SYNs are in flight");
    let port: u16 = env.try_count_param("port")?;
    env.network()
        .configure(&NetworkConfig { default: LinkShape::with_latency(latency), ..NetworkConfig::default() })?;
    let me = env.network().data_address();
    let other = format!("instance-{}", 1 - env.global_seq());
    let Some(SocketAddr::V4(other)) = (other.as_str(), port).to_socket_addrs()?.next() else {
        bail!("{other} has no IPv4 address");
    };
    let local = SocketAddr::V4(SocketAddrV4::new(me, port));

    let listener = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    listener.set_reuse_address(true)?;
    listener.bind(&SocketAddr::from(([0, 0, 0, 0], port)).into())?;
    listener.listen(16)?;
    env.sync().signal_and_wait("listening", 2)?;

    let dialer = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    dialer.set_reuse_address(true)?;
    dialer.bind(&local.into()).map_err(|e| format!("binding the dialling socket to {local}: {e}"))?;
    let start = Instant::now();
    dialer.connect(&SocketAddr::V4(other).into()).map_err(|e| {
        format!("connecting {local} -> {other} (both sides at once) failed after {:?}: {e}", start.elapsed())
    })?;
    let took = start.elapsed();
    ensure!(took <= 2 * latency + Duration::from_millis(1), "the simultaneous connect took {took:?}");
    Ok(())
}
