//! `http`: a hyper HTTP/1.1 server on instance 0 and a hyper-util client on
//! every other instance, each request's latency checked against the links: a
//! request on a kept-alive connection is one round trip, the first one also
//! pays the connect's.

use std::convert::Infallible;
use std::net::Ipv4Addr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tg_sdk::prelude::*;
use tokio::net::TcpListener;
use tokio::time::Instant;

use crate::{exactly, latency_param, runtime, shape};

/// The port instance 0 serves HTTP on.
const HTTP_PORT: u16 = 8080;

pub fn cases(manifest: Manifest) -> Manifest {
    manifest.case(
        TestCase::new("http", http)
            .describe(
                "instance 0 serves HTTP/1.1 with hyper; every other instance sends `requests` GETs through one \
                 kept-alive hyper-util client connection and checks each latency: 2 × latency, plus one round \
                 trip for the first request's connect",
            )
            .instances(2..=10_000)
            .param(latency_param())
            .param(Param::int("requests", 10).describe("requests per client")),
    )
}

fn http(env: &RunEnv) -> tg_sdk::Result<()> {
    let latency = env.duration_param("latency");
    let requests: i64 = env.try_count_param("requests")?;
    shape(env, latency)?;
    let sync = env.sync_async();
    let clients = u64::from(env.test_instance_count() - 1);
    runtime()?.block_on(async move {
        if env.global_seq() == 0 {
            let listener = TcpListener::bind((Ipv4Addr::UNSPECIFIED, HTTP_PORT)).await?;
            tokio::spawn(serve(listener));
            sync.publish_json("server", &env.network().data_address()).await?;
            sync.barrier("done", clients).await?;
            return Ok(());
        }
        let server: Ipv4Addr = sync.subscribe("server")?.next_json().await?;
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let round_trip = 2 * latency;
        for i in 0..requests {
            let uri = format!("http://{server}:{HTTP_PORT}/{i}").parse()?;
            let start = Instant::now();
            let response = client.get(uri).await?;
            ensure!(response.status().is_success(), "GET /{i}: {}", response.status());
            let body = response.into_body().collect().await?.to_bytes();
            let took = start.elapsed();
            ensure!(body == format!("hello /{i}"), "GET /{i} answered {body:?}");
            // The first request also opens the connection: one more round trip.
            let expected = if i == 0 { 2 * round_trip } else { round_trip };
            exactly(&format!("GET /{i}"), took, expected)?;
            env.r().histogram("request-latency", took.as_secs_f64());
        }
        sync.signal_entry("done").await?;
        Ok(())
    })
}

/// Serves every connection in its own task.
async fn serve(listener: TcpListener) -> std::io::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let service = service_fn(|request: Request<Incoming>| async move {
                let body = format!("hello {}", request.uri().path());
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body))))
            });
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
        });
    }
}
