//! `udp-ping` and `udp-ping-std`: one workload written twice, on tokio and on
//! blocking `std`, so that what the async stack costs can be measured side by
//! side (`cargo bench -p tg-wasm --bench tokio`).
//!
//! Every instance sends `rounds` sequential 64-byte pings, each to the next
//! peer in turn, checks each pong comes back after exactly 2 × latency, and
//! answers the pings it gets. Round `r` sends every instance's ping to the
//! instance `r + 1` after it, so each instance is pinged exactly `rounds`
//! times and knows when it is done without asking anyone.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket as StdUdpSocket};

use tg_sdk::prelude::*;
use tokio::net::UdpSocket;
use tokio::time::Instant;

use crate::{exactly, runtime, shape};

/// The port every instance pings and answers on.
const PORT: u16 = 7100;
/// A ping or a pong: a tag, the round, padding to 64 bytes.
const MESSAGE: usize = 64;
const PING: u8 = 0;
const PONG: u8 = 1;

pub fn cases(manifest: Manifest) -> Manifest {
    let case = |name, run, how| {
        TestCase::new(name, run)
            .describe(format!(
                "{how}: every instance pings the next peers `rounds` times in turn, checks each round trip is \
                 exactly 2 × latency, and answers the `rounds` pings it gets"
            ))
            .instances(2..=10_000)
            .param(Param::duration("latency", "10ms").describe("one-way latency of every link"))
            .param(Param::int("rounds", 10).describe("sequential pings per instance"))
    };
    manifest.case(case("udp-ping", udp_ping, "on tokio")).case(case("udp-ping-std", udp_ping_std, "on blocking std"))
}

/// The instance this one pings in `round`: the next ones in turn, never itself.
fn peer(env: &RunEnv, round: u32) -> SocketAddr {
    let n = env.test_instance_count();
    let seq = (env.global_seq() + 1 + round % (n - 1)) % n;
    // Instance `seq` is 16.0.0.(seq + 2) for the first 253 (see the README's "Networking").
    let offset = seq % 65_533 + 2;
    let block = seq / 65_533;
    let ip = Ipv4Addr::new(16 + (block / 256) as u8, (block % 256) as u8, (offset / 256) as u8, (offset % 256) as u8);
    SocketAddr::from((ip, PORT))
}

fn message(tag: u8, round: u32) -> [u8; MESSAGE] {
    let mut m = [0u8; MESSAGE];
    m[0] = tag;
    m[1..5].copy_from_slice(&round.to_le_bytes());
    m
}

fn round_of(m: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(m.get(1..5)?.try_into().ok()?))
}

fn udp_ping(env: &RunEnv) -> tg_sdk::Result<()> {
    let latency = env.duration_param("latency");
    let rounds: u32 = env.try_count_param("rounds")?;
    shape(env, latency)?;
    let sync = env.sync_async();
    let n = u64::from(env.test_instance_count());
    runtime()?.block_on(async move {
        let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, PORT)).await?;
        sync.signal_and_wait("bound", n).await?;
        let mut buf = [0u8; MESSAGE];
        let (mut round, mut answered) = (0, 0);
        let mut sent = Instant::now();
        socket.send_to(&message(PING, round), peer(env, round)).await?;
        while round < rounds || answered < rounds {
            let (len, from) = socket.recv_from(&mut buf).await?;
            match buf[0] {
                PING => {
                    socket.send_to(&message(PONG, round_of(&buf[..len]).unwrap_or(0)), from).await?;
                    answered += 1;
                }
                _ if round_of(&buf[..len]) == Some(round) && round < rounds => {
                    exactly("a ping", sent.elapsed(), 2 * latency)?;
                    round += 1;
                    if round < rounds {
                        sent = Instant::now();
                        socket.send_to(&message(PING, round), peer(env, round)).await?;
                    }
                }
                _ => bail!("unexpected pong for round {:?} from {from}", round_of(&buf[..len])),
            }
        }
        Ok(())
    })
}

fn udp_ping_std(env: &RunEnv) -> tg_sdk::Result<()> {
    let latency = env.duration_param("latency");
    let rounds: u32 = env.try_count_param("rounds")?;
    shape(env, latency)?;
    let sync = env.sync();
    let socket = StdUdpSocket::bind((Ipv4Addr::UNSPECIFIED, PORT))?;
    sync.signal_and_wait("bound", u64::from(env.test_instance_count()))?;
    let mut buf = [0u8; MESSAGE];
    let (mut round, mut answered) = (0, 0);
    let mut sent = std::time::Instant::now();
    socket.send_to(&message(PING, round), peer(env, round))?;
    while round < rounds || answered < rounds {
        let (len, from) = socket.recv_from(&mut buf)?;
        match buf[0] {
            PING => {
                socket.send_to(&message(PONG, round_of(&buf[..len]).unwrap_or(0)), from)?;
                answered += 1;
            }
            _ if round_of(&buf[..len]) == Some(round) && round < rounds => {
                exactly("a ping", sent.elapsed(), 2 * latency)?;
                round += 1;
                if round < rounds {
                    sent = std::time::Instant::now();
                    socket.send_to(&message(PING, round), peer(env, round))?;
                }
            }
            _ => bail!("unexpected pong for round {:?} from {from}", round_of(&buf[..len])),
        }
    }
    Ok(())
}
