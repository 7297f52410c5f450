//! `example`: how instances coordinate through the sync service, written the
//! way a Testground Go plan is — enrol, elect a leader, exchange messages on
//! topics, and check that every instance saw the same thing.

use std::collections::BTreeSet;

use tg_sdk::prelude::*;

fn manifest() -> Manifest {
    Manifest::new("example")
        .case(
            TestCase::new("sync", sync)
                .describe("every instance publishes its seq, reads everyone's, and checks all saw the same order")
                .instances(1..=100_000),
        )
        .case(
            TestCase::new("barrier-storm", barrier_storm)
                .describe("every instance passes `barriers` barriers in a row, all instances on each")
                .instances(1..=100_000)
                .param(Param::int("barriers", 100).describe("barriers to pass")),
        )
        .case(
            TestCase::new("pubsub-storm", pubsub_storm)
                .describe("every instance publishes `messages` messages on one topic and reads all of them")
                .instances(1..=100_000)
                .param(Param::int("messages", 10).describe("messages each instance publishes")),
        )
}

/// Sync-service throughput under the heaviest coordination: every instance
/// on every barrier.
fn barrier_storm(env: &RunEnv) -> tg_sdk::Result<()> {
    let sync = env.sync();
    let all = u64::from(env.test_instance_count());
    let barriers: i64 = env.params().count("barriers")?;
    for i in 0..barriers {
        sync.signal_and_wait(&format!("storm-{i}"), all)?;
    }
    env.r().counter("barriers-passed", barriers as f64);
    Ok(())
}

/// Topic throughput: N × M messages published, each read by all N instances.
fn pubsub_storm(env: &RunEnv) -> tg_sdk::Result<()> {
    let sync = env.sync();
    let messages = env.params().count::<u64>("messages")?;
    let seq = u64::from(env.global_seq());
    for m in 0..messages {
        sync.publish("storm", &(seq * messages + m).to_le_bytes())?;
    }
    let topic = sync.subscribe("storm")?;
    let total = u64::from(env.test_instance_count()) * messages;
    let mut sum = 0u64;
    for _ in 0..total {
        let bytes = topic.next()?;
        sum = sum.wrapping_add(u64::from_le_bytes(bytes.as_slice().try_into()?));
    }
    // Every value 0..total arrived exactly once if the sum is right (no value repeats within a publisher).
    ensure!(sum == total * total.saturating_sub(1) / 2, "read {total} messages summing to {sum}");
    env.r().counter("messages-read", total as f64);
    Ok(())
}

fn sync(env: &RunEnv) -> tg_sdk::Result<()> {
    let sync = env.sync();
    let n = env.test_instance_count();
    let all = u64::from(n);

    // Enrol: arrival order on the state elects a leader.
    let seq = sync.signal_entry("enrolled")?;
    if seq == 1 {
        println!("leader");
        env.record_message("leader");
    }
    sync.barrier("enrolled", all)?;

    // Everyone publishes its global seq and reads everyone's.
    sync.publish_json("seqs", &env.global_seq())?;
    let received: Vec<u32> = sync.subscribe("seqs")?.take_json(n as usize)?;
    let distinct: BTreeSet<u32> = received.iter().copied().collect();
    ensure!(distinct.iter().copied().eq(0..n), "expected seqs 0..{n} once each, received {received:?}");
    sync.signal_and_wait("published", all)?;

    // A topic's order is the same for every reader: compare digests of it.
    let digest = fnv1a(&received);
    sync.publish_json("orders", &digest)?;
    let digests: Vec<u64> = sync.subscribe("orders")?.take_json(n as usize)?;
    let disagreeing = digests.iter().filter(|&&other| other != digest).count();
    // Everyone reaches the barrier before judging, so that a disagreement
    // fails every instance instead of stalling the ones that agree.
    sync.signal_and_wait("verified", all)?;

    env.r().counter("messages-received", (received.len() + digests.len()) as f64);
    ensure!(disagreeing == 0, "{disagreeing} of {n} instances saw another order of `seqs` than {received:?}");
    Ok(())
}

/// 64-bit FNV-1a over the little-endian bytes of `seqs`, in order.
fn fnv1a(seqs: &[u32]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    seqs.iter()
        .flat_map(|seq| seq.to_le_bytes())
        .fold(OFFSET_BASIS, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(PRIME))
}

tg_sdk::export_plan!(manifest);
