//! A sync backend in a Redis server.
//!
//! States are counters (`INCR`) and topics are lists (`RPUSH`, read with
//! `LRANGE`). Every key of a run starts with `tg:<run id>:<nonce>:`, where the
//! nonce is random per process: two runs of the same inputs against one server
//! never share a key, and since the nonce only names keys, it cannot change
//! what the simulation does. Keys are deleted when the run ends; each write also
//! sets a 24-hour expiry so that a process killed before it can clean up does
//! not leave its keys behind forever (Testground's backend grew without bound,
//! testground#1415).
//!
//! Every call has connection and response timeouts. A call that fails with a
//! connection error is retried on a fresh connection with backoff, a bounded
//! number of times; then the backend reports the failure and the run ends. A
//! write whose reply was lost may already have been applied, so writes go
//! through small Lua scripts that record each operation's result under its
//! ticket and return the recorded result when the same operation comes again:
//! a retried `signal-entry` never counts twice. The connection and retry
//! logic is [`RedisLink`], shared with the shard transport (`crate::shard`).
//!
//! Topics are append-only, so a message once read never changes: the backend
//! keeps what it has read and fetches only the messages past it, in one
//! `LRANGE`. A thousand subscribers reading a thousand messages cost about a
//! thousand round trips, not a million.

use netsim::{BackendError, SyncBackend, Ticket};
use redis::{Client, Connection, RedisError, Script};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

/// How long keys outlive their last write if the run cannot delete them.
/// How long every key a run writes in Redis lives (sync states, topics,
/// a split run's frames and results): long past any run, short enough that a
/// crashed one cleans up after itself.
pub const KEY_TTL_SECS: u64 = 24 * 3600;

/// Keys deleted per `UNLINK` when a run ends.
const UNLINK_BATCH: usize = 512;

/// What the scripts answer when the run's key is gone: the server restarted
/// empty, was flushed, or evicted the run's keys.
const LOST_MARK: &str = "TG-RUN-KEYS-LOST";

/// Increments a state once per operation id; returns the count.
/// KEYS: state, ops hash, run key. ARGV: op id, ttl.
const INCR_ONCE: &str = r"
if redis.call('EXPIRE', KEYS[3], ARGV[2]) == 0 then return redis.error_reply('TG-RUN-KEYS-LOST') end
local done = redis.call('HGET', KEYS[2], ARGV[1])
if done then return tonumber(done) end
local n = redis.call('INCR', KEYS[1])
redis.call('HSET', KEYS[2], ARGV[1], n)
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return n
";

/// Appends to a topic once per operation id; returns the 1-based position.
/// KEYS: topic, ops hash, run key. ARGV: op id, ttl, payload.
const RPUSH_ONCE: &str = r"
if redis.call('EXPIRE', KEYS[3], ARGV[2]) == 0 then return redis.error_reply('TG-RUN-KEYS-LOST') end
local done = redis.call('HGET', KEYS[2], ARGV[1])
if done then return tonumber(done) end
local n = redis.call('RPUSH', KEYS[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[1], n)
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return n
";

static INCR_ONCE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(INCR_ONCE));
static RPUSH_ONCE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(RPUSH_ONCE));

/// Timeouts and retries of the Redis backend.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Longest wait for a TCP connection to be established.
    pub connect_timeout: Duration,
    /// Longest wait for one reply (and for one write to the socket).
    pub response_timeout: Duration,
    /// Pauses between tries; one try more than there are pauses.
    pub backoff: Vec<Duration>,
}

impl Default for RetryPolicy {
    /// Three tries over about two seconds: long enough to ride out a server
    /// restart or a dropped connection, short enough that a dead server ends
    /// the run promptly.
    fn default() -> Self {
        RetryPolicy {
            connect_timeout: Duration::from_secs(1),
            response_timeout: Duration::from_secs(2),
            backoff: vec![Duration::from_millis(500), Duration::from_millis(1500)],
        }
    }
}

/// Why the Redis backend could not start.
#[derive(Debug, thiserror::Error)]
pub enum RedisSetupError {
    /// The URL is not a Redis URL.
    #[error("not a Redis URL: {0}")]
    Url(RedisError),
    /// The server did not answer.
    #[error("cannot reach Redis at {addr}: {source} (is redis-server running there?)")]
    Unreachable {
        /// Where it was looked for.
        addr: String,
        /// What failed.
        source: RedisError,
    },
    /// The server answered but would not take the connection as set up:
    /// a database number past its `databases`, a wrong password.
    #[error("Redis at {addr} refused the connection: {source} (check the URL's database number and password)")]
    Refused {
        /// The server's address.
        addr: String,
        /// Its answer.
        source: RedisError,
    },
}

