//! `dht`: a Kademlia DHT over UDP, modelled on Testground's DHT plan
//! (libp2p/test-plans): every instance is a node, a few are bootstrappers,
//! and the cases measure how well the network finds peers and provider
//! records once it has formed.
//!
//! Every case starts the same way ([`join`]): bind the socket, ping the
//! bootstrappers, look up our own id, refresh a random bucket, and wait —
//! still answering RPCs — until every node has done the same. Instances
//! coordinate through the sync service only between phases; inside a phase
//! all traffic is Kademlia RPCs over the simulated network.

mod kad;

use std::net::{SocketAddr, SocketAddrV4, ToSocketAddrs};
use std::time::{Duration, Instant};

use kad::{Goal, Id, LookupConfig, Node, Rng};
use tg_sdk::prelude::*;

/// The UDP port every node answers on.
const PORT: u16 = 4000;
/// How often a node that has finished a phase checks whether everyone has,
/// between answering RPCs. Virtual time: a shorter interval only costs wakeups.
const PHASE_POLL: Duration = Duration::from_secs(2);
/// The share of lookups that must succeed over the whole run.
const RUN_SUCCESS_RATE: f64 = 0.99;

fn common(case: TestCase) -> TestCase {
    case.instances(2..=100_000)
        .param(Param::int("bucket_size", 20).describe("k: contacts per k-bucket, and nodes a lookup converges on"))
        .param(Param::int("alpha", 3).describe("requests a lookup keeps in flight"))
        .param(Param::duration("latency", "50ms").describe("one-way latency each node adds to what it sends"))
        .param(
            Param::int("n_bootstrap", 3)
                .describe("bootstrapper instances (global seq 0..n_bootstrap; at least 1, all instances if fewer)"),
        )
        .param(Param::duration("timeout", "60s").describe("how long one lookup may take"))
        .param(Param::duration("rpc_timeout", "1s").describe("how long one RPC may take before it counts as lost"))
        .param(
            Param::int("refresh_lookups", 1).describe("lookups of random ids in nearby buckets after the self-lookup"),
        )
        .param(Param::bool("second_self_lookup", false).describe("look up our own id again once every node has joined"))
        .param(
            Param::duration("join_spread", "10s").describe(
                "nodes other than bootstrappers join at random times over this window, as a real network grows",
            ),
        )
}

fn manifest() -> Manifest {
    Manifest::new("dht")
        .case(
            common(TestCase::new("find-peers", find_peers))
                .describe("after bootstrap, each node looks up `n_find_peers` random other nodes by id")
                .param(Param::int("n_find_peers", 5).describe("nodes each instance looks up")),
        )
        .case(
            common(TestCase::new("find-providers", find_providers))
                .describe(
                    "record i is provided by instance i mod N; then each node finds the providers of `n_find_peers` records",
                )
                .param(Param::int("record_count", 100).describe("records provided, over all instances"))
                .param(Param::int("n_find_peers", 5).describe("records each instance looks up")),
        )
        .case(
            common(TestCase::new("bootstrap-network", bootstrap_network))
                .describe("bootstrap only, then check every routing table holds at least min(k, N-1) contacts"),
        )
}

/// Parameters every case shares.
struct Settings {
    n: u32,
    seq: u32,
    k: usize,
    n_bootstrap: u32,
    join_spread: Duration,
    latency: Duration,
    refresh_lookups: u32,
    second_self_lookup: bool,
    lookup: LookupConfig,
}

/// How many instances bootstrap: as asked, and all of them when fewer are
/// run (the default, 3, works for a run of 2); none would leave every join
/// with nobody to ask.
fn bootstrappers(asked: u32, instances: u32) -> tg_sdk::Result<u32> {
    ensure!(asked >= 1, "n_bootstrap must be at least 1: a node joins by asking a bootstrapper");
    Ok(asked.min(instances))
}

impl Settings {
    fn read(env: &RunEnv) -> tg_sdk::Result<Settings> {
        let p = env.params();
        let k = p.count::<usize>("bucket_size")?;
        let alpha = p.count::<usize>("alpha")?;
        ensure!(k >= 1 && alpha >= 1, "bucket_size and alpha must be at least 1");
        let rpc_timeout = p.duration("rpc_timeout")?;
        // With no time for an answer, every request would time out at the
        // instant it is sent, and a join would retry forever without the
        // clock moving.
        ensure!(!rpc_timeout.is_zero(), "rpc_timeout must be above 0s: an answer takes at least 2 × latency");
        let n = env.test_instance_count();
        Ok(Settings {
            n,
            seq: env.global_seq(),
            k,
            n_bootstrap: bootstrappers(p.count::<u32>("n_bootstrap")?, n)?,
            join_spread: p.duration("join_spread")?,
            latency: p.duration("latency")?,
            refresh_lookups: p.count::<u32>("refresh_lookups")?,
            second_self_lookup: p.bool("second_self_lookup")?,
            lookup: LookupConfig { alpha, k, rpc_timeout, timeout: p.duration("timeout")? },
        })
    }
}

