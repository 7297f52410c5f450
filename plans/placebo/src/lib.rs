//! `placebo`: test cases whose outcome is known in advance — success, failure,
//! panic, trap, stall, sleep and randomness — so that the runner itself can be
//! tested against them (the Testground plan of the same name, for tg-wasm).

use std::time::{Duration, Instant, SystemTime};

use tg_sdk::prelude::*;

const INSTANCES: std::ops::RangeInclusive<u32> = 1..=100_000;

fn manifest() -> Manifest {
    Manifest::new("placebo")
        .case(TestCase::new("ok", ok).describe("succeeds at once").instances(INSTANCES))
        .case(TestCase::new("fail", fail).describe("fails with a known reason").instances(INSTANCES))
        .case(TestCase::new("panic", panic).describe("panics with a known message").instances(INSTANCES))
        .case(TestCase::new("trap", trap).describe("executes `unreachable`").instances(INSTANCES))
        .case(TestCase::new("stall", stall).describe("waits on a barrier nobody can reach").instances(INSTANCES))
        .case(
            TestCase::new("one-panics", one_panics)
                .describe("instance 0 panics after `after`; every other instance waits for all at a barrier")
                .instances(INSTANCES)
                .param(Param::duration("after", "1s").describe("virtual time before instance 0 panics")),
        )
        .case(
            TestCase::new("sleep", sleep)
                .describe("sleeps, and checks both clocks advanced by exactly that much")
                .instances(INSTANCES)
                .param(Param::duration("duration", "1h").describe("how long to sleep")),
        )
        .case(
            TestCase::new("identity", identity)
                .describe("prints where the instance stands: group, seqs, counts and its `label` param")
                .instances(INSTANCES)
                .param(Param::string("label", "none").describe("any text; compositions set it per group")),
        )
        .case(
            TestCase::new("random", random)
                .describe("prints and records a random u64 drawn through WASI")
                .instances(INSTANCES),
        )
        .case(
            TestCase::new("spin", spin)
                .describe("hashes without calling the host (CPU-bound; preempted by fuel), printing progress")
                .instances(INSTANCES)
                .param(Param::int("iterations", "1000000").describe("FNV-1a rounds over an 8-byte counter")),
        )
        .case(
            TestCase::new("metrics", metrics)
                .describe("records `points` result histogram values and a counter, then meets the others at a barrier")
                .instances(INSTANCES)
                .param(Param::int("points", "100").describe("histogram values each instance records"))
                .param(Param::float("scale", "1.0").describe("multiplies every value; compositions vary it per group")),
        )
}

fn ok(_env: &RunEnv) -> tg_sdk::Result<()> {
    Ok(())
}

fn fail(_env: &RunEnv) -> tg_sdk::Result<()> {
    bail!("placebo failure as requested")
}

fn panic(_env: &RunEnv) -> tg_sdk::Result<()> {
    panic!("placebo panic as requested")
}

fn trap(_env: &RunEnv) -> tg_sdk::Result<()> {
    // A trap without a panic: the host must report it with no panic message.
    core::arch::wasm32::unreachable()
}

fn identity(env: &RunEnv) -> tg_sdk::Result<()> {
    println!(
        "group={} group_seq={} group_count={} global_seq={} total={} label={}",
        env.group_id(),
        env.group_seq(),
        env.group_instance_count(),
        env.global_seq(),
        env.test_instance_count(),
        env.string_param("label")
    );
    Ok(())
}

fn stall(env: &RunEnv) -> tg_sdk::Result<()> {
    let unreachable_target = u64::from(env.test_instance_count()) + 1;
    env.sync().barrier("stall-never", unreachable_target)?;
    bail!("barrier `stall-never` was released with {unreachable_target} entries, more than there are instances")
}

fn one_panics(env: &RunEnv) -> tg_sdk::Result<()> {
    if env.global_seq() == 0 {
        std::thread::sleep(env.duration_param("after"));
        panic!("placebo panic as requested, before reaching the barrier");
    }
    env.sync().signal_and_wait("all-here", u64::from(env.test_instance_count()))?;
    bail!("barrier `all-here` was released although instance 0 never reached it")
}

fn sleep(env: &RunEnv) -> tg_sdk::Result<()> {
    let duration: Duration = env.duration_param("duration");
    let start = Instant::now();
    let wall_start = SystemTime::now();

    std::thread::sleep(duration);

    // Virtual time advances by exactly what was asked: any difference means a
    // clock leaked real time or rounded.
    let elapsed = start.elapsed();
    let wall_elapsed = SystemTime::now().duration_since(wall_start)?;
    env.r().timer("elapsed", elapsed);
    ensure!(elapsed == duration, "slept {duration:?} but the monotonic clock advanced {elapsed:?}");
    ensure!(wall_elapsed == duration, "slept {duration:?} but the wall clock advanced {wall_elapsed:?}");
    Ok(())
}

fn random(env: &RunEnv) -> tg_sdk::Result<()> {
    let value = getrandom::u64()?;
    println!("random: {value}");
    env.record_message(format!("random: {value}"));
    Ok(())
}

/// Progress lines per `spin` run: several, so the trace shows where
/// instances took turns when fuel preempted them.
const SPIN_REPORTS: i64 = 4;

fn spin(env: &RunEnv) -> tg_sdk::Result<()> {
    let iterations: i64 = env.try_count_param("iterations")?;
    // Seeded by the instance, so every instance computes something different.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325 ^ u64::from(env.global_seq());
    let step = (iterations / SPIN_REPORTS).max(1);
    for i in 0..iterations {
        for byte in (i as u64).to_le_bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        if (i + 1) % step == 0 {
            println!("spin: {}/{iterations} fnv={hash:016x}", i + 1);
        }
    }
    println!("spin: done fnv={hash:016x}");
    Ok(())
}

fn metrics(env: &RunEnv) -> tg_sdk::Result<()> {
    let points: i64 = env.try_count_param("points")?;
    let scale = env.float_param("scale");
    // A fixed LCG (Knuth's MMIX constants) seeded by the instance: a spread of
    // values that is the same on every run, with no host call per value.
    let mut x = u64::from(env.global_seq()).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ env.seed();
    let latency = env.r().unit("ms");
    for _ in 0..points {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let unit_interval = (x >> 11) as f64 / (1u64 << 53) as f64;
        latency.histogram("latency", scale * (1.0 + 99.0 * unit_interval * unit_interval));
    }
    env.r().counter("values-recorded", points as f64);
    env.d().gauge("last-raw", (x >> 32) as f64);
    env.sync().signal_and_wait("recorded", u64::from(env.test_instance_count()))?;
    Ok(())
}

tg_sdk::export_plan!(manifest);
