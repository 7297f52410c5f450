//! `barrier-while-serving`: one task of instance 0 awaits a barrier that only
//! its clients' finished requests can pass, while another task serves those
//! requests. A blocking barrier would stop the server and deadlock the run;
//! the async one must let it serve every request, and wake at the barrier's
//! virtual instant.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tg_sdk::prelude::*;
use tokio::net::UdpSocket;
use tokio::time::Instant;

use crate::{exactly, latency_param, runtime, shape};

/// The port instance 0 serves on.
const PORT: u16 = 7200;

pub fn cases(manifest: Manifest) -> Manifest {
    manifest.case(
        TestCase::new("barrier-while-serving", barrier_while_serving)
            .describe(
                "instance 0 awaits the barrier `served` in one task while another answers every client's \
                 `requests` UDP requests; the clients signal `served` when answered. Instance 0 checks it served \
                 all requests during the wait and woke exactly when the last client's signal arrived",
            )
            .instances(2..=10_000)
            .param(latency_param())
            .param(Param::int("requests", 5).describe("requests per client")),
    )
}

fn barrier_while_serving(env: &RunEnv) -> tg_sdk::Result<()> {
    let latency = env.duration_param("latency");
    let requests: u64 = env.try_count_param("requests")?;
    ensure!(requests >= 1, "requests must be at least 1: the case shows requests served while a barrier waits");
    shape(env, latency)?;
    let sync = env.sync_async();
    let clients = u64::from(env.test_instance_count() - 1);
    runtime()?.block_on(async move {
        if env.global_seq() == 0 {
            let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, PORT)).await?;
            let served = Arc::new(AtomicU64::new(0));
            let last_answer = Arc::new(Mutex::new(None));
            tokio::spawn(serve(socket, served.clone(), last_answer.clone()));
            sync.publish_json("server", &env.network().data_address()).await?;
            sync.barrier("served", clients).await?;
            let woke = Instant::now();
            let served = served.load(Ordering::SeqCst);
            env.r().counter("served-during-barrier", served as f64);
            ensure!(
                served == clients * requests,
                "served {served} requests while waiting, expected {}",
                clients * requests
            );
            // The last answer reaches its client one latency later, which signals at once.
            let last = last_answer.lock().unwrap_or_else(|e| e.into_inner()).ok_or("no request was answered")?;
            exactly("waking after the last answer", woke - last, latency)?;
            return Ok(());
        }
        let server: Ipv4Addr = sync.subscribe("server")?.next_json().await?;
        let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).await?;
        socket.connect((server, PORT)).await?;
        for i in 0..requests {
            socket.send(&i.to_le_bytes()).await?;
            let mut answer = [0u8; 8];
            let n = socket.recv(&mut answer).await?;
            ensure!(answer[..n] == i.to_le_bytes(), "request {i} was answered with {:?}", &answer[..n]);
        }
        sync.signal_entry("served").await?;
        Ok(())
    })
}

/// Answers every request, counting them and noting when the last answer left.
async fn serve(
    socket: UdpSocket,
    served: Arc<AtomicU64>,
    last_answer: Arc<Mutex<Option<Instant>>>,
) -> std::io::Result<()> {
    let mut buf = [0u8; 64];
    loop {
        let (n, from) = socket.recv_from(&mut buf).await?;
        socket.send_to(&buf[..n], from).await?;
        served.fetch_add(1, Ordering::SeqCst);
        *last_answer.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
    }
}