/// A node id from the instance's seeded randomness, and a generator for the rest.
fn identity() -> tg_sdk::Result<(Id, Rng)> {
    let mut rng = Rng::new(getrandom::u64()?);
    Ok((Id::random(&mut rng), rng))
}

/// The topic on which instance `seq` publishes its node id, so others can
/// pick lookup targets; one topic per instance keeps reads to the few needed.
fn id_topic(seq: u32) -> String {
    format!("id-{seq}")
}

/// Instance `seq`'s node id, as it published it.
fn id_of(env: &RunEnv, seq: u32) -> tg_sdk::Result<Id> {
    let bytes = env.sync().subscribe(&id_topic(seq))?.next()?;
    Ok(Id(bytes.as_slice().try_into().map_err(|_| format!("instance {seq} published a {}-byte id", bytes.len()))?))
}

/// Instance `seq`'s DHT address, found by name.
fn address_of(seq: u32) -> tg_sdk::Result<SocketAddrV4> {
    for addr in (format!("instance-{seq}"), PORT).to_socket_addrs()? {
        if let SocketAddr::V4(addr) = addr {
            return Ok(addr);
        }
    }
    Err(format!("instance-{seq} has no IPv4 address").into())
}

/// Ends a phase without going deaf: signals arrival, and answers RPCs until
/// the last instance to arrive announces that everyone has. A plain barrier
/// would block this instance while others still need its answers.
fn phase(env: &RunEnv, node: &mut Node, name: &str, n: u32) -> tg_sdk::Result<()> {
    let sync = env.sync();
    let topic = format!("{name}-complete");
    let complete = sync.subscribe(&topic)?;
    if sync.signal_entry(name)? == u64::from(n) {
        sync.publish(&topic, b"")?;
        return Ok(());
    }
    while complete.try_next().is_none() {
        node.serve(Instant::now() + PHASE_POLL)?;
    }
    Ok(())
}

/// Joins the DHT: publish our id, bind, learn the bootstrappers, look up our
/// own id and a few random ones, then wait (serving) until all have joined.
fn join(env: &RunEnv, s: &Settings) -> tg_sdk::Result<(Node, Rng)> {
    // Every node shapes what it sends, so a request-response round trip costs
    // two latencies, as between two shaped Testground containers.
    let shape = LinkShape::with_latency(s.latency);
    env.network().configure(&NetworkConfig { default: shape, ..NetworkConfig::default() })?;
    let (id, mut rng) = identity()?;
    env.sync().publish(&id_topic(s.seq), &id.0)?;
    let bootstrapper = s.seq < s.n_bootstrap;
    if !bootstrapper && !s.join_spread.is_zero() {
        // Nobody knows this node before it speaks, so it need not listen yet.
        let spread = s.join_spread.as_nanos() as u64;
        std::thread::sleep(Duration::from_nanos(rng.below(spread)));
    }
    let mut node = Node::bind(id, PORT, s.k)?;
    let start = Instant::now();
    for seq in (0..s.n_bootstrap).filter(|&b| b != s.seq) {
        let deadline = Instant::now() + s.lookup.timeout;
        if !node.ping(address_of(seq)?, s.lookup.rpc_timeout, deadline)? {
            env.d().counter("bootstrap-unreachable", 1.0);
        }
    }
    let own = node.lookup(id, Goal::Closest, &s.lookup)?;
    env.d().histogram("join-lookup-hops", f64::from(own.hops));
    for _ in 0..s.refresh_lookups {
        let bucket = rng.below(16) as usize;
        let target = id.random_in_bucket(bucket, &mut rng);
        node.lookup(target, Goal::Closest, &s.lookup)?;
    }
    env.r().timer("time-to-join", start.elapsed());
    phase(env, &mut node, "joined", s.n)?;
    // A second self-lookup once everyone is in: nodes that joined early learn
    // of close neighbours that joined after them.
    if s.second_self_lookup {
        node.lookup(id, Goal::Closest, &s.lookup)?;
        phase(env, &mut node, "bootstrapped", s.n)?;
    }
    env.d().gauge("routing-table-size", node.table.len() as f64);
    env.d().gauge("buckets-used", node.table.buckets_used() as f64);
    Ok((node, rng))
}

