//! Heartbeats: while a worker runs a shard, and while the coordinating `run`
//! collects, a thread of its own sets a key of the run that expires unless
//! set again ([`Heartbeat`]). The collector thus tells a worker that is gone
//! — killed, its machine down, cut off from Redis — from one whose window
//! takes long, and workers elsewhere tell a coordinator that is gone from one
//! that waits, within seconds instead of after the peers' ten-minute silence.
//!
//! Owns: the keys' refresh, and how long a lapse may last
//! ([`SILENT_LIMIT`]). Does not own: what a lapse leads to ([`super::job`]
//! aborts the run naming the shard; [`super::mailbox`] ends the shard's
//! exchange, and the run, when the coordinator's lapses).

use super::{InvalidRun, RunKeys};
use crate::sync::redis::{RedisLink, RedisSetupError, RetryPolicy};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

/// How often a worker, or a coordinator, sets its heartbeat key.
pub const BEAT_EVERY: Duration = Duration::from_secs(2);

/// How long the key outlives its last beat: three beats.
const KEY_TTL: Duration = Duration::from_secs(6);

/// One beat on `key`: set it, to lapse [`KEY_TTL`] from now. A claim makes
/// one for the shard it takes ([`super::job`]), so that a worker gone before
/// its own heartbeat starts is seen to go.
pub(super) fn beat_on(key: &str) -> redis::Cmd {
    let mut cmd = redis::cmd("SET");
    cmd.arg(key).arg(1).arg("PX").arg(KEY_TTL.as_millis() as u64);
    cmd
}

/// How long a collector waits, once a worker's key has lapsed ([`KEY_TTL`]
/// after its last beat), before it gives up on the worker (and a worker on
/// its coordinator): either is noticed gone within about 14 s. Above [`BEAT_EVERY`] with room to spare: a
/// server restarted empty loses the key until the next beat sets it again,
/// and a beat may be late by a slow reply.
pub const SILENT_LIMIT: Duration = Duration::from_secs(8);

/// A beat waits at most this long for the server: a beat that cannot be made
/// is skipped, not retried (the next one comes soon), and a worker that lost
/// the server hears of it from its own exchanges.
const BEAT_TIMEOUT: Duration = Duration::from_secs(1);

/// Why a heartbeat could not start.
#[derive(Debug, thiserror::Error)]
pub enum HeartbeatError {
    /// The run key cannot name Redis keys.
    #[error(transparent)]
    InvalidRun(#[from] InvalidRun),
    /// The server did not answer.
    #[error("{0}")]
    Unreachable(#[from] RedisSetupError),
    /// No thread could be started to beat.
    #[error("starting the heartbeat thread: {0}")]
    Thread(std::io::Error),
}

/// A running heartbeat for one shard or a coordinator; it stops, and its key goes, when dropped.
pub struct Heartbeat {
    /// Dropping it stops the thread at once, between beats.
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Heartbeat {
    /// Starts beating for shard `index` of run `run` on the server at `url`.
    pub fn for_shard(url: &str, run: &str, index: u32) -> Result<Heartbeat, HeartbeatError> {
        Heartbeat::start(url, RunKeys::new(run)?.alive(index))
    }

    /// Starts beating for the coordinator of run `run` on the server at `url`.
    pub fn for_coordinator(url: &str, run: &str) -> Result<Heartbeat, HeartbeatError> {
        Heartbeat::start(url, RunKeys::new(run)?.coordinator_alive())
    }

    /// Starts beating on `key`, on a connection of its own: the first beat is
    /// made before this returns.
    fn start(url: &str, key: String) -> Result<Heartbeat, HeartbeatError> {
        let policy = RetryPolicy { connect_timeout: BEAT_TIMEOUT, response_timeout: BEAT_TIMEOUT, backoff: Vec::new() };
        let mut link = RedisLink::open(url, policy)?;
        // The last call deletes the key: a run cleaned up as soon as its
        // results are in finds no beat left behind.
        let mut beat = move |last: bool| {
            let cmd = if last { redis::cmd("DEL").arg(&key).to_owned() } else { beat_on(&key) };
            if let Err(e) = link.call_once("sending a heartbeat", |con| cmd.query::<()>(con)) {
                tracing::debug!("a heartbeat was skipped: {e}");
            }
        };
        beat(false);
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("heartbeat".into())
            .spawn(move || {
                while stopped.recv_timeout(BEAT_EVERY) == Err(RecvTimeoutError::Timeout) {
                    beat(false);
                }
                beat(true);
            })
            .map_err(HeartbeatError::Thread)?;
        Ok(Heartbeat { stop: Some(stop), thread: Some(thread) })
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
