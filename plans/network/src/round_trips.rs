//! `round-trips`: the engine's speed workload, one every network simulator
//! can run. Every instance makes `rounds` sequential 64-byte UDP round trips,
//! each to a peer drawn from the run's seed, and answers every ping it gets;
//! links are `latency` one way, and every wait for a pong carries a `resend`
//! timer that, on a lossless network, never fires.
//!
//! Round `r` sends every instance's ping to the instance a seeded, per-round
//! random distance after it (never itself), so each round is a permutation:
//! every instance is pinged exactly `rounds` times and knows when it is done
//! without asking anyone. The peers are far apart in the instance numbering,
//! which is what makes the workload measure locality in the host.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Instant;

use tg_sdk::prelude::*;
use tg_sdk::wait::Wait;

/// The port every instance pings and answers on.
const PORT: u16 = 7300;
/// A ping or a pong: a tag, the round, padding to 64 bytes.
const MESSAGE: usize = 64;
const PING: u8 = 0;
const PONG: u8 = 1;

/// Adds the `round-trips` case to `manifest`.
pub fn cases(manifest: Manifest) -> Manifest {
    manifest.case(
        TestCase::new("round-trips", round_trips)
            .describe(
                "every instance makes `rounds` sequential UDP round trips to seeded random peers and answers \
                 every ping, each wait carrying a `resend` timer that never fires",
            )
            .instances(2..=20_000)
            .param(Param::duration("latency", "10ms").describe("one-way latency of every link"))
            .param(Param::int("rounds", 10).describe("sequential round trips per instance"))
            .param(Param::duration("resend", "1s").describe("how long a ping waits for its pong before it is resent")),
    )
}

/// SplitMix64's output function: a well-mixed 64-bit value from any input.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The instance this one pings in `round`: the same random distance ahead
/// for every instance of the round, so that each is pinged once per round.
fn peer(env: &RunEnv, round: u32) -> SocketAddr {
    let n = u64::from(env.test_instance_count());
    let distance = 1 + mix(env.seed() ^ mix(u64::from(round))) % (n - 1);
    let seq = ((u64::from(env.global_seq()) + distance) % n) as u32;
    // Instance `seq` is at offset `seq % 65533 + 2` of block `seq / 65533` (see the README's "Networking").
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

fn round_trips(env: &RunEnv) -> tg_sdk::Result<()> {
    let latency = env.duration_param("latency");
    let rounds: u32 = env.try_count_param("rounds")?;
    let resend = env.duration_param("resend");
    // A ping resent at the instant it was sent would be resent forever without the clock moving.
    ensure!(!resend.is_zero(), "resend must be above 0s: a pong takes at least 2 × latency");
    let n = env.test_instance_count();
    env.network().configure(&NetworkConfig {
        default: LinkShape::with_latency(latency),
        callback_state: Some("shaped".into()),
        ..NetworkConfig::default()
    })?;
    let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, PORT))?;
    socket.set_nonblocking(true)?;
    // Shaped and bound everywhere before the first ping.
    env.sync().barrier("shaped", u64::from(n))?;

    let mut buf = [0u8; MESSAGE];
    let (mut round, mut answered, mut resent) = (0, 0u32, 0u32);
    let mut deadline = Instant::now() + resend;
    socket.send_to(&message(PING, round), peer(env, round))?;
    while round < rounds || answered < rounds {
        // Waiting for a pong, the resend timer runs; with nothing left to send, only pings come.
        let timeout = (round < rounds).then(|| deadline.saturating_duration_since(Instant::now()));
        if timeout.is_some_and(|t| t.is_zero()) {
            resent += 1;
            deadline = Instant::now() + resend;
            socket.send_to(&message(PING, round), peer(env, round))?;
            continue;
        }
        // One wait for the socket or the resend deadline, then read.
        let mut wait = Wait::new().readable(&socket);
        if let Some(t) = timeout {
            wait = wait.timeout(t);
        }
        if !wait.wait()?.readable(0) {
            continue;
        }
        let (len, from) = match socket.recv_from(&mut buf) {
            Ok(got) => got,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e.into()),
        };
        match buf[0] {
            PING => {
                socket.send_to(&message(PONG, round_of(&buf[..len]).unwrap_or(0)), from)?;
                answered += 1;
            }
            _ if round_of(&buf[..len]) == Some(round) && round < rounds => {
                round += 1;
                if round < rounds {
                    deadline = Instant::now() + resend;
                    socket.send_to(&message(PING, round), peer(env, round))?;
                }
            }
            // A late pong of a round resent: its round trip is already counted.
            _ if round_of(&buf[..len]).is_some_and(|r| r < round) => {}
            _ => bail!("unexpected pong for round {:?} from {from}", round_of(&buf[..len])),
        }
    }
    env.r().counter("resent", f64::from(resent));
    Ok(())
}
