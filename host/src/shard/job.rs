//! [`JobBoard`]: how a sharded run's inputs, shards and results travel
//! through Redis, so that `tg-wasm worker --sync redis://…` on another machine
//! can join a run. It owns the run's spec, plan, claim tickets, results and
//! cleanup; the per-window frames are [`super::mailbox`]'s, and what a spec or
//! a result contains is the caller's.
//!
//! The coordinator publishes the run (spec and plan bytes, shard count) and,
//! for remote workers, pushes one claim ticket `<run>/<index>` per shard onto
//! the queue shared by all runs, `tg:shard:queue`. A worker claims a ticket,
//! fetches the run, exchanges windows, and pushes its result; the coordinator
//! collects the results by shard index and cleans up. While a worker runs its
//! shard it beats ([`super::heartbeat`]); the collector gives up on a worker
//! whose beat stops before its result came.
//!
//! As in the mailbox, every call may be repeated after a lost reply, so each
//! is made safe to repeat: publishing is recorded under a per-call id (a
//! repeat is recognised, a second publisher is refused); a claim records the
//! ticket it popped under a per-claim key before replying, so a repeat returns
//! the same ticket instead of popping, and losing, another; results are SETs.
//! Waits are `BLPOP`s on bell lists (one token per ticket or result) with a
//! short timeout, so that Ctrl-C and the caller's checks run between them.

use super::heartbeat::{self, SILENT_LIMIT};
use super::{DEFAULT_POLL, InvalidRun, KEY_TTL_SECS, RunKeys, blpop_secs};
use crate::sync::redis::{LinkError, RedisLink, RedisSetupError, RetryPolicy, nonce};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Claim tickets of every run, oldest first.
pub const QUEUE: &str = "tg:shard:queue";

/// One token per ticket pushed, for claimers to block on.
const QUEUE_BELL: &str = "tg:shard:queue-bell";

/// A claim's record lives this long: only a repeated claim call reads it, a
/// few seconds later at most.
const CLAIM_RECORD_TTL_SECS: u64 = 600;

/// Stores the run once per publisher; returns 1, or 0 if someone else published it.
/// KEYS: published, spec, plan, count, queue, queue bell.
/// ARGV: publisher id, ttl, spec, plan, count, queue (0/1), run.
const PUBLISH: &str = r"
local who = redis.call('GET', KEYS[1])
if who then
  if who == ARGV[1] then return 1 else return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[2])
redis.call('SET', KEYS[3], ARGV[4], 'EX', ARGV[2])
redis.call('SET', KEYS[4], ARGV[5], 'EX', ARGV[2])
if tonumber(ARGV[6]) < tonumber(ARGV[5]) then
  for i = tonumber(ARGV[6]), tonumber(ARGV[5]) - 1 do
    redis.call('RPUSH', KEYS[5], ARGV[7] .. '/' .. i)
    redis.call('RPUSH', KEYS[6], 1)
  end
  redis.call('EXPIRE', KEYS[5], ARGV[2])
  redis.call('EXPIRE', KEYS[6], ARGV[2])
end
return 1
";

/// Pops a ticket, recording it under the claim's key; a repeat returns the record.
/// KEYS: queue, record, queue bell. ARGV: record ttl.
const CLAIM: &str = r"
local prev = redis.call('GET', KEYS[2])
if prev then return prev end
local t = redis.call('LPOP', KEYS[1])
if t then redis.call('SET', KEYS[2], t, 'EX', ARGV[1]) end
if redis.call('LLEN', KEYS[1]) == 0 then redis.call('DEL', KEYS[3]) end
return t
";

