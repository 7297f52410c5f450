//! [`ShardMailbox`]: one shard's end of the per-window frame exchange, over
//! Redis lists. It owns the wire protocol and every way an exchange can end;
//! what a frame says and when a window starts is the simulation's business,
//! and publishing the run or collecting results is [`super::job`]'s.
//!
//! Each shard `d` has an inbox list. A sender appends its encoded frame (see
//! [`super::frame`]) to each other shard's inbox and a token to that shard's
//! bell list, all in one pipelined round trip. A receiver waits with `BLPOP`
//! on its bell — a short timeout, so it can check the abort key, Ctrl-C and
//! the peer-silence limit between waits — and drains its inbox with a Lua
//! script.
//!
//! Retries repeat whole calls on a fresh connection, so both directions are
//! made safe to repeat:
//!
//! - A send whose reply was lost may already have been applied; the repeat
//!   lands as a second copy, and the receiver drops copies by (window, sender)
//!   ([`super::inbox`]).
//! - A drain whose reply was lost must not lose frames. The script does not
//!   delete what it takes: it moves the inbox onto a `held` list and returns
//!   all of `held`, and deletes `held` only on the next drain, when that
//!   drain acknowledges the id of the one whose reply arrived. A repeated
//!   drain acknowledges the same id, so frames whose reply was lost are
//!   returned again instead of deleted.
//!
//! The sends of a window and the first drain share one round trip; each wait
//! is a `BLPOP` and a drain in one more. A window in which every frame is
//! already there costs one round trip.

