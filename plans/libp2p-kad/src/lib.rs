//! `libp2p-kad`: rust-libp2p's Kademlia — libp2p-tcp on tokio, noise, yamux,
//! identify and kad from crates.io, unchanged — one node per instance, with
//! the cases, parameters and metrics of `plans/dht` where they apply.
//!
//! Every case starts the same way ([`join`]): listen, publish the listen
//! address on the sync service, wait for everyone to listen, then (after a
//! random moment within `join_spread`, for all but the bootstrappers) add the
//! bootstrappers to Kademlia and run libp2p's bootstrap. Between phases the
//! node keeps serving: every wait on the sync service is awaited while the
//! swarm runs ([`Node::serve_while`]).
//!
//! Owns: the cases, their parameters and what they measure. Does not own:
//! the libp2p node ([`node`]).

mod handshakes;
mod node;
mod simultaneous;

use std::cell::Cell;
use std::num::NonZeroUsize;
use std::pin::pin;
use std::rc::Rc;
use std::time::Duration;

use futures::future::{Either, select};

use libp2p_core::Multiaddr;
use libp2p_identity::PeerId;
use node::{KadSettings, Node};
use serde::{Deserialize, Serialize};
use tg_sdk::prelude::*;
use tg_sdk::{AsyncClient, AsyncSubscription, Recorder};
use tokio::time::Instant;

/// How long a node may take to report a listen address before it gives up
/// with the reason, rather than leaving the others waiting for it.
const LISTEN_PATIENCE: Duration = Duration::from_secs(10);
/// The topic on which an instance that fails says why, so that the others
/// stop with that reason at their next phase instead of waiting for it.
const FAILURES: &str = "failures";

fn common(case: TestCase) -> TestCase {
    case.instances(2..=100_000)
        .param(Param::int("bucket_size", 20).describe("k: contacts per k-bucket, and peers a lookup converges on"))
        .param(Param::int("alpha", 3).describe("requests a lookup keeps in flight"))
        .param(Param::duration("latency", "50ms").describe("one-way latency each node adds to what it sends"))
        .param(
            Param::int("n_bootstrap", 3)
                .describe("bootstrapper instances (global seq 0..n_bootstrap; at least 1, all instances if fewer)"),
        )
        .param(Param::duration("timeout", "60s").describe("how long one lookup may take"))
        .param(Param::duration("rpc_timeout", "10s").describe("how long one request may take before it counts as lost"))
        .param(
            Param::duration("join_spread", "10s").describe(
                "nodes other than bootstrappers join at random times over this window, as a real network grows",
            ),
        )
        .param(
            Param::bool("second_bootstrap", false)
                .describe("bootstrap again once every node has joined, to learn of neighbours that joined later"),
        )
        .param(
            Param::duration("idle_timeout", "60s")
                .describe("how long a connection no protocol uses stays open (libp2p-swarm's idle connection timeout)"),
        )
        .param(
            Param::bool("port_reuse", true).describe(
                "dial from the listening port, libp2p-tcp's default; off, every dial leaves from a fresh port",
            ),
        )
        .param(
            Param::duration("phase_timeout", "10m").describe(
                "how long a node waits for all others at the end of a phase before it fails, naming the phase",
            ),
        )
        .param(
            Param::string("listen_addr", "/ip4/0.0.0.0/tcp/4001")
                .describe("the multiaddr every node listens on; the unspecified address listens on every interface"),
        )
}

fn manifest() -> Manifest {
    let manifest = Manifest::new("libp2p-kad")
        .case(
            common(TestCase::new("find-peers", find_peers))
                .describe("after bootstrap, each node looks up `n_find_peers` random other nodes by peer id")
                .param(Param::int("n_find_peers", 5).describe("nodes each instance looks up"))
                .param(Param::int("lookup_attempts", 2).describe(
                    "tries a lookup gets to find its peer; a miss is tried again, as an application would (1: no retry)",
                )),
        )
        .case(
            common(TestCase::new("bootstrap-network", bootstrap_network))
                .describe("bootstrap only, then check every routing table holds at least min(k, N-1) contacts"),
        );
    handshakes::case(simultaneous::case(manifest))
}