/// Removes a run's tickets from the queue; returns how many.
/// KEYS: queue, queue bell. ARGV: `<run>/`.
const UNQUEUE: &str = r"
local n = 0
for _, t in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if string.sub(t, 1, #ARGV[1]) == ARGV[1] then n = n + redis.call('LREM', KEYS[1], 0, t) end
end
if redis.call('LLEN', KEYS[1]) == 0 then redis.call('DEL', KEYS[2]) end
return n
";

/// How long a collector waits for the shards' results once the run's keys
/// are gone: each shard notices at its next window and sends what it has.
const KEYS_LOST_GRACE: Duration = Duration::from_secs(10);

/// Keys per SCAN step and per UNLINK when a run is cleaned up.
const CLEANUP_BATCH: usize = 512;

/// One shard of one run, claimed by a worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardTicket {
    /// The run key.
    pub run: String,
    /// The shard to run.
    pub index: u32,
    /// How many shards the run has.
    pub count: u32,
}

/// What a worker needs to run its shard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishedRun {
    /// How many shards the run has.
    pub count: u32,
    /// The run's spec, as the coordinator serialised it.
    pub spec_json: Vec<u8>,
    /// The plan component's bytes.
    pub plan_wasm: Vec<u8>,
}

/// Why a job-board call failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The run key cannot name Redis keys.
    #[error(transparent)]
    InvalidRun(#[from] InvalidRun),
    /// The server did not answer when connecting.
    #[error("{0}")]
    Unreachable(#[from] RedisSetupError),
    /// The server stopped answering, past every retry.
    #[error("{0}; is redis-server still running there? Start the run again once it is back")]
    Lost(LinkError),
    /// Another process published a run under the same key.
    #[error(
        "run {run} was already published in Redis at {addr} by another process; every run needs its own \
         key: add a fresh nonce to it"
    )]
    AlreadyPublished {
        /// The run key.
        run: String,
        /// The server's address.
        addr: String,
    },
    /// The server lost the run's keys mid-run (restarted empty, flushed,
    /// evicted) and some results did not come after it.
    #[error(
        "Redis at {addr}: the keys of run {run} are gone (the server restarted empty, was flushed or evicted them \
         mid-run), and the results of shard(s) {missing:?} with them; run again against a server that keeps its \
         data for the run"
    )]
    KeysLost {
        /// The run key.
        run: String,
        /// The server's address.
        addr: String,
        /// The shards whose result is missing.
        missing: Vec<u32>,
    },
    /// The run's keys are not (all) there.
    #[error(
        "run {run} is not in Redis at {addr}: it ended and was cleaned up, expired after 24 h, or was never \
         published there; check the worker's --sync URL, or start the run again"
    )]
    NotFound {
        /// The run key.
        run: String,
        /// The server's address.
        addr: String,
    },
    /// A key of the run holds something this version cannot read.
    #[error("run {run} in Redis at {addr}: {detail}; are the coordinator and the workers the same tg-wasm version?")]
    Corrupt {
        /// The run key.
        run: String,
        /// The server's address.
        addr: String,
        /// What was wrong.
        detail: String,
    },
    /// The interrupt flag (Ctrl-C) was set while waiting.
    #[error("interrupted while {doing}")]
    Interrupted {
        /// What was being waited for.
        doing: String,
    },
    /// A participant set the run's abort key.
    #[error("run {run} was aborted ({reason}); see the log of the one that aborted for the cause")]
    Aborted {
        /// The run key.
        run: String,
        /// The reason given.
        reason: String,
    },
    /// The caller's check failed while collecting results; the run was aborted.
    #[error("run {run} stopped: {reason}; the shards were told to stop")]
    CheckFailed {
        /// The run key.
        run: String,
        /// What the check reported.
        reason: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The worker of a shard whose result is missing stopped beating (see
    /// [`super::heartbeat`]); the run was aborted.
    #[error(
        "the worker running shard {shard} of run {run} stopped its heartbeat (not seen for {:.0?}): it was killed, \
         its machine went down, or it lost Redis (see its log); the shards were told to stop",
        silent
    )]
    WorkerSilent {
        /// The run key.
        run: String,
        /// The shard.
        shard: u32,
        /// How long since the collector last saw its heartbeat key.
        silent: Duration,
    },
    /// Not every result arrived in time; the run was aborted.
    #[error(
        "the results of shard(s) {missing:?} of run {run} did not arrive within {:.0?}; check those workers' logs \
         (the shards were told to stop), or allow more time",
        waited
    )]
    Timeout {
        /// The run key.
        run: String,
        /// The shards whose result is missing.
        missing: Vec<u32>,
        /// How long it waited.
        waited: Duration,
    },
}