impl RedisSetupError {
    /// Unreachable when the connection failed, refused when the server said no.
    fn connecting(addr: String, source: RedisError) -> RedisSetupError {
        if transient(&source) {
            RedisSetupError::Unreachable { addr, source }
        } else {
            RedisSetupError::Refused { addr, source }
        }
    }
}

/// A Redis call that failed for good: not retryable, or still failing after
/// every try the [`RetryPolicy`] allows.
#[derive(Debug, thiserror::Error)]
// The last failure is part of the message, not a `source`: `{:#}` would print it twice.
#[error("Redis at {addr}: {what} failed{}: {error}", tries_note(*.tries, *.elapsed))]
pub struct LinkError {
    /// The server's address (no password).
    pub addr: String,
    /// What was being done, for the message.
    pub what: String,
    /// How many tries were made.
    pub tries: usize,
    /// From the first try to giving up.
    pub elapsed: Duration,
    /// The last failure.
    pub error: RedisError,
}

fn tries_note(tries: usize, elapsed: Duration) -> String {
    if tries > 1 { format!(" after {tries} tries over {:.1} s", elapsed.as_secs_f64()) } else { String::new() }
}

/// One Redis server reached through one connection, with the timeouts and
/// bounded retries of a [`RetryPolicy`]: the connection and retry logic every
/// Redis user in tg-wasm shares (the sync backend here, the shard transport in
/// `crate::shard`).
///
/// A call that fails with a connection error is retried on a fresh connection
/// after the policy's next pause. The call is repeated whole, so a caller whose
/// call is not idempotent must make a repeat harmless (a Lua script keyed by an
/// operation id, or a receiver that drops duplicates).
pub struct RedisLink {
    client: Client,
    con: Option<Connection>,
    policy: RetryPolicy,
    addr: String,
}

impl RedisLink {
    /// Connects to `url` and checks, with one PING and no retry, that the server answers.
    pub fn open(url: &str, policy: RetryPolicy) -> Result<RedisLink, RedisSetupError> {
        let client = Client::open(url).map_err(RedisSetupError::Url)?;
        let addr = client.get_connection_info().addr().to_string();
        let mut link = RedisLink { client, con: None, policy, addr };
        let pong: Result<String, RedisError> = link.connection().and_then(|con| redis::cmd("PING").query(con));
        pong.map_err(|source| RedisSetupError::connecting(link.addr.clone(), source))?;
        Ok(link)
    }

    /// The server's address, `host:port`, for messages.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The timeouts and retries in force; changing them affects later calls.
    pub fn policy_mut(&mut self) -> &mut RetryPolicy {
        &mut self.policy
    }

    fn connection(&mut self) -> Result<&mut Connection, RedisError> {
        if self.con.is_none() {
            let con = self.client.get_connection_with_timeout(self.policy.connect_timeout)?;
            con.set_read_timeout(Some(self.policy.response_timeout))?;
            con.set_write_timeout(Some(self.policy.response_timeout))?;
            self.con = Some(con);
        }
        Ok(self.con.as_mut().expect("connected above"))
    }

    /// Runs `f` on a connection, retrying transient failures per the policy.
    /// `what` names the operation in the error.
    pub fn call<T>(
        &mut self,
        what: &str,
        f: impl FnMut(&mut Connection) -> Result<T, RedisError>,
    ) -> Result<T, LinkError> {
        let tries = self.policy.backoff.len() + 1;
        self.call_tries(what, tries, f)
    }

    /// Runs `f` once, without retrying: for best-effort calls made while
    /// already giving up, which must not add the policy's pauses.
    pub fn call_once<T>(
        &mut self,
        what: &str,
        f: impl FnMut(&mut Connection) -> Result<T, RedisError>,
    ) -> Result<T, LinkError> {
        self.call_tries(what, 1, f)
    }

