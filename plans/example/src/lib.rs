//! `example`: how instances coordinate through the sync service, written the
//! way a Testground Go plan is — enrol, elect a leader, exchange messages on
//! topics, and check that every instance saw the same thing.

use std::collections::BTreeSet;

use tg_sdk::prelude::*;

fn manifest() -> Manifest {
    Manifest::new("example").case(
        TestCase::new("sync", sync)
            .describe("every instance publishes its seq, reads everyone's, and checks all saw the same order")
            .instances(1..=100_000),
    )
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