/// One turn of [`JobBoard::collect_results`]: the abort reason, the missing
/// shards' results, whether the run's keys are still there, and the missing
/// shards' heartbeat keys.
type CollectReply = (Option<String>, Vec<Option<Vec<u8>>>, u8, Vec<Option<String>>);

/// A connection to the Redis server where runs are published, claimed and
/// collected; see the module documentation.
pub struct JobBoard {
    link: RedisLink,
    poll: Duration,
    /// How long a worker seen beating may go without a beat while its result is missing.
    silent_limit: Duration,
}

impl JobBoard {
    /// Connects to `url` and checks that the server answers.
    pub fn connect(url: &str, policy: RetryPolicy) -> Result<JobBoard, JobError> {
        let poll = DEFAULT_POLL.min(policy.response_timeout / 2);
        Ok(JobBoard { link: RedisLink::open(url, policy)?, poll, silent_limit: SILENT_LIMIT })
    }

    /// How long [`collect_results`](Self::collect_results) lets a worker it
    /// has seen beating go without a beat ([`SILENT_LIMIT`] unless set).
    pub fn with_silent_limit(mut self, limit: Duration) -> JobBoard {
        self.silent_limit = limit;
        self
    }

    /// The server's address, for messages.
    pub fn addr(&self) -> &str {
        self.link.addr()
    }

    /// Stores the run's spec and plan under its keys, and pushes a claim
    /// ticket for each of the shards `queue_from..count`, for workers started
    /// elsewhere to [`claim`](Self::claim); the shards below `queue_from` are
    /// run by workers the publisher starts itself (`count` queues none).
    ///
    /// # Panics
    /// If `count` is 0.
    pub fn publish_run(
        &mut self,
        run: &str,
        count: u32,
        spec_json: &[u8],
        plan_wasm: &[u8],
        queue_from: u32,
    ) -> Result<(), JobError> {
        assert!(count > 0, "a run has at least one shard");
        let queue_from = queue_from.min(count);
        let keys = RunKeys::new(run)?;
        let publisher = nonce();
        let mut eval = redis::cmd("EVAL");
        eval.arg(PUBLISH).arg(6).arg(keys.published()).arg(keys.spec()).arg(keys.plan()).arg(keys.count());
        eval.arg(QUEUE).arg(QUEUE_BELL);
        eval.arg(&publisher).arg(KEY_TTL_SECS).arg(spec_json).arg(plan_wasm).arg(count).arg(queue_from).arg(run);
        let done: u8 =
            self.link.call(&format!("publishing run {run}"), |con| eval.query(con)).map_err(JobError::Lost)?;
        if done == 0 {
            return Err(JobError::AlreadyPublished { run: run.to_string(), addr: self.addr().to_string() });
        }
        tracing::debug!(run, count, queue_from, "published the run");
        Ok(())
    }

    /// Takes the oldest claim ticket from the queue, waiting up to `wait` for
    /// one; `None` if none came. A ticket of a run that is gone (cleaned up or
    /// expired) is dropped and the wait goes on.
    pub fn claim(&mut self, wait: Duration, interrupt: Option<&AtomicBool>) -> Result<Option<ShardTicket>, JobError> {
        let started = Instant::now();
        let mut record = format!("tg:shard:claim-{}", nonce());
        let mut block = false;
        loop {
            let mut pipe = redis::pipe();
            if block {
                let left = wait.saturating_sub(started.elapsed()).min(self.poll);
                pipe.cmd("BLPOP").arg(QUEUE_BELL).arg(blpop_secs(left)).ignore();
            }
            pipe.cmd("EVAL").arg(CLAIM).arg(3).arg(QUEUE).arg(&record).arg(QUEUE_BELL).arg(CLAIM_RECORD_TTL_SECS);
            let (ticket,): (Option<String>,) =
                self.link.call("claiming a shard", |con| pipe.query(con)).map_err(JobError::Lost)?;
            if let Some(ticket) = ticket {
                if let Some(claimed) = self.complete_claim(&ticket, &record)? {
                    return Ok(Some(claimed));
                }
                // That record holds the dropped ticket: the next claim needs a fresh one.
                record = format!("tg:shard:claim-{}", nonce());
                block = false;
                continue;
            }
            if interrupt.is_some_and(|f| f.load(Ordering::Relaxed)) {
                return Err(JobError::Interrupted { doing: "waiting for a shard to claim".into() });
            }
            if started.elapsed() >= wait {
                return Ok(None);
            }
            block = true;
        }
    }