use super::inbox::{Accepted, Inbox, InboxError};
use super::{DEFAULT_POLL, InvalidRun, KEY_TTL_SECS, RunKeys, blpop_secs, frame};
use crate::sync::redis::{LinkError, RedisLink, RedisSetupError, RetryPolicy, nonce};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Moves a shard's inbox onto its `held` list and returns the abort reason,
/// whether the run was asked to stop, and every held frame; see the module
/// documentation for the acknowledgement.
/// The last value is 1 when the run's shard count, written when the run was
/// published and refreshed by every drain, is gone: the server restarted
/// empty or lost the run's keys, and frames sent before are lost with it.
/// KEYS: inbox, held, held-id, bell, abort, stop, count.
/// ARGV: acknowledged drain id, this drain's id, ttl, whether to check the count (1/0).
const DRAIN: &str = r"
if ARGV[4] == '1' and redis.call('EXPIRE', KEYS[7], ARGV[3]) == 0 then return {false, 0, {}, 1} end
if redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
if redis.call('LLEN', KEYS[1]) > 0 then
  if redis.call('EXISTS', KEYS[2]) == 0 then
    redis.call('RENAME', KEYS[1], KEYS[2])
  else
    local items = redis.call('LRANGE', KEYS[1], 0, -1)
    -- unpack() is bounded by Lua's C stack: move in slices.
    for i = 1, #items, 1000 do
      redis.call('RPUSH', KEYS[2], unpack(items, i, math.min(i + 999, #items)))
    end
    redis.call('DEL', KEYS[1])
  end
  redis.call('EXPIRE', KEYS[2], ARGV[3])
end
redis.call('SET', KEYS[3], ARGV[2], 'EX', ARGV[3])
-- Every frame the bell announced is being returned now.
redis.call('DEL', KEYS[4])
return {redis.call('GET', KEYS[5]), redis.call('EXISTS', KEYS[6]), redis.call('LRANGE', KEYS[2], 0, -1), 0}
";

/// The drain script's reply: the abort reason, if set, whether a stop was
/// asked for, the held frames, and whether the run's keys are gone.
type DrainReply = (Option<Vec<u8>>, u8, Vec<Vec<u8>>, u8);

/// A drain as the exchange loop uses it: the abort reason as text, and the frames.
type Drained = (Option<String>, Vec<Vec<u8>>);

/// How long a shard waits, and how it retries.
#[derive(Clone, Debug)]
pub struct MailboxPolicy {
    /// Timeouts and retries of each Redis call (the sync backend's shape).
    pub retry: RetryPolicy,
    /// Longest time an exchange waits without a new frame of its window
    /// before it gives up on the shards still missing.
    pub peer_timeout: Duration,
    /// How long the coordinator's heartbeat key may be missing before an
    /// exchange gives up on the run (see [`super::heartbeat`]), counted from
    /// its last sighting or, before the first, from connecting; `None` does
    /// not look (a mailbox without a coordinator, as in tests).
    pub coordinator_silence: Option<Duration>,
    /// Longest single blocking wait between checks of the abort key, the
    /// interrupt flag and the peer timeout. Kept below the retry policy's
    /// response timeout, or a wait would look like a dead server.
    pub poll: Duration,
}

impl Default for MailboxPolicy {
    /// Ten minutes of peer silence: a window can legitimately take that long
    /// when thousands of instances compute in it, and a shard that is really
    /// gone is reported sooner: by its own process, by Ctrl-C, or, when its
    /// heartbeat lapses, by the collector, which aborts the run
    /// ([`super::heartbeat`]). This is the last resort when the collector is gone too.
    fn default() -> Self {
        MailboxPolicy {
            retry: RetryPolicy::default(),
            peer_timeout: Duration::from_secs(600),
            coordinator_silence: None,
            poll: DEFAULT_POLL,
        }
    }
}

/// Why an exchange (or connecting for one) failed. After any of these the
/// run is over for this shard: drop the mailbox.
#[derive(Debug, thiserror::Error)]
pub enum MailboxError {
    /// The run key cannot name Redis keys.
    #[error(transparent)]
    InvalidRun(#[from] InvalidRun),
    /// The server did not answer when connecting.
    #[error("{0}")]
    Unreachable(#[from] RedisSetupError),
    /// The server stopped answering mid-run, past every retry.
    #[error(
        "shard {index} of run {run}: {error}; is redis-server still running there? \
         The run cannot go on without it: start it again once the server is back"
    )]
    Lost {
        /// The run key.
        run: String,
        /// This shard.
        index: u32,
        /// The failed call, naming the server's address (in the message, not
        /// as a `source`, so that it is printed once).
        error: Box<LinkError>,
    },
    /// The server no longer holds the run's keys: it restarted empty, was
    /// flushed, or evicted them. The frames in flight are lost with them.
    #[error(
        "Redis at {addr}: the keys of run {run} are gone (shard {index}, window {window}): the server restarted \
         empty, was flushed or evicted them mid-run, and the frames in flight with them; run again against a \
         server that keeps its data for the run (no restart, FLUSHALL or eviction)"
    )]
    KeysLost {
        /// The run key.
        run: String,
        /// This shard.
        index: u32,
        /// The server's address.
        addr: String,
        /// The window being exchanged.
        window: u64,
    },
    /// A participant set the run's abort key.
    #[error("run {run} was aborted ({reason}); every shard stops: see the log of the one that aborted for the cause")]
    Aborted {
        /// The run key.
        run: String,
        /// The reason given, prefixed with who gave it.
        reason: String,
    },
    /// The interrupt flag (Ctrl-C) was set while waiting.
    #[error(
        "shard {index} of run {run} was interrupted while exchanging window {window}; the other shards were told to stop"
    )]
    Interrupted {
        /// The run key.
        run: String,
        /// This shard.
        index: u32,
        /// The window being exchanged.
        window: u64,
    },
    /// Some shards sent nothing for longer than the peer timeout.
    #[error(
        "shard {index} of run {run} heard nothing from shard(s) {missing:?} for {:.0?} while exchanging window \
         {window}; they may have died or hang: check their logs, or raise the peer timeout if a window can \
         legitimately take this long",
        silent
    )]
    PeerTimeout {
        /// The run key.
        run: String,
        /// This shard.
        index: u32,
        /// The window being exchanged.
        window: u64,
        /// The shards whose frame did not come.
        missing: Vec<u32>,
        /// How long nothing new arrived.
        silent: Duration,
    },
    /// The coordinating `run`'s heartbeat stopped: nobody would collect this
    /// shard's results.
    #[error(
        "shard {index} of run {run}: the coordinating `tg-wasm run` stopped its heartbeat (not seen for {:.0?}): it \
         was killed, its machine went down, or it lost Redis; the run cannot be collected, so it stops",
        silent
    )]
    CoordinatorGone {
        /// The run key.
        run: String,
        /// This shard.
        index: u32,
        /// How long since the coordinator's heartbeat key was last seen.
        silent: Duration,
    },
    /// A frame that cannot belong to this exchange.
    #[error(
        "shard {index} of run {run}: protocol error in window {window}: {detail}; this is a bug, or processes \
         of different runs or versions share the run key: abort the run and report it"
    )]
    Protocol {
        /// The run key.
        run: String,
        /// This shard.
        index: u32,
        /// The window being exchanged.
        window: u64,
        /// What was wrong.
        detail: InboxError,
    },
}