tg_sdk::export_plan!(manifest);

/// Parameters every case shares.
struct Settings {
    n: u32,
    seq: u32,
    k: usize,
    n_bootstrap: u32,
    latency: Duration,
    join_spread: Duration,
    second_bootstrap: bool,
    phase_timeout: Duration,
    listen_addr: Multiaddr,
    kad: KadSettings,
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
        let positive = |name: &str| -> tg_sdk::Result<NonZeroUsize> {
            NonZeroUsize::new(p.count::<usize>(name)?).ok_or_else(|| format!("{name} must be at least 1").into())
        };
        let k = positive("bucket_size")?;
        let alpha = positive("alpha")?;
        let listen_addr = p.string("listen_addr")?;
        let n = env.test_instance_count();
        Ok(Settings {
            n,
            seq: env.global_seq(),
            k: k.get(),
            n_bootstrap: bootstrappers(p.count::<u32>("n_bootstrap")?, n)?,
            latency: p.duration("latency")?,
            join_spread: p.duration("join_spread")?,
            second_bootstrap: p.bool("second_bootstrap")?,
            phase_timeout: p.duration("phase_timeout")?,
            listen_addr: listen_addr.parse().map_err(|e| format!("listen_addr {listen_addr:?}: {e}"))?,
            kad: KadSettings {
                k,
                alpha,
                query_timeout: p.duration("timeout")?,
                rpc_timeout: p.duration("rpc_timeout")?,
                idle_timeout: p.duration("idle_timeout")?,
                port_reuse: p.bool("port_reuse")?,
            },
        })
    }
}

/// What a node publishes about itself on `peer-<seq>`.
#[derive(Serialize, Deserialize)]
struct PeerRecord {
    peer: String,
    addrs: Vec<String>,
}

/// The topic on which instance `seq` publishes its peer id and addresses;
/// one topic per instance keeps reads to the few needed.
fn peer_topic(seq: u32) -> String {
    format!("peer-{seq}")
}

/// Instance `seq`'s peer id and dialable addresses, as it published them.
async fn peer_of(sync: &AsyncClient, seq: u32) -> tg_sdk::Result<(PeerId, Vec<Multiaddr>)> {
    let record: PeerRecord = sync.subscribe(&peer_topic(seq))?.next_json().await?;
    let peer = record.peer.parse().map_err(|e| format!("instance {seq} published peer id {:?}: {e}", record.peer))?;
    let addrs = record
        .addrs
        .iter()
        .map(|a| a.parse().map_err(|e| format!("instance {seq} published address {a:?}: {e}")))
        .collect::<Result<_, _>>()?;
    Ok((peer, addrs))
}

/// A uniform draw below `bound` from the instance's seeded randomness.
fn below(bound: u64) -> tg_sdk::Result<u64> {
    Ok(if bound == 0 { 0 } else { getrandom::u64()? % bound })
}

/// `count` distinct instances other than `except`, drawn from the seeded randomness.
fn pick(n: u32, except: u32, count: usize) -> tg_sdk::Result<Vec<u32>> {
    let count = count.min(n as usize - 1);
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let v = below(u64::from(n))? as u32;
        if v != except && !out.contains(&v) {
            out.push(v);
        }
    }
    Ok(out)
}

/// The ends of phases: every node waits, serving, until all have arrived —
/// or fails at once when another node reports that it failed, or when the
/// phase takes longer than `phase_timeout`. Without the last two a node that
/// fails would leave the others waiting for good, and kad's and tokio's timers
/// would keep them busy on virtual time instead of letting the run stop.
struct Phases {
    sync: AsyncClient,
    n: u64,
    failures: AsyncSubscription,
    timeout: Duration,
    /// Set when this node fails because another did: that failure is on the
    /// topic already.
    relayed: Rc<Cell<bool>>,
}

impl Phases {
    fn new(sync: AsyncClient, s: &Settings) -> tg_sdk::Result<Phases> {
        let failures = sync.subscribe(FAILURES)?;
        let relayed = Rc::new(Cell::new(false));
        Ok(Phases { sync, n: u64::from(s.n), failures, timeout: s.phase_timeout, relayed })
    }