    /// Looks up the ticket's run; `None` if the ticket is malformed or its run is gone.
    fn complete_claim(&mut self, ticket: &str, record: &str) -> Result<Option<ShardTicket>, JobError> {
        let parsed =
            ticket.rsplit_once('/').and_then(|(run, i)| Some((RunKeys::new(run).ok()?, run, i.parse::<u32>().ok()?)));
        let Some((keys, run, index)) = parsed else {
            tracing::warn!(ticket, "dropped a malformed claim ticket");
            return Ok(None);
        };
        // The claim is the shard's first beat: from here on the collector
        // waits for this worker only while it beats, so one that dies before
        // its heartbeat starts is noticed as one that dies later is.
        let alive = keys.alive(index);
        let mut pipe = redis::pipe();
        pipe.cmd("DEL").arg(record).ignore().add_command(heartbeat::beat_on(&alive)).ignore();
        pipe.cmd("GET").arg(keys.count());
        let (count,): (Option<String>,) =
            self.link.call("reading the claimed run", |con| pipe.query(con)).map_err(JobError::Lost)?;
        match count.and_then(|c| c.parse::<u32>().ok()) {
            Some(count) if index < count => Ok(Some(ShardTicket { run: run.to_string(), index, count })),
            _ => {
                tracing::warn!(ticket, "dropped the claim ticket of a run that is gone");
                let mut del = redis::cmd("DEL");
                del.arg(&alive);
                self.link.call("dropping a claim", |con| del.query::<()>(con)).map_err(JobError::Lost)?;
                Ok(None)
            }
        }
    }

    /// The published spec, plan and shard count of `run`.
    pub fn fetch_run(&mut self, run: &str) -> Result<PublishedRun, JobError> {
        let keys = RunKeys::new(run)?;
        let mut mget = redis::cmd("MGET");
        mget.arg(keys.spec()).arg(keys.plan()).arg(keys.count());
        let (spec, plan, count): (Option<Vec<u8>>, Option<Vec<u8>>, Option<String>) =
            self.link.call(&format!("fetching run {run}"), |con| mget.query(con)).map_err(JobError::Lost)?;
        let (Some(spec_json), Some(plan_wasm), Some(count)) = (spec, plan, count) else {
            return Err(JobError::NotFound { run: run.to_string(), addr: self.addr().to_string() });
        };
        let count = count.parse::<u32>().map_err(|_| JobError::Corrupt {
            run: run.to_string(),
            addr: self.addr().to_string(),
            detail: format!("the shard count is {count:?}"),
        })?;
        Ok(PublishedRun { count, spec_json, plan_wasm })
    }

    /// Stores shard `index`'s result for the coordinator to collect.
    pub fn push_result(&mut self, run: &str, index: u32, bytes: &[u8]) -> Result<(), JobError> {
        let keys = RunKeys::new(run)?;
        let bell = keys.results_bell();
        let mut pipe = redis::pipe();
        pipe.cmd("SET").arg(keys.result(index)).arg(bytes).arg("EX").arg(KEY_TTL_SECS).ignore();
        pipe.cmd("RPUSH").arg(&bell).arg(1).ignore().cmd("EXPIRE").arg(&bell).arg(KEY_TTL_SECS).ignore();
        self.link
            .call(&format!("storing the result of shard {index} of run {run}"), |con| pipe.query::<()>(con))
            .map_err(JobError::Lost)
    }

