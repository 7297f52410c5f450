//! `mesh`: every instance listens and opens `connections` TCP connections to
//! the instances after it (wrapping around), so each holds `2 × connections`
//! open at once; one byte crosses each way, everyone waits at a barrier with
//! every connection still open, then all close.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};

use tg_sdk::prelude::*;

/// The port every instance listens on.
const PORT: u16 = 7200;

/// Adds the `mesh` case to `manifest`.
pub fn cases(manifest: Manifest) -> Manifest {
    manifest.case(
        TestCase::new("mesh", mesh)
            .describe("every instance holds `connections` outgoing and as many incoming TCP connections at once")
            .instances(2..=10_000)
            .param(Param::int("connections", 10).describe("outgoing connections per instance")),
    )
}

fn mesh(env: &RunEnv) -> tg_sdk::Result<()> {
    let n = env.test_instance_count();
    let me = env.global_seq();
    let k = env.try_count_param::<u32>("connections")?.min(n - 1);
    let sync = env.sync();
    let listener = TcpListener::bind(("0.0.0.0", PORT))?;
    sync.signal_and_wait("listening", u64::from(n))?;

    let mut outgoing = Vec::with_capacity(k as usize);
    for step in 1..=k {
        let peer = (me + step) % n;
        let addr = format!("instance-{peer}:{PORT}").to_socket_addrs()?.next().ok_or("no address")?;
        outgoing.push(TcpStream::connect(addr)?);
    }
    let mut incoming = Vec::with_capacity(k as usize);
    for _ in 0..k {
        incoming.push(listener.accept()?.0);
    }
    // One byte each way on every connection, so each is really established.
    for s in &mut outgoing {
        s.write_all(&[1])?;
    }
    let mut byte = [0u8; 1];
    for s in &mut incoming {
        s.read_exact(&mut byte)?;
        s.write_all(&[2])?;
    }
    for s in &mut outgoing {
        s.read_exact(&mut byte)?;
        ensure!(byte[0] == 2, "a peer answered {} instead of 2", byte[0]);
    }
    // Everyone holds every connection open here at the same moment.
    sync.signal_and_wait("all-connected", u64::from(n))?;
    env.r().gauge("connections-open", (outgoing.len() + incoming.len()) as f64);
    Ok(())
}
