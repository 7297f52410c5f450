//! Reaching instances by name: tokio and hyper-util resolve names on a
//! blocking thread, which `wasm32-wasip2` does not have, so a plan resolves
//! through tg-sdk's resolvers instead (`resolve` in `by-name`), and one that
//! does not gets a crash reason naming them (`lookup-unchanged`). A
//! multi-thread runtime, which needs threads too, gets one naming the
//! current-thread runtime (`multi-thread`).

use std::convert::Infallible;
use std::net::Ipv4Addr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tg_sdk::prelude::*;
use tg_sdk::wasi_compat::{Resolver, resolve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::{exactly, latency_param, runtime, shape};

const ECHO_PORT: u16 = 7400;
const HTTP_PORT: u16 = 8400;

pub fn cases(manifest: Manifest) -> Manifest {
    manifest
        .case(
            TestCase::new("by-name", by_name)
                .describe(
                    "instance 0 serves a TCP echo and HTTP; the others reach it as `instance-0`: tokio through \
                     tg_sdk::wasi_compat::resolve, hyper-util by URL through tg_sdk::wasi_compat::Resolver",
                )
                .instances(2..=10_000)
                .param(latency_param()),
        )
        .case(
            TestCase::new("lookup-unchanged", lookup_unchanged)
                .describe("connects with tokio's own resolution of `instance-0`: crashes, naming tg-sdk's resolvers")
                .instances(1..=1),
        )
        .case(
            TestCase::new("multi-thread", multi_thread)
                .describe("builds tokio's multi-thread runtime: crashes, naming the current-thread runtime")
                .instances(1..=1),
        )
}

fn by_name(env: &RunEnv) -> tg_sdk::Result<()> {
    let latency = env.duration_param("latency");
    shape(env, latency)?;
    let sync = env.sync_async();
    let clients = u64::from(env.test_instance_count() - 1);
    runtime()?.block_on(async move {
        if env.global_seq() == 0 {
            let echo = TcpListener::bind((Ipv4Addr::UNSPECIFIED, ECHO_PORT)).await?;
            let http = TcpListener::bind((Ipv4Addr::UNSPECIFIED, HTTP_PORT)).await?;
            tokio::spawn(async move {
                while let Ok((mut stream, _)) = echo.accept().await {
                    tokio::spawn(async move {
                        let mut buf = [0u8; 4];
                        while stream.read_exact(&mut buf).await.is_ok() && stream.write_all(&buf).await.is_ok() {}
                    });
                }
            });
            tokio::spawn(async move {
                while let Ok((stream, _)) = http.accept().await {
                    let service = service_fn(|_: Request<Incoming>| async {
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"found"))))
                    });
                    tokio::spawn(
                        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service),
                    );
                }
            });
            sync.signal_entry("serving").await?;
            sync.barrier("done", clients).await?;
            return Ok(());
        }
        sync.barrier("serving", 1).await?;
        let addrs = resolve(("instance-0", ECHO_PORT)).await?;
        ensure!(addrs == [(Ipv4Addr::new(16, 0, 0, 2), ECHO_PORT).into()], "instance-0 resolved to {addrs:?}");
        let mut stream = TcpStream::connect(&*addrs).await?;
        stream.write_all(b"ping").await?;
        let mut echoed = [0u8; 4];
        stream.read_exact(&mut echoed).await?;
        ensure!(&echoed == b"ping", "the echo came back as {echoed:?}");

        let client: Client<_, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build(HttpConnector::new_with_resolver(Resolver));
        let start = tokio::time::Instant::now();
        let response = client.get(format!("http://instance-0:{HTTP_PORT}/").parse()?).await?;
        let body = response.into_body().collect().await?.to_bytes();
        ensure!(body == "found", "GET http://instance-0/ answered {body:?}");
        // Resolving costs no virtual time: a connect and a request, one round trip each.
        exactly("GET by name", start.elapsed(), 4 * latency)?;
        sync.signal_entry("done").await?;
        Ok(())
    })
}

fn lookup_unchanged(_env: &RunEnv) -> tg_sdk::Result<()> {
    runtime()?.block_on(async {
        TcpStream::connect(("instance-0", ECHO_PORT)).await?;
        Ok(())
    })
}

fn multi_thread(_env: &RunEnv) -> tg_sdk::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {});
    Ok(())
}
