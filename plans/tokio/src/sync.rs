//! `sync-async` and `sync-blocking`: the same sync operations through the
//! async client inside tokio and through the blocking client, which must give
//! the same trace digest: the async API changes how a plan waits, not what
//! the sync service sees.

use tg_sdk::prelude::*;

use crate::runtime;

pub fn cases(manifest: Manifest) -> Manifest {
    let case = |name, run, how| {
        TestCase::new(name, run)
            .describe(format!(
                "{how}: signal `arrived`, wait for everyone, publish the sequence number on `greetings`, read \
                 all greetings and check each instance saw every one in the same order"
            ))
            .instances(1..=10_000)
    };
    manifest.case(case("sync-async", sync_async, "with the async client on tokio")).case(case(
        "sync-blocking",
        sync_blocking,
        "with the blocking client",
    ))
}

fn sync_async(env: &RunEnv) -> tg_sdk::Result<()> {
    let sync = env.sync_async();
    let n = u64::from(env.test_instance_count());
    runtime()?.block_on(async move {
        let seq = sync.signal_entry("arrived").await?;
        sync.barrier("arrived", n).await?;
        sync.publish_json("greetings", &seq).await?;
        let greetings: Vec<u64> = sync.subscribe("greetings")?.take_json(n as usize).await?;
        check(&greetings, n)?;
        sync.signal_and_wait("end", n).await?;
        Ok(())
    })
}

fn sync_blocking(env: &RunEnv) -> tg_sdk::Result<()> {
    let sync = env.sync();
    let n = u64::from(env.test_instance_count());
    let seq = sync.signal_entry("arrived")?;
    sync.barrier("arrived", n)?;
    sync.publish_json("greetings", &seq)?;
    let greetings: Vec<u64> = sync.subscribe("greetings")?.take_json(n as usize)?;
    check(&greetings, n)?;
    sync.signal_and_wait("end", n)?;
    Ok(())
}

/// Every sequence number once: the topic's order is the publish order, which
/// every instance sees alike.
fn check(greetings: &[u64], n: u64) -> tg_sdk::Result<()> {
    let mut sorted = greetings.to_vec();
    sorted.sort_unstable();
    ensure!(sorted == (1..=n).collect::<Vec<_>>(), "greetings {greetings:?} are not each of 1..={n} once");
    Ok(())
}
