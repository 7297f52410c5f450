//! `heartbeat`: instance 0 sends a numbered UDP heartbeat to every other
//! instance every `interval` for `duration`; the others log when each one
//! arrives. With faults injected from a composition timeline (partition, clog,
//! crash and restart), the logs show exactly what got through and when.

use std::net::{ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

use tg_sdk::prelude::*;

/// The port heartbeats go to.
const PORT: u16 = 7100;

/// Adds the `heartbeat` case to `manifest`.
pub fn cases(manifest: Manifest) -> Manifest {
    manifest.case(
        TestCase::new("heartbeat", heartbeat)
            .describe("instance 0 sends UDP heartbeats to the others, which log when each arrives")
            .instances(2..=1000)
            .param(Param::duration("interval", "100ms").describe("time between heartbeats"))
            .param(Param::duration("duration", "3s").describe("how long instance 0 sends"))
            .param(
                Param::duration("latency", "0s")
                    .describe("one-way latency every instance configures first (0s: the unshaped default link)"),
            )
            .param(Param::string("inject", "none").describe(
                "a fault instance 0 injects itself: `clog` (instance 1's path from beat 11 to 20) or \
                 `crash` (instance 1 after beat 10, restarted 500 ms later)",
            )),
    )
}

fn heartbeat(env: &RunEnv) -> tg_sdk::Result<()> {
    let interval = env.duration_param("interval");
    let duration = env.duration_param("duration");
    // No time between beats would send them all at one instant, forever.
    ensure!(!interval.is_zero(), "interval must be above 0s: heartbeats are sent that far apart");
    let beats = u32::try_from(duration.as_nanos() / interval.as_nanos())
        .map_err(|_| format!("duration / interval is more than {} heartbeats; send fewer", u32::MAX))?;
    let latency = env.duration_param("latency");
    if !latency.is_zero() {
        env.network().wait_initialized();
        let shape = LinkShape { latency, ..LinkShape::default() };
        crate::shaping::configure_all(env, shape, RoutingPolicy::AllowAll, "heartbeat-configured")?;
    }
    let start = Instant::now();
    let socket = UdpSocket::bind(("0.0.0.0", PORT))?;
    println!("started at {:?}", start.elapsed());
    if env.global_seq() == 0 {
        let peers: Vec<_> = (1..env.test_instance_count())
            .map(|seq| format!("instance-{seq}:{PORT}").to_socket_addrs().map(|mut a| a.next()))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .flatten()
            .collect();
        let inject = env.string_param("inject");
        let network = env.network();
        for beat in 0..beats {
            for peer in &peers {
                socket.send_to(&beat.to_le_bytes(), peer)?;
            }
            match (inject.as_str(), beat) {
                ("clog", 10) => network.clog_path(0, 1, true)?,
                ("clog", 20) => network.clog_path(0, 1, false)?,
                ("crash", 10) => network.crash_instance(1, Some(Duration::from_millis(500)))?,
                ("none" | "clog" | "crash", _) => {}
                (other, _) => bail!("unknown `inject` {other:?}: none, clog or crash"),
            }
            std::thread::sleep(interval);
        }
        return Ok(());
    }
    // Listen until well after the last beat could have arrived; what arrives is the result.
    let deadline = duration + Duration::from_secs(2);
    let mut received = 0u32;
    let mut buf = [0u8; 16];
    // Poll without blocking and sleep a millisecond of virtual time between
    // tries (free, and 1 ms is the log's resolution).
    socket.set_nonblocking(true)?;
    while Instant::now().duration_since(start) < deadline {
        match socket.recv_from(&mut buf) {
            Ok((4, _)) => {
                received += 1;
                let beat = u32::from_le_bytes(buf[..4].try_into()?);
                println!("beat {beat} at {}ms", wall_ms());
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(1)),
            Err(e) => return Err(e.into()),
        }
    }
    env.r().counter("heartbeats", f64::from(received));
    Ok(())
}

/// Milliseconds of virtual time since the run started (the wall clock is the
/// fixed epoch plus virtual time, so a restarted instance reads the run's time).
fn wall_ms() -> u128 {
    // 2024-01-01T00:00:00Z, the wall clock at virtual time zero.
    const EPOCH: Duration = Duration::from_secs(1_704_067_200);
    std::time::SystemTime::UNIX_EPOCH.elapsed().map(|d| (d - EPOCH).as_millis()).unwrap_or(0)
}
