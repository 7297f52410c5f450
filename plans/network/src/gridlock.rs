//! `gridlock`: pairs of instances that each write more than the connection
//! between them holds before reading anything. Both writes block for ever,
//! as on Linux; the run must end as a deadlock that says so, soon after, not
//! after the simulated years of zero-window probes TCP would go on sending.

use std::io::Write;
use std::net::{TcpListener, TcpStream, ToSocketAddrs};

use tg_sdk::prelude::*;

/// The port the first instance of each pair listens on.
const PORT: u16 = 7400;

/// The gridlock case, added to `manifest`.
pub fn cases(manifest: Manifest) -> Manifest {
    manifest.case(
        TestCase::new("gridlock", gridlock)
            .describe(
                "instance i and i + n/2 connect and each writes `size` bytes without reading: a deadlock \
                 (an odd instance out has no partner and succeeds)",
            )
            .instances(2..=1000)
            .param(Param::size("size", "4MiB").describe("bytes each side writes; more than both buffers hold"))
            .param(Param::duration("latency", "0s").describe("one-way latency every instance configures first")),
    )
}

fn gridlock(env: &RunEnv) -> tg_sdk::Result<()> {
    let latency = env.params().duration("latency")?;
    if !latency.is_zero() {
        env.network().wait_initialized();
        let shape = LinkShape { latency, ..LinkShape::default() };
        super::shaping::configure_all(env, shape, RoutingPolicy::AllowAll, "gridlock-configured")?;
    }
    let size = env.params().size("size")? as usize;
    let (me, half) = (env.global_seq(), env.test_instance_count() / 2);
    if me >= 2 * half {
        return Ok(());
    }
    let sync = env.sync();
    let mut stream = if me < half {
        let listener = TcpListener::bind(("0.0.0.0", PORT))?;
        sync.signal_entry("listening")?;
        listener.accept()?.0
    } else {
        sync.barrier("listening", u64::from(half))?;
        let peer = format!("instance-{}:{PORT}", me - half).to_socket_addrs()?.next().ok_or("no address")?;
        TcpStream::connect(peer)?
    };
    stream.write_all(&vec![me as u8; size])?;
    bail!("wrote {size} bytes that nobody read")
}
