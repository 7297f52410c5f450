//! One run on several threads of this process, with the digest of the same
//! run on one.
//!
//! The run is split into shards exactly as a run across worker processes is
//! ([`netsim::shard`]): each thread hosts a contiguous block of instances
//! with its own simulation and executor, and the threads advance together in
//! conservative windows no longer than the lookahead, trading each window's
//! cross-shard events in memory ([`MemoryLink`]) where workers trade them
//! through Redis. The shards' results merge as the workers' do
//! ([`super::split::result::merge`]). One engine, two transports: what keeps
//! a split run equal to the whole one is netsim's, and this module only
//! starts the threads, links them and merges what they did.
//!
//! A packet faster than the lookahead (a link shaped below it, or the default
//! unshaped link) would arrive inside the window it was sent in, on another
//! thread: netsim stops such a run, and it is run again on one thread.
//! What a plan changes of the shared network itself (a fault, its address)
//! needs nothing of the kind: it travels as sync operations do, after the
//! sync latency (see `crate::plan::network`).

use super::observe::{Observer, Progress};
use super::split::result::{ShardResult, merge};
use super::{Execution, Part, Run, execute};
use crate::error::Error;
use crate::sync::SyncSetting;
use netsim::RunEnd;
use netsim::shard::{MemoryLink, ShardLayout};
use std::time::Duration;

/// The most threads one run uses. Each holds a shard whose tables cover the
/// whole run (about 2 KiB an instance: 10 MB a thread at 5000 instances) and
/// trades every window with every other, so threads past the cores cost
/// memory and time and buy nothing: 5000 of them for 5000 instances held
/// 24 GB before the first window ended. 256 is more cores than the
/// machines this runs on have.
pub const MAX_THREADS: u32 = 256;

/// How many threads a run in one process uses, and with what lookahead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThreadPlan {
    /// Threads, each hosting one shard; 1 runs the whole run on the calling thread.
    pub threads: u32,
    /// The longest window, when `threads` is above 1.
    pub lookahead: Duration,
}

impl ThreadPlan {
    /// The whole run on the calling thread.
    pub const ONE: ThreadPlan = ThreadPlan { threads: 1, lookahead: Duration::ZERO };
}

/// Why a run asked to use several threads uses one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OneThreadBecause {
    /// Nothing bounds how soon one instance's action reaches another.
    #[error(
        "the run has no lookahead (its sync latency is zero), so it runs on one thread; give it one with \
         --sync-latency (e.g. 1ms) and links at least that slow to use more"
    )]
    NoLookahead,
    /// The `--lookahead` given cannot work (zero, or above the sync latency), as for `--workers`.
    #[error("{0}, so the run uses one thread")]
    Lookahead(String),
    /// The sync service is one Redis server; shards each keep a replica of an embedded one.
    #[error("a run with --sync redis://… keeps its sync service in one place, so it runs on one thread")]
    RedisSync,
    /// A NAT shared by a group, or addresses a plan chooses, change state every shard must see at once.
    #[error("{0}; it runs on one thread")]
    Network(String),
}

/// The threads a run of `run` may use: `requested` (at least 1, at most
/// [`MAX_THREADS`]), fewer if the run has fewer instances, and one, saying why, when it cannot be split —
/// no lookahead (`lookahead`, else the sync latency), a Redis sync service,
/// or a network layout split runs refuse.
pub fn plan_threads(
    run: &Run,
    requested: u32,
    lookahead: Option<Duration>,
    sync: &SyncSetting,
) -> Result<ThreadPlan, (OneThreadBecause, ThreadPlan)> {
    let threads = requested.clamp(1, run.spec().instance_count().clamp(1, MAX_THREADS));
    if threads == 1 {
        return Ok(ThreadPlan::ONE);
    }
    let refuse = |why| Err((why, ThreadPlan::ONE));
    if *sync != SyncSetting::Embedded {
        return refuse(OneThreadBecause::RedisSync);
    }
    if let Some(why) = run.spec().network.split_refusal() {
        return refuse(OneThreadBecause::Network(why));
    }
    let sync_latency = run.spec().sync_latency;
    if sync_latency.is_zero() {
        return refuse(OneThreadBecause::NoLookahead);
    }
    match super::split::lookahead(sync_latency, lookahead) {
        Ok(lookahead) => Ok(ThreadPlan { threads, lookahead }),
        Err(e) => refuse(OneThreadBecause::Lookahead(e.to_string())),
    }
}

impl Run {
    /// Runs every instance in this process on `plan.threads` threads (see
    /// the module documentation), showing `observer` the progress. Gives the
    /// digest, outcomes and records of [`Run::execute`] on one thread, or,
    /// when the run turns out not to be splittable (a packet faster than the
    /// lookahead), ends as
    /// [`RunEnd::SplitFailed`] saying why: then run it on one thread, as
    /// [`Run::execute_on_threads`] does.
    pub fn try_on_threads(&self, plan: ThreadPlan, observer: Option<&dyn Observer>) -> Result<Execution, Error> {
        if plan.threads <= 1 {
            return self.execute(observer, &SyncSetting::Embedded);
        }
        let n = self.spec().instance_count();
        let progress = Progress::new(n);
        let links = MemoryLink::group(plan.threads as usize);
        let shards: Vec<Result<ShardResult, Error>> = super::observe::watch(&progress, observer, || {
            std::thread::scope(|scope| {
                let running: Vec<_> = links
                    .into_iter()
                    .enumerate()
                    .map(|(index, mut link)| {
                        let progress = &progress;
                        std::thread::Builder::new()
                            .name(format!("shard-{index}"))
                            .spawn_scoped(scope, move || {
                                let layout = ShardLayout::new(index as u32, plan.threads, n)
                                    .map_err(|e| Error::Host(anyhow::anyhow!(e)))?;
                                let part = Part::Shard { layout, lookahead: plan.lookahead, link: &mut link };
                                let execution = execute::execute(self, None, progress, &SyncSetting::Embedded, part)?;
                                Ok(ShardResult::of(execution, layout))
                            })
                            .expect("starting a shard's thread")
                    })
                    .collect();
                running
                    .into_iter()
                    .map(|thread| thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
                    .collect()
            })
        });
        let shards = shards.into_iter().collect::<Result<Vec<_>, _>>()?;
        Ok(merge(self.placements().to_vec(), shards))
    }

    /// [`Run::try_on_threads`], and the run again on one thread if it could
    /// not be split, with `fell_back` told why (once).
    pub fn execute_on_threads(
        &self,
        plan: ThreadPlan,
        observer: Option<&dyn Observer>,
        fell_back: impl FnOnce(&str),
    ) -> Result<Execution, Error> {
        let execution = self.try_on_threads(plan, observer)?;
        if let RunEnd::SplitFailed(why) = &execution.end {
            fell_back(why);
            return self.execute(observer, &SyncSetting::Embedded);
        }
        Ok(execution)
    }
}