    async fn end(&mut self, node: &mut Node, phase: &str) -> tg_sdk::Result<()> {
        let everyone = pin!(self.sync.signal_and_wait(phase, self.n));
        let failure = pin!(self.failures.next());
        match node.serve_while(tokio::time::timeout(self.timeout, select(everyone, failure))).await {
            Ok(Either::Left((passed, _))) => Ok(passed.map(drop)?),
            Ok(Either::Right((failure, _))) => {
                self.relayed.set(true);
                bail!("{}", String::from_utf8_lossy(&failure?))
            }
            Err(_) => bail!("not every node reached `{phase}` within {:?} (phase_timeout)", self.timeout),
        }
    }
}

/// Runs a case's body on a current-thread runtime (wasip2 has no threads)
/// and, if it fails, tells the other instances why.
fn run_case<F, Fut>(env: &RunEnv, body: F) -> tg_sdk::Result<()>
where
    F: FnOnce(Settings, Phases) -> Fut,
    Fut: Future<Output = tg_sdk::Result<()>>,
{
    let s = Settings::read(env)?;
    let sync = env.sync_async();
    let phases = Phases::new(sync.clone(), &s)?;
    let relayed = phases.relayed.clone();
    let seq = s.seq;
    runtime()?.block_on(async move {
        let outcome = body(s, phases).await;
        if let Err(e) = &outcome
            && !relayed.get()
        {
            sync.publish(FAILURES, format!("instance {seq} failed: {e}").as_bytes()).await?;
        }
        outcome
    })
}

/// Joins the network: listen and publish where, wait for everyone to, then
/// bootstrap from the bootstrappers (after a random wait within
/// `join_spread`, except for them) and wait, serving, until every node has.
async fn join(env: &RunEnv, s: &Settings, phases: &mut Phases) -> tg_sdk::Result<Node> {
    // Every node shapes what it sends, so a request-response round trip costs
    // two latencies, as between two shaped Testground containers.
    env.network()
        .configure(&NetworkConfig { default: LinkShape::with_latency(s.latency), ..NetworkConfig::default() })?;
    let mut node = Node::new(&s.kad)?;
    let addrs = node.listen(s.listen_addr.clone(), LISTEN_PATIENCE).await?;
    let record = PeerRecord { peer: node.peer_id().to_string(), addrs: addrs.iter().map(|a| a.to_string()).collect() };
    phases.sync.publish_json(&peer_topic(s.seq), &record).await?;
    phases.end(&mut node, "listening").await?;

    let bootstrapper = s.seq < s.n_bootstrap;
    if !bootstrapper && !s.join_spread.is_zero() {
        let wait = Duration::from_nanos(below(s.join_spread.as_nanos() as u64)?);
        node.serve_while(tokio::time::sleep(wait)).await;
    }
    let start = Instant::now();
    let mut known = 0;
    for seq in (0..s.n_bootstrap).filter(|&b| b != s.seq) {
        let (peer, addrs) = peer_of(&phases.sync, seq).await?;
        for addr in addrs {
            node.add_address(peer, addr);
        }
        known += 1;
    }
    // A lone bootstrapper knows nobody to ask: the network comes to it.
    if known > 0 {
        node.bootstrap().await?;
    }
    env.r().timer("time-to-join", start.elapsed());
    phases.end(&mut node, "joined").await?;
    if s.second_bootstrap {
        node.bootstrap().await?;
        phases.end(&mut node, "bootstrapped").await?;
    }
    let (entries, buckets) = node.routing_table();
    env.d().gauge("routing-table-size", entries as f64);
    env.d().gauge("buckets-used", buckets as f64);
    Ok(node)
}

/// Records what the swarm did, as diagnostics.
fn record_counts(d: &Recorder, node: &Node) {
    d.counter("connections", node.counts.connections as f64);
    d.counter("dial-failures", node.counts.dial_failures as f64);
    d.counter("incoming-failures", node.counts.incoming_failures as f64);
    d.counter("peers-identified", node.counts.identified as f64);
    // The instance's linear memory, which only grows: its peak.
    d.gauge("memory-mib", (core::arch::wasm32::memory_size(0) * 65_536) as f64 / (1 << 20) as f64);
}