    /// Waits until `results` (one slot per shard, by shard index) holds every
    /// shard's result. What came in stays in `results` when this fails, so
    /// that a caller with another way to reach the missing shards (a local
    /// worker's pipe) can complete the run without the server.
    ///
    /// Between short waits it checks, in order: the run's abort key, the
    /// `interrupt` flag, the caller's `check` (which notices, say, a local
    /// worker process that died), the heartbeat of each shard whose result is
    /// missing (a worker whose key has been gone for [`SILENT_LIMIT`] is
    /// gone, wherever it ran), and `timeout` counted from the call. All but
    /// an abort set by someone else also abort the run, with the reason, so
    /// that the shards stop instead of waiting for their peers.
    pub fn collect_results(
        &mut self,
        run: &str,
        results: &mut [Option<Vec<u8>>],
        timeout: Duration,
        interrupt: Option<&AtomicBool>,
        mut check: impl FnMut() -> Result<(), Box<dyn std::error::Error + Send + Sync>>,
    ) -> Result<(), JobError> {
        let keys = RunKeys::new(run)?;
        let started = Instant::now();
        let count = u32::try_from(results.len()).expect("at most u32::MAX shards");
        let mut block = false;
        let mut lost_at = None;
        // When each shard's worker was last seen beating; `None` until it first is
        // (a shard still queued for a worker elsewhere has none).
        let mut last_beat: Vec<Option<Instant>> = vec![None; count as usize];
        loop {
            let missing: Vec<u32> = (0..count).filter(|&i| results[i as usize].is_none()).collect();
            if missing.is_empty() {
                return Ok(());
            }
            let mut pipe = redis::pipe();
            if block {
                pipe.cmd("BLPOP").arg(keys.results_bell()).arg(blpop_secs(self.poll)).ignore();
            }
            pipe.cmd("GET").arg(keys.abort());
            pipe.cmd("MGET").arg(missing.iter().map(|&i| keys.result(i)).collect::<Vec<_>>());
            pipe.cmd("EXPIRE").arg(keys.count()).arg(KEY_TTL_SECS);
            // After the results: a worker stops beating only after storing its result.
            pipe.cmd("MGET").arg(missing.iter().map(|&i| keys.alive(i)).collect::<Vec<_>>());
            let (abort, got, alive, beats): CollectReply = self
                .link
                .call(&format!("collecting the results of run {run}"), |con| pipe.query(con))
                .map_err(JobError::Lost)?;
            let now = Instant::now();
            for ((&i, r), beat) in missing.iter().zip(got).zip(beats) {
                results[i as usize] = r;
                if beat.is_some() {
                    last_beat[i as usize] = Some(now);
                }
            }
            if results.iter().all(Option::is_some) {
                continue;
            }
            if let Some(reason) = abort {
                return Err(JobError::Aborted { run: run.to_string(), reason });
            }
            if alive == 0 {
                // The shards find out at their next window and send what they have; a
                // result stored before the loss is gone with it.
                let since = *lost_at.get_or_insert_with(Instant::now);
                if since.elapsed() >= KEYS_LOST_GRACE {
                    let missing = (0..count).filter(|&i| results[i as usize].is_none()).collect();
                    return Err(JobError::KeysLost { run: run.to_string(), addr: self.addr().to_string(), missing });
                }
            }
            let stop = if interrupt.is_some_and(|f| f.load(Ordering::Relaxed)) {
                Some(JobError::Interrupted { doing: format!("collecting the results of run {run}") })
            } else if let Err(reason) = check() {
                Some(JobError::CheckFailed { run: run.to_string(), reason })
            } else if let Some((shard, silent)) = (0..count).find_map(|i| {
                let silent = last_beat[i as usize]?.elapsed();
                (results[i as usize].is_none() && silent >= self.silent_limit).then_some((i, silent))
            }) {
                Some(JobError::WorkerSilent { run: run.to_string(), shard, silent })
            } else if started.elapsed() >= timeout {
                let missing = (0..count).filter(|&i| results[i as usize].is_none()).collect();
                Some(JobError::Timeout { run: run.to_string(), missing, waited: started.elapsed() })
            } else {
                None
            };
            if let Some(e) = stop {
                self.abort_quietly(&keys, &format!("collector: {e}"));
                return Err(e);
            }
            block = true;
        }
    }