/// One shard's end of the exchange; see the module documentation.
pub struct ShardMailbox {
    link: RedisLink,
    keys: RunKeys,
    run: String,
    index: u32,
    count: u32,
    policy: MailboxPolicy,
    inbox: Inbox,
    interrupt: Option<Arc<AtomicBool>>,
    /// Drain ids are `<nonce>:<n>`: a new mailbox for the same shard (a
    /// restarted worker) must not acknowledge its predecessor's drain.
    drain_prefix: String,
    drains: u64,
    /// The id of the last drain whose reply arrived; empty before the first.
    acked: String,
    failed: bool,
    closed: bool,
    /// Whether the run was published (its shard count was in Redis when this
    /// mailbox connected), so that its disappearance means the server lost it.
    watch_keys: bool,
    /// When the coordinator's heartbeat key was last seen (at first, when
    /// this mailbox connected).
    coordinator_seen: Instant,
}

impl ShardMailbox {
    /// Connects shard `index` of `count` of the run `run` to the Redis server at `url`.
    ///
    /// # Panics
    /// If `index >= count`.
    pub fn connect(
        url: &str,
        run: &str,
        index: u32,
        count: u32,
        mut policy: MailboxPolicy,
    ) -> Result<ShardMailbox, MailboxError> {
        let keys = RunKeys::new(run)?;
        policy.poll = policy.poll.min(policy.retry.response_timeout / 2);
        let mut link = RedisLink::open(url, policy.retry.clone())?;
        let count_key = keys.count();
        let published: u8 = link
            .call("looking up the run", |con| redis::cmd("EXISTS").arg(&count_key).query(con))
            .map_err(|source| MailboxError::Lost { run: run.to_string(), index, error: Box::new(source) })?;
        Ok(ShardMailbox {
            watch_keys: published != 0,
            link,
            keys,
            run: run.to_string(),
            index,
            count,
            inbox: Inbox::new(index, count),
            policy,
            interrupt: None,
            drain_prefix: nonce(),
            drains: 0,
            acked: String::new(),
            failed: false,
            closed: false,
            coordinator_seen: Instant::now(),
        })
    }

    /// Ends waits with [`MailboxError::Interrupted`] once `flag` is set (by a Ctrl-C handler).
    pub fn set_interrupt(&mut self, flag: Arc<AtomicBool>) {
        self.interrupt = Some(flag);
    }

    /// This shard's index.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// How many shards the run has.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The Redis server's address, for messages.
    pub fn addr(&self) -> &str {
        self.link.addr()
    }

    /// How many repeated frames (from retried sends) were dropped so far.
    pub fn duplicates_dropped(&self) -> u64 {
        self.inbox.duplicates()
    }

    /// Sends `outgoing[d]` to every other shard `d` as its frame for `window`,
    /// then waits for every other shard's frame for `window`.
    ///
    /// Returns `count` frames ordered by sender index, with this shard's own
    /// slot empty (so `result[d]` is what shard `d` sent, as `outgoing[d]` is
    /// what goes to it); `outgoing[self.index()]` is not sent.
    ///
    /// Every shard must call this with the same windows, in increasing order
    /// (they need not be consecutive). A wait ends early with an error if the
    /// run is aborted, the interrupt flag is set, nothing new arrives within
    /// the peer timeout, or the server is lost. On the interrupt this shard asks
    /// the others to stop too (each then reports what it has); on the timeout
    /// and protocol errors it aborts the run, so that the others do not wait
    /// for it.
    ///
    /// # Panics
    /// If `outgoing.len() != count`, or `window` is not after the previous one.
    pub fn exchange(&mut self, window: u64, outgoing: Vec<Vec<u8>>) -> Result<Vec<Vec<u8>>, MailboxError> {
        assert_eq!(outgoing.len(), self.count as usize, "one outgoing frame per shard");
        let result = self.exchange_inner(window, &outgoing);
        if let Err(e) = &result {
            self.inbox.reset();
            match e {
                // An interrupt stops every shard, each reporting what it has; an abort
                // would make the coordinator drop those reports.
                MailboxError::Interrupted { .. } => self.stop_quietly(),
                MailboxError::PeerTimeout { .. }
                | MailboxError::Protocol { .. }
                | MailboxError::CoordinatorGone { .. } => self.abort_quietly(&e.to_string()),
                MailboxError::Lost { .. } | MailboxError::KeysLost { .. } => self.failed = true,
                _ => {}
            }
        }
        result
    }