/// A current-thread runtime with IO and timers.
fn runtime() -> tg_sdk::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}

fn find_peers(env: &RunEnv) -> tg_sdk::Result<()> {
    let wanted = env.params().count::<usize>("n_find_peers")?;
    let attempts = env.params().count::<u32>("lookup_attempts")?;
    ensure!(attempts >= 1, "lookup_attempts must be at least 1");
    run_case(env, |s, mut phases| async move {
        let mut node = join(env, &s, &mut phases).await?;
        let (mut ok, mut failed) = (0u32, 0u32);
        for seq in pick(s.n, s.seq, wanted)? {
            let (target, _) = peer_of(&phases.sync, seq).await?;
            let start = Instant::now();
            let mut found = false;
            for attempt in 1..=attempts {
                let stats;
                (found, stats) = node.find(target).await;
                env.d().counter("lookup-rpcs", f64::from(stats.num_requests()));
                env.d().counter("rpc-failures", f64::from(stats.num_failures()));
                if let Some(duration) = stats.duration() {
                    env.r().histogram("lookup-duration", duration.as_secs_f64());
                }
                if found {
                    break;
                }
                // A miss is most often a crossed dial to the target (see the
                // plan's README, "Port reuse"): counted, and tried again.
                if attempt < attempts {
                    env.d().counter("lookups-retried", 1.0);
                }
            }
            if found {
                ok += 1;
                env.r().timer("time-to-find", start.elapsed());
                env.r().counter("peers-found", 1.0);
            } else {
                failed += 1;
                env.r().counter("peers-missing", 1.0);
                env.record_message(format!("instance {seq} ({target}) not found"));
            }
        }
        // Keep serving until everyone is done: others' lookups need this node.
        let tally = [ok.to_le_bytes(), failed.to_le_bytes()].concat();
        phases.sync.publish("tally", &tally).await?;
        phases.end(&mut node, "lookups-done").await?;
        env.r().counter("lookups-ok", f64::from(ok));
        env.r().counter("lookups-failed", f64::from(failed));
        record_counts(&env.d(), &node);
        if s.seq == 0 {
            run_success_rate(env, &phases.sync, s.n).await?;
        }
        ensure!(failed == 0, "{failed} of {} lookups did not find their peer", ok + failed);
        Ok(())
    })
}

/// Instance 0 reads every instance's tally and records the run's success
/// rate, so the metric is in the summary even when every lookup succeeded.
async fn run_success_rate(env: &RunEnv, sync: &AsyncClient, n: u32) -> tg_sdk::Result<()> {
    let mut tallies = sync.subscribe("tally")?;
    let (mut all_ok, mut all_failed) = (0u64, 0u64);
    for _ in 0..n {
        let t = tallies.next().await?;
        ensure!(t.len() == 8, "a tally of {} bytes", t.len());
        all_ok += u64::from(u32::from_le_bytes(t[..4].try_into()?));
        all_failed += u64::from(u32::from_le_bytes(t[4..].try_into()?));
    }
    let total = all_ok + all_failed;
    let rate = if total == 0 { 1.0 } else { all_ok as f64 / total as f64 };
    env.r().point("run-success-rate", rate);
    env.record_message(format!("{all_ok} of {total} lookups found their peer ({:.3}%)", rate * 100.0));
    Ok(())
}

fn bootstrap_network(env: &RunEnv) -> tg_sdk::Result<()> {
    run_case(env, |s, mut phases| async move {
        let mut node = join(env, &s, &mut phases).await?;
        let (size, _) = node.routing_table();
        env.r().gauge("routing-table-size", size as f64);
        record_counts(&env.d(), &node);
        let want = s.k.min(s.n as usize - 1);
        ensure!(size >= want, "routing table holds {size} contacts, fewer than min(k, N-1) = {want}");
        Ok(())
    })
}
