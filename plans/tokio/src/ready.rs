//! `ready-at-once`: many sockets ready in one wait. Instance 0 holds
//! `sockets` UDP sockets, each awaited by a task, and blocks its runtime for
//! two latencies while instance 1 sends one datagram to each; when the
//! runtime waits again, every socket is ready at once, more than tg-sdk's
//! `poll` is answered in place, and each task must still get its datagram at
//! that instant.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tg_sdk::prelude::*;
use tokio::net::UdpSocket;
use tokio::time::Instant;

use crate::{exactly, latency_param, runtime, shape};

/// The first of instance 0's ports.
const FIRST_PORT: u16 = 7600;

pub fn cases(manifest: Manifest) -> Manifest {
    manifest.case(
        TestCase::new("ready-at-once", ready_at_once)
            .describe(
                "instance 0 awaits a datagram on each of `sockets` UDP sockets, one task each, and blocks its \
                 runtime for two latencies while instance 1 sends to every socket; when the runtime wakes, every \
                 socket is ready in the same wait and each task gets its datagram at that instant",
            )
            .instances(2..=2)
            .param(latency_param())
            .param(Param::int("sockets", 8).describe("sockets ready at once")),
    )
}

fn ready_at_once(env: &RunEnv) -> tg_sdk::Result<()> {
    let latency = env.duration_param("latency");
    let sockets: u16 = env.try_count_param("sockets")?;
    shape(env, latency)?;
    let sync = env.sync_async();
    runtime()?.block_on(async move {
        if env.global_seq() == 0 {
            let mut tasks = Vec::new();
            for i in 0..sockets {
                let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, FIRST_PORT + i)).await?;
                tasks.push(tokio::spawn(async move {
                    let mut buf = [0u8; 2];
                    let n = socket.recv(&mut buf).await?;
                    Ok::<_, std::io::Error>((buf[..n] == i.to_le_bytes(), Instant::now()))
                }));
            }
            // Every task is waiting on its socket before the sender starts.
            tokio::task::yield_now().await;
            sync.publish_json("receiver", &env.network().data_address()).await?;
            sync.signal_and_wait("sending", 2).await?;
            let start = Instant::now();
            // Blocks the whole runtime: the datagrams arrive meanwhile.
            std::thread::sleep(2 * latency);
            for (i, task) in tasks.into_iter().enumerate() {
                let (intact, at) = task.await.map_err(|e| format!("task {i}: {e}"))??;
                ensure!(intact, "socket {i} got another socket's datagram");
                exactly(&format!("socket {i}'s datagram"), at - start, 2 * latency)?;
            }
            return Ok(());
        }
        let receiver: Ipv4Addr = sync.subscribe("receiver")?.next_json().await?;
        let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).await?;
        sync.signal_and_wait("sending", 2).await?;
        for i in 0..sockets {
            socket.send_to(&i.to_le_bytes(), SocketAddr::from((receiver, FIRST_PORT + i))).await?;
        }
        // Answers nothing: stays until the receiver has had time to read.
        tokio::time::sleep(3 * latency + Duration::from_millis(1)).await;
        Ok(())
    })
}
