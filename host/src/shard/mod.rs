//! The byte-level transport of a run split into shards, one per worker
//! process: each window, every shard hands every other shard one opaque frame
//! through Redis ([`mailbox`]), and the run's inputs and results travel through
//! Redis too, so that a `tg-wasm worker` on another machine can join ([`job`]).
//!
//! This module does not know what a frame means or how long a window is: the
//! simulation (netsim) decides both and calls [`ShardMailbox::exchange`] once
//! per window. It only moves bytes, checks that they belong to the window being
//! exchanged, and turns every way of getting stuck — a dead peer, a dead
//! server, Ctrl-C, another shard giving up — into an error that says which.
//!
//! - [`frame`]: the wire format of one frame, `(window, from, payload)`.
//! - [`inbox`]: what a receiving shard holds for the window it exchanges:
//!   ordering, duplicates dropped, frames of the wrong window refused.
//! - [`mailbox`]: [`ShardMailbox`], the per-window exchange over Redis lists.
//! - [`job`]: [`JobBoard`], publishing a run, claiming shards, collecting results, cleanup.
//! - [`heartbeat`]: [`Heartbeat`], how a worker shows it is still there while it runs a shard.
//!
//! Every key of a run lives under `tg:shard:<run>:` and gets a 24-hour expiry on
//! each write, so a run whose processes all die does not stay in the server
//! forever; [`JobBoard::cleanup`] deletes them when the run ends. Keys shared
//! by all runs (the claim queue) have no `:` after `tg:shard:<name>`, so no
//! run's prefix can match them.

pub mod frame;
pub mod heartbeat;
pub mod inbox;
pub mod job;
pub mod mailbox;

/// The retry policy every Redis user in tg-wasm shares, for [`JobBoard::connect`].
pub use crate::sync::redis::RetryPolicy;
pub use heartbeat::{Heartbeat, HeartbeatError};
pub use job::{JobBoard, JobError, PublishedRun, ShardTicket};
pub use mailbox::{MailboxError, MailboxPolicy, ShardMailbox};

pub use crate::sync::redis::KEY_TTL_SECS;

/// A run key that cannot name keys safely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{run:?} cannot be a shard run key: {why}; use letters, digits, `.`, `_` and `-` only, \
     like <test-run-id>-<16 hex nonce>"
)]
pub struct InvalidRun {
    /// The key as given.
    pub run: String,
    /// What is wrong with it.
    pub why: &'static str,
}

/// Longest run key accepted; real ones are about 30 characters.
const MAX_RUN_LEN: usize = 200;

/// Checks that `run` can be embedded in key names and SCAN patterns.
///
/// `:` would let one run's prefix match another run's keys, and glob
/// characters would make [`JobBoard::cleanup`]'s SCAN pattern match keys
/// that are not the run's; so only a plain alphabet is allowed.
pub fn validate_run(run: &str) -> Result<(), InvalidRun> {
    let why = if run.is_empty() {
        "it is empty"
    } else if run.len() > MAX_RUN_LEN {
        "it is longer than 200 characters"
    } else if !run.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
        "it contains a character other than letters, digits, `.`, `_` and `-`"
    } else {
        return Ok(());
    };
    Err(InvalidRun { run: run.to_string(), why })
}

/// The names of a run's keys, in one place so that the mailbox, the job
/// board and cleanup agree on them.
#[derive(Clone, Debug)]
pub(crate) struct RunKeys {
    prefix: String,
}

impl RunKeys {
    pub(crate) fn new(run: &str) -> Result<RunKeys, InvalidRun> {
        validate_run(run)?;
        Ok(RunKeys { prefix: format!("tg:shard:{run}:") })
    }

    /// `tg:shard:<run>:`; every key of the run starts with it.
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    fn key(&self, name: std::fmt::Arguments<'_>) -> String {
        format!("{}{name}", self.prefix)
    }

    /// Frames waiting for shard `d`.
    pub(crate) fn inbox(&self, d: u32) -> String {
        self.key(format_args!("inbox:{d}"))
    }

    /// Frames shard `d` has taken from its inbox but not yet acknowledged.
    pub(crate) fn held(&self, d: u32) -> String {
        self.key(format_args!("held:{d}"))
    }

    /// The id of the last drain of shard `d`, whose reply listed `held:<d>`.
    pub(crate) fn held_id(&self, d: u32) -> String {
        self.key(format_args!("held-id:{d}"))
    }

    /// Wake-up tokens for shard `d`: one per frame sent to it.
    pub(crate) fn bell(&self, d: u32) -> String {
        self.key(format_args!("bell:{d}"))
    }

    /// Why the run was aborted, if it was; the first reason wins.
    pub(crate) fn abort(&self) -> String {
        self.key(format_args!("abort"))
    }

    /// Sets the abort key to `reason` unless it is set already: the first
    /// reason is the root cause, later ones are consequences.
    pub(crate) fn set_abort(&self, reason: &str) -> redis::Cmd {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.abort()).arg(reason).arg("NX").arg("EX").arg(KEY_TTL_SECS);
        cmd
    }

    /// Set when the coordinator was asked to stop (SIGINT, SIGTERM): every
    /// shard stops at its next window, as on Ctrl-C, and reports what it has.
    pub(crate) fn stop(&self) -> String {
        self.key(format_args!("stop"))
    }

    /// Sets [`RunKeys::stop`].
    pub(crate) fn set_stop(&self) -> redis::Cmd {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.stop()).arg(1).arg("EX").arg(KEY_TTL_SECS);
        cmd
    }

    pub(crate) fn spec(&self) -> String {
        self.key(format_args!("spec"))
    }

    pub(crate) fn plan(&self) -> String {
        self.key(format_args!("plan"))
    }

    pub(crate) fn count(&self) -> String {
        self.key(format_args!("count"))
    }

    /// Who published the run (a nonce), so that a retried publish is recognised.
    pub(crate) fn published(&self) -> String {
        self.key(format_args!("published"))
    }

    pub(crate) fn result(&self, i: u32) -> String {
        self.key(format_args!("result:{i}"))
    }

    /// Set by the worker running shard `i` every few seconds, expiring soon
    /// after (see [`heartbeat`]).
    pub(crate) fn alive(&self, i: u32) -> String {
        self.key(format_args!("alive:{i}"))
    }

    /// Set by the coordinating `run` every few seconds while it collects,
    /// expiring soon after (see [`heartbeat`]).
    pub(crate) fn coordinator_alive(&self) -> String {
        self.key(format_args!("alive:run"))
    }

    /// Wake-up tokens for the collector: one per result pushed.
    pub(crate) fn results_bell(&self) -> String {
        self.key(format_args!("results-bell"))
    }
}

/// How long one blocking wait lasts before the waiter checks abort, Ctrl-C
/// and timeouts again: short enough that Ctrl-C feels immediate.
pub(crate) const DEFAULT_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// `d` as the seconds argument of BLPOP (fractions allowed since Redis 6).
pub(crate) fn blpop_secs(d: std::time::Duration) -> f64 {
    d.as_secs_f64().max(0.01)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_keys_refuse_separators_and_globs() {
        assert!(validate_run("0123456789ab-0123456789abcdef").is_ok());
        for bad in ["", "a:b", "a*", "a?", "a[b]", "a b", "a/b", "a\\b"] {
            assert!(validate_run(bad).is_err(), "{bad:?}");
        }
        let e = validate_run("x:y").unwrap_err();
        assert!(e.to_string().contains("use letters, digits"), "{e}");
    }
}