    fn call_tries<T>(
        &mut self,
        what: &str,
        tries: usize,
        mut f: impl FnMut(&mut Connection) -> Result<T, RedisError>,
    ) -> Result<T, LinkError> {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            match self.connection().and_then(&mut f) {
                Ok(v) => return Ok(v),
                Err(e) => {
                    // The connection may be half-used or dead: never reuse it after an error.
                    self.con = None;
                    attempt += 1;
                    if !transient(&e) || attempt >= tries {
                        return Err(LinkError {
                            addr: self.addr.clone(),
                            what: what.to_string(),
                            tries: attempt,
                            elapsed: started.elapsed(),
                            error: e,
                        });
                    }
                    std::thread::sleep(self.policy.backoff[attempt - 1]);
                }
            }
        }
    }
}

/// Sync states and topics in a Redis server; see the module documentation.
pub struct RedisBackend {
    link: RedisLink,
    prefix: String,
    ops_key: String,
    /// Set when the run starts and checked by every call: a server that
    /// restarted empty (or lost the run's keys) would otherwise answer as if
    /// nothing had been signalled or published, and the run would deadlock
    /// blaming the plan.
    run_key: String,
    /// Every key this run wrote, to delete when it ends.
    keys: BTreeSet<String>,
    /// Messages read so far, by topic: topics only grow, so these never go stale.
    read: BTreeMap<String, Vec<Arc<[u8]>>>,
    failed: bool,
    closed: bool,
}

/// `url` without a password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://…@{}", &url[..scheme], &url[at + 1..]),
        _ => url.to_string(),
    }
}