    fn exchange_inner(&mut self, window: u64, outgoing: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, MailboxError> {
        self.inbox.begin(window).map_err(|detail| self.protocol(window, detail))?;
        let mut send = redis::pipe();
        for (d, payload) in outgoing.iter().enumerate() {
            let d = d as u32;
            if d == self.index {
                continue;
            }
            let (inbox, bell) = (self.keys.inbox(d), self.keys.bell(d));
            send.cmd("RPUSH").arg(&inbox).arg(frame::encode(window, self.index, payload)).ignore();
            send.cmd("EXPIRE").arg(&inbox).arg(KEY_TTL_SECS).ignore();
            send.cmd("RPUSH").arg(&bell).arg(1).ignore();
            send.cmd("EXPIRE").arg(&bell).arg(KEY_TTL_SECS).ignore();
        }
        let mut last_news = Instant::now();
        let mut reply = self.turn(window, send, false)?;
        loop {
            let (abort, items) = reply;
            if let Some(reason) = abort {
                return Err(MailboxError::Aborted { run: self.run.clone(), reason });
            }
            // Checked on every turn, not only while waiting: shards whose frames
            // keep coming would otherwise compute, for nobody, a run without end.
            let unseen = self.coordinator_seen.elapsed();
            if self.policy.coordinator_silence.is_some_and(|limit| unseen >= limit) {
                return Err(MailboxError::CoordinatorGone { run: self.run.clone(), index: self.index, silent: unseen });
            }
            for raw in items {
                match self.inbox.accept(raw).map_err(|detail| self.protocol(window, detail))? {
                    Accepted::Current => last_news = Instant::now(),
                    Accepted::Ahead => {}
                    Accepted::Duplicate => {
                        tracing::debug!(shard = self.index, window, "dropped a repeated frame (a retried send)")
                    }
                }
            }
            if self.inbox.complete() {
                return Ok(self.inbox.finish());
            }
            if self.interrupt.as_ref().is_some_and(|f| f.load(Ordering::Relaxed)) {
                return Err(MailboxError::Interrupted { run: self.run.clone(), index: self.index, window });
            }
            let silent = last_news.elapsed();
            if silent >= self.policy.peer_timeout {
                return Err(MailboxError::PeerTimeout {
                    run: self.run.clone(),
                    index: self.index,
                    window,
                    missing: self.inbox.missing(),
                    silent,
                });
            }
            let mut wait = redis::pipe();
            wait.cmd("BLPOP").arg(self.keys.bell(self.index)).arg(blpop_secs(self.policy.poll)).ignore();
            reply = self.turn(window, wait, true)?;
        }
    }

    /// Runs `pipe` followed by a drain in one round trip (with retries) and
    /// returns the abort reason and the held frames.
    fn turn(&mut self, window: u64, mut pipe: redis::Pipeline, waiting: bool) -> Result<Drained, MailboxError> {
        self.drains += 1;
        let id = format!("{}:{}", self.drain_prefix, self.drains);
        let i = self.index;
        pipe.cmd("EVAL")
            .arg(DRAIN)
            .arg(7)
            .arg(self.keys.inbox(i))
            .arg(self.keys.held(i))
            .arg(self.keys.held_id(i))
            .arg(self.keys.bell(i))
            .arg(self.keys.abort())
            .arg(self.keys.stop())
            .arg(self.keys.count())
            .arg(&self.acked)
            .arg(&id)
            .arg(KEY_TTL_SECS)
            .arg(if self.watch_keys { "1" } else { "0" });
        pipe.cmd("EXISTS").arg(self.keys.coordinator_alive());
        let what = if waiting {
            format!("waiting for the frames of window {window}")
        } else {
            format!("sending the frames of window {window}")
        };
        // Every try acknowledges the same drain: see the module documentation.
        let ((abort, stop, items, keys_lost), coordinator_alive): (DrainReply, u8) =
            self.link.call(&what, |con| pipe.query(con)).map_err(|source| self.lost(source))?;
        if keys_lost != 0 {
            return Err(MailboxError::KeysLost {
                run: self.run.clone(),
                index: self.index,
                addr: self.link.addr().to_string(),
                window,
            });
        }
        self.acked = id;
        if coordinator_alive != 0 {
            self.coordinator_seen = Instant::now();
        }
        if stop != 0
            && let Some(flag) = &self.interrupt
            && !flag.swap(true, Ordering::SeqCst)
        {
            // The coordinator forwards SIGINT/SIGTERM this way to workers it did not start.
            tracing::warn!(shard = self.index, run = %self.run, "the run was asked to stop");
        }
        Ok((abort.map(|r| String::from_utf8_lossy(&r).into_owned()), items))
    }

    /// Aborts the run: every shard's current or next exchange ends with
    /// [`MailboxError::Aborted`] carrying `reason` (prefixed with this shard's
    /// index). The first reason set wins, so the root cause is what others see.
    pub fn abort(&mut self, reason: &str) -> Result<(), MailboxError> {
        let cmd = self.keys.set_abort(&format!("shard {}: {reason}", self.index));
        self.link.call("aborting the run", |con| cmd.query::<()>(con)).map_err(|source| self.lost(source))
    }

    /// [`abort`](Self::abort) with one try, for when this shard is already giving up.
    /// Asks every shard to stop at its next window, as this one was: the
    /// others see it with their next drain and end interrupted too.
    fn stop_quietly(&mut self) {
        let cmd = self.keys.set_stop();
        if let Err(e) = self.link.call_once("asking the run to stop", |con| cmd.query::<()>(con)) {
            tracing::warn!(shard = self.index, "could not tell the other shards: {e}");
        }
    }

    fn abort_quietly(&mut self, reason: &str) {
        let cmd = self.keys.set_abort(&format!("shard {}: {reason}", self.index));
        tracing::warn!(shard = self.index, run = %self.run, "aborting the run: {reason}");
        if let Err(e) = self.link.call_once("aborting the run", |con| cmd.query::<()>(con)) {
            tracing::warn!(shard = self.index, "could not tell the other shards: {e}");
        }
    }

    fn protocol(&self, window: u64, detail: InboxError) -> MailboxError {
        MailboxError::Protocol { run: self.run.clone(), index: self.index, window, detail }
    }

    fn lost(&self, source: LinkError) -> MailboxError {
        MailboxError::Lost { run: self.run.clone(), index: self.index, error: Box::new(source) }
    }

    /// Deletes this shard's receiving keys. The run's other keys (the abort
    /// key, other shards' inboxes) are [`super::JobBoard::cleanup`]'s: other
    /// shards may still be reading them.
    pub fn close(&mut self) -> Result<(), MailboxError> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        let i = self.index;
        let keys = [self.keys.inbox(i), self.keys.held(i), self.keys.held_id(i), self.keys.bell(i)];
        let unlink = |con: &mut redis::Connection| redis::cmd("UNLINK").arg(&keys).query::<u64>(con);
        let done = if self.failed {
            // The server already failed: one quick try, then leave the keys to their expiry.
            self.link.call_once("deleting the shard's keys", unlink)
        } else {
            self.link.call("deleting the shard's keys", unlink)
        };
        done.map(|_| ()).map_err(|source| self.lost(source))
    }
}

impl Drop for ShardMailbox {
    /// A mailbox dropped without [`ShardMailbox::close`] still deletes its keys if the server answers.
    fn drop(&mut self) {
        if !self.closed {
            let _ = self.close();
        }
    }
}