    /// Aborts `run`: every shard's exchange, and any collector, ends with the
    /// reason. The first reason set wins.
    pub fn abort(&mut self, run: &str, reason: &str) -> Result<(), JobError> {
        let cmd = RunKeys::new(run)?.set_abort(reason);
        self.link.call(&format!("aborting run {run}"), |con| cmd.query::<()>(con)).map_err(JobError::Lost)
    }

    /// Asks every shard of `run` to stop at its next window and report what it
    /// has, as Ctrl-C does: how the coordinator forwards SIGINT and SIGTERM to
    /// workers it did not start (those it did start also hear it on their pipe).
    pub fn request_stop(&mut self, run: &str) -> Result<(), JobError> {
        let cmd = RunKeys::new(run)?.set_stop();
        self.link.call(&format!("asking run {run} to stop"), |con| cmd.query::<()>(con)).map_err(JobError::Lost)
    }

    /// One try, for when the collector is already giving up.
    fn abort_quietly(&mut self, keys: &RunKeys, reason: &str) {
        tracing::warn!("aborting the run: {reason}");
        let cmd = keys.set_abort(reason);
        if let Err(e) = self.link.call_once("aborting the run", |con| cmd.query::<()>(con)) {
            tracing::warn!("could not tell the shards: {e}");
        }
    }

    /// The shards of `run` whose tickets no worker has taken yet, in order.
    pub fn queued(&mut self, run: &str) -> Result<Vec<u32>, JobError> {
        RunKeys::new(run)?;
        let mut lrange = redis::cmd("LRANGE");
        lrange.arg(QUEUE).arg(0).arg(-1);
        let tickets: Vec<String> =
            self.link.call("listing the queued shards", |con| lrange.query(con)).map_err(JobError::Lost)?;
        let prefix = format!("{run}/");
        let mut queued: Vec<u32> = tickets.iter().filter_map(|t| t.strip_prefix(&prefix)?.parse().ok()).collect();
        queued.sort_unstable();
        Ok(queued)
    }

    /// Withdraws the claim tickets of `run` that no worker has taken, so that
    /// none will; returns how many there were.
    pub fn unqueue(&mut self, run: &str) -> Result<u64, JobError> {
        RunKeys::new(run)?;
        let mut unqueue = redis::cmd("EVAL");
        unqueue.arg(UNQUEUE).arg(2).arg(QUEUE).arg(QUEUE_BELL).arg(format!("{run}/"));
        self.link.call(&format!("removing the tickets of run {run}"), |con| unqueue.query(con)).map_err(JobError::Lost)
    }

    /// Deletes every key of `run` and its unclaimed tickets; returns how many
    /// keys were deleted. Tickets go first, so that no worker claims a shard
    /// of a run being deleted.
    pub fn cleanup(&mut self, run: &str) -> Result<u64, JobError> {
        let keys = RunKeys::new(run)?;
        let tickets = self.unqueue(run)?;
        let pattern = format!("{}*", keys.prefix());
        let mut cursor: u64 = 0;
        let mut deleted = 0;
        loop {
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(CLEANUP_BATCH);
            let (next, found): (u64, Vec<String>) = self
                .link
                .call(&format!("listing the keys of run {run}"), |con| scan.query(con))
                .map_err(JobError::Lost)?;
            if !found.is_empty() {
                let mut unlink = redis::cmd("UNLINK");
                unlink.arg(&found);
                deleted += self
                    .link
                    .call(&format!("deleting the keys of run {run}"), |con| unlink.query::<u64>(con))
                    .map_err(JobError::Lost)?;
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        tracing::debug!(run, deleted, tickets, "cleaned up the run");
        Ok(deleted)
    }
}
