//! `tokio`: the async stack protocol engineers ship — a tokio runtime, its TCP
//! and UDP sockets, a hyper server with hyper-util clients — running
//! unchanged on the simulated network, coordinated through the async sync API
//! (`RunEnv::sync_async`), with every latency checked by the plan itself.
//!
//! Each case builds a current-thread runtime (wasip2 has no threads) and
//! shapes every link to `latency` one way before it starts, so that a round
//! trip is exactly twice that in virtual time.

use std::time::Duration;

use tg_sdk::prelude::*;

mod backpressure;
mod echo;
mod http;
mod idle;
mod names;
mod ping;
mod ready;
mod serving;
mod sync;

fn manifest() -> Manifest {
    let manifest = Manifest::new("tokio");
    let manifest = echo::cases(backpressure::cases(manifest));
    ready::cases(idle::cases(names::cases(sync::cases(serving::cases(ping::cases(http::cases(manifest)))))))
}

tg_sdk::export_plan!(manifest);

/// The `latency` parameter every case takes.
fn latency_param() -> Param {
    Param::duration("latency", "50ms").describe("one-way latency of every link")
}

/// The runtime every case runs on: current-thread, with IO and timers.
fn runtime() -> tg_sdk::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}

/// Shapes this instance's links to `latency` one way, and returns once every
/// instance has (so no packet crosses an unshaped link).
fn shape(env: &RunEnv, latency: Duration) -> tg_sdk::Result<()> {
    env.network().configure(&NetworkConfig {
        default: LinkShape::with_latency(latency),
        callback_state: Some("shaped".into()),
        ..NetworkConfig::default()
    })?;
    env.sync().barrier("shaped", u64::from(env.test_instance_count()))?;
    Ok(())
}

/// Checks that `measured` is exactly `expected`: on virtual time with
/// unjittered links, a protocol that adds no delay of its own is exact.
fn exactly(what: &str, measured: Duration, expected: Duration) -> tg_sdk::Result<()> {
    ensure!(measured == expected, "{what} took {measured:?}, expected exactly {expected:?}");
    Ok(())
}