/// A random 64-bit value in hex, different for every call on this machine.
/// It names keys only; nothing in the simulation reads it.
pub(crate) fn nonce() -> String {
    use sha2::{Digest, Sha256};
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = Sha256::new();
    h.update(std::process::id().to_le_bytes());
    h.update(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed).to_le_bytes());
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    h.update(now.as_nanos().to_le_bytes());
    // std seeds RandomState from the OS's randomness.
    let mut rs = std::collections::hash_map::RandomState::new().build_hasher();
    rs.write_u64(0);
    h.update(rs.finish().to_le_bytes());
    h.finalize()[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether retrying on a fresh connection may help.
fn transient(e: &RedisError) -> bool {
    e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal()
}

impl RedisBackend {
    /// Connects to `url` for the run `run_id` and checks that the server answers.
    pub fn connect(url: &str, run_id: &str, policy: RetryPolicy) -> Result<RedisBackend, RedisSetupError> {
        let mut link = RedisLink::open(url, policy)?;
        let prefix = format!("tg:{run_id}:{}:", nonce());
        let run_key = format!("{prefix}run");
        let addr = link.addr().to_string();
        link.call("marking the run's start", |con| {
            redis::cmd("SET").arg(&run_key).arg(1).arg("EX").arg(KEY_TTL_SECS).query::<()>(con)
        })
        .map_err(|e| RedisSetupError::connecting(addr, e.error))?;
        Ok(RedisBackend {
            link,
            ops_key: format!("{prefix}ops"),
            keys: BTreeSet::from([run_key.clone()]),
            run_key,
            prefix,
            read: BTreeMap::new(),
            failed: false,
            closed: false,
        })
    }

    /// The error for a server that no longer holds the run's key.
    fn lost(&mut self, what: &str) -> BackendError {
        self.failed = true;
        BackendError(format!(
            "Redis at {}: {what}: the run's keys are gone ({} no longer exists): the server restarted empty, \
             was flushed or evicted them mid-run, so states and topics are lost; run again against a server \
             that keeps its data for the run (no restart, FLUSHALL or eviction)",
            self.link.addr(),
            self.run_key
        ))
    }

    /// The prefix of every key of this run: `tg:<run id>:<nonce>:`.
    pub fn key_prefix(&self) -> &str {
        &self.prefix
    }

    /// Runs `f` on the link; a failure marks the backend failed.
    fn call<T>(
        &mut self,
        what: &str,
        f: impl FnMut(&mut Connection) -> Result<T, RedisError>,
    ) -> Result<T, BackendError> {
        match self.link.call(what, f) {
            Ok(v) => Ok(v),
            Err(e) if e.error.to_string().contains(LOST_MARK) => Err(self.lost(what)),
            Err(e) => {
                self.failed = true;
                Err(BackendError(e.to_string()))
            }
        }
    }

    /// Runs `cmd` after refreshing the run's key in one round trip; the run's
    /// keys being gone is an error, not an empty answer.
    fn checked<T: redis::FromRedisValue>(&mut self, what: &str, cmd: redis::Cmd) -> Result<T, BackendError> {
        let run_key = self.run_key.clone();
        let (alive, value): (u8, T) = self.call(what, |con| {
            redis::pipe().cmd("EXPIRE").arg(&run_key).arg(KEY_TTL_SECS).add_command(cmd.clone()).query(con)
        })?;
        if alive == 0 {
            return Err(self.lost(what));
        }
        Ok(value)
    }

    fn state_key(&self, state: &str) -> String {
        format!("{}state:{state}", self.prefix)
    }

    fn topic_key(&self, topic: &str) -> String {
        format!("{}topic:{topic}", self.prefix)
    }

    fn write_once(&mut self, what: &str, key: String, op: Ticket, payload: Option<&[u8]>) -> Result<u64, BackendError> {
        self.keys.insert(key.clone());
        self.keys.insert(self.ops_key.clone());
        let op_id = format!("{}/{}", op.node.0, op.n);
        let script: &Script = if payload.is_some() { &RPUSH_ONCE_SCRIPT } else { &INCR_ONCE_SCRIPT };
        let (ops_key, run_key) = (self.ops_key.clone(), self.run_key.clone());
        self.call(what, |con| {
            let mut inv = script.key(&key);
            inv.key(&ops_key).key(&run_key).arg(&op_id).arg(KEY_TTL_SECS);
            if let Some(p) = payload {
                inv.arg(p);
            }
            inv.invoke::<u64>(con)
        })
    }
}

impl SyncBackend for RedisBackend {
    fn increment(&mut self, op: Ticket, state: &str) -> Result<u64, BackendError> {
        let key = self.state_key(state);
        self.write_once(&format!("signal on state {state:?}"), key, op, None)
    }

    fn count(&mut self, state: &str) -> Result<u64, BackendError> {
        let mut get = redis::cmd("GET");
        get.arg(self.state_key(state));
        let n: Option<u64> = self.checked(&format!("reading state {state:?}"), get)?;
        Ok(n.unwrap_or(0))
    }

    fn append(&mut self, op: Ticket, topic: &str, payload: &Arc<[u8]>) -> Result<u64, BackendError> {
        let key = self.topic_key(topic);
        self.write_once(&format!("publish on topic {topic:?}"), key, op, Some(payload))
    }

    fn message(&mut self, topic: &str, index: u64) -> Result<Option<Arc<[u8]>>, BackendError> {
        let index = usize::try_from(index).unwrap_or(usize::MAX);
        let have = self.read.get(topic).map_or(0, Vec::len);
        if index >= have {
            let mut range = redis::cmd("LRANGE");
            range.arg(self.topic_key(topic)).arg(have as isize).arg(-1);
            let more: Vec<Vec<u8>> = self.checked(&format!("reading topic {topic:?}"), range)?;
            self.read.entry(topic.to_string()).or_default().extend(more.into_iter().map(Arc::from));
        }
        Ok(self.read.get(topic).and_then(|m| m.get(index)).cloned())
    }

    fn close(&mut self) -> Result<(), BackendError> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        if self.failed {
            // The server already failed: one quick try, then leave the keys to their expiry.
            self.link.policy_mut().backoff.clear();
        }
        let keys: Vec<String> = std::mem::take(&mut self.keys).into_iter().collect();
        for chunk in keys.chunks(UNLINK_BATCH) {
            self.call("deleting the run's keys", |con| redis::cmd("UNLINK").arg(chunk).query::<u64>(con))?;
        }
        Ok(())
    }

    fn describe(&self) -> String {
        format!("Redis at {}", self.link.addr())
    }
}

impl Drop for RedisBackend {
    /// A backend dropped without [`SyncBackend::close`] (a panic, an early
    /// return) still deletes its keys if the server answers.
    fn drop(&mut self) {
        if !self.closed {
            let _ = self.close();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(redact("redis://:secret@127.0.0.1:6379/0"), "redis://…@127.0.0.1:6379/0");
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }

    #[test]
    fn nonces_differ() {
        assert_ne!(nonce(), nonce());
        assert_eq!(nonce().len(), 16);
    }

    #[test]
    fn an_unreachable_server_is_reported_with_its_address() {
        // Port 1 on loopback: nothing listens there, so the connection is refused at once.
        let policy = RetryPolicy { backoff: vec![], ..RetryPolicy::default() };
        let err = RedisBackend::connect("redis://127.0.0.1:1", "run", policy).err().expect("must fail");
        assert!(err.to_string().contains("cannot reach Redis at 127.0.0.1:1"), "{err}");
    }
}