/// `count` distinct values from `0..n`, none equal to `except`.
fn pick(rng: &mut Rng, n: u32, except: Option<u32>, count: usize) -> Vec<u32> {
    let available = n as usize - usize::from(except.is_some_and(|e| e < n));
    let count = count.min(available);
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let v = rng.below(u64::from(n)) as u32;
        if Some(v) != except && !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// Reports this instance's lookups, and judges them at two levels: the
/// instance fails if most of its own lookups failed, and instance 0 fails
/// the run if fewer than 99% of all lookups succeeded.
fn tally(env: &RunEnv, node: &mut Node, s: &Settings, ok: u32, failed: u32) -> tg_sdk::Result<()> {
    phase(env, node, "lookups-done", s.n)?;
    env.r().counter("lookups-ok", f64::from(ok));
    env.r().counter("lookups-failed", f64::from(failed));
    env.d().counter("rpcs-served", node.served as f64);
    let sync = env.sync();
    sync.publish("tally", &[ok.to_le_bytes(), failed.to_le_bytes()].concat())?;
    if s.seq == 0 {
        let tallies = sync.subscribe("tally")?;
        let (mut all_ok, mut all_failed) = (0u64, 0u64);
        for _ in 0..s.n {
            let t = tallies.next()?;
            ensure!(t.len() == 8, "a tally of {} bytes", t.len());
            all_ok += u64::from(u32::from_le_bytes(t[..4].try_into()?));
            all_failed += u64::from(u32::from_le_bytes(t[4..].try_into()?));
        }
        let total = all_ok + all_failed;
        let rate = if total == 0 { 1.0 } else { all_ok as f64 / total as f64 };
        env.r().point("run-success-rate", rate);
        env.record_message(format!("{all_ok} of {total} lookups succeeded ({:.3}%)", rate * 100.0));
        ensure!(
            rate >= RUN_SUCCESS_RATE,
            "only {all_ok} of {total} lookups succeeded over the run ({:.2}% < {:.0}%)",
            rate * 100.0,
            RUN_SUCCESS_RATE * 100.0
        );
    }
    ensure!(failed <= ok, "{failed} of {} lookups failed", ok + failed);
    Ok(())
}

fn find_peers(env: &RunEnv) -> tg_sdk::Result<()> {
    let s = Settings::read(env)?;
    let wanted = env.params().count::<usize>("n_find_peers")?;
    let (mut node, mut rng) = join(env, &s)?;
    let (mut ok, mut failed) = (0, 0);
    for seq in pick(&mut rng, s.n, Some(s.seq), wanted) {
        let target = id_of(env, seq)?;
        let start = Instant::now();
        let lookup = node.lookup(target, Goal::Node, &s.lookup)?;
        env.d().counter("lookup-rpcs", f64::from(lookup.queried));
        env.d().counter("rpc-timeouts", f64::from(lookup.timeouts));
        if lookup.found {
            ok += 1;
            env.r().timer("time-to-find", start.elapsed());
            env.r().histogram("hops", f64::from(lookup.hops));
            env.r().counter("peers-found", 1.0);
        } else {
            failed += 1;
            env.r().counter("peers-missing", 1.0);
            env.record_message(format!("instance {seq} ({}) not found", target.short()));
        }
    }
    tally(env, &mut node, &s, ok, failed)
}

fn find_providers(env: &RunEnv) -> tg_sdk::Result<()> {
    let s = Settings::read(env)?;
    let records = env.params().count::<u32>("record_count")?;
    let wanted = env.params().count::<usize>("n_find_peers")?;
    let (mut node, mut rng) = join(env, &s)?;

    // Provide: record i belongs to instance i mod N.
    for record in (s.seq..records).step_by(s.n as usize) {
        let start = Instant::now();
        let (acked, _) = node.provide(Id::record_key(u64::from(record)), &s.lookup)?;
        env.r().timer("time-to-provide", start.elapsed());
        env.d().histogram("provider-acks", acked as f64);
        ensure!(acked > 0, "nobody stored record {record}");
    }
    phase(env, &mut node, "provided", s.n)?;

    // Find: records someone else provided, checking the provider is the right one.
    let mut ok = 0;
    let mut failed = 0;
    let theirs: Vec<u32> = (0..records).filter(|r| r % s.n != s.seq).collect();
    for i in pick(&mut rng, theirs.len() as u32, None, wanted) {
        let record = theirs[i as usize];
        let provider = id_of(env, record % s.n)?;
        let start = Instant::now();
        let lookup = node.lookup(Id::record_key(u64::from(record)), Goal::Providers, &s.lookup)?;
        env.d().counter("lookup-rpcs", f64::from(lookup.queried));
        if lookup.found && lookup.providers.iter().any(|c| c.id == provider) {
            ok += 1;
            env.r().timer("time-to-find", start.elapsed());
            env.r().histogram("hops", f64::from(lookup.hops));
            env.r().counter("providers-found", 1.0);
        } else {
            failed += 1;
            env.r().counter("providers-missing", 1.0);
            env.record_message(format!("record {record} not found"));
        }
    }
    tally(env, &mut node, &s, ok, failed)
}

fn bootstrap_network(env: &RunEnv) -> tg_sdk::Result<()> {
    let s = Settings::read(env)?;
    let (node, _) = join(env, &s)?;
    let size = node.table.len();
    let want = s.k.min(s.n as usize - 1);
    env.r().gauge("routing-table-size", size as f64);
    ensure!(size >= want, "routing table holds {size} contacts, fewer than min(k, N-1) = {want}");
    Ok(())
}

tg_sdk::export_plan!(manifest);
