//! The sync service as a plan sees it: states with counters and barriers on
//! them, and topics to publish to and read from — Testground's `sync.Client`.
//!
//! Every wait here is a virtual-time event on the host: a barrier nobody can
//! reach does not spin, it stalls the instance until the run's deadline.
//!
//! [`SyncClient`] blocks the instance while it waits, which is what plain
//! `std` code wants. Async code on tokio uses [`AsyncClient`] (feature
//! `tokio`), which awaits the same operations without stopping other tasks;
//! [`control`] is the connection through which such executors learn of
//! replies, and [`crate::wait`] uses it to wait on subscriptions beside
//! sockets from blocking code.

#[cfg(feature = "tokio")]
mod async_client;
pub mod control;

#[cfg(feature = "tokio")]
pub use async_client::{AsyncClient, AsyncSubscription};

use std::fmt;
use std::sync::Mutex;

use serde::Serialize;
use serde::de::DeserializeOwned;
use wasip2::io::poll::Pollable;

use crate::bindings::tg::plan::sync as host;

/// Why a sync operation failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum SyncError {
    /// An argument is out of range; the string says which and why.
    InvalidArgument(String),
    /// A payload is larger than the service accepts.
    PayloadTooLarge {
        /// The largest payload accepted, in bytes.
        limit: u64,
    },
    /// The run is ending and the service no longer answers.
    Closed,
    /// A payload could not be encoded to, or decoded from, JSON.
    Json(serde_json::Error),
    /// The sync service's control connection, through which async code
    /// learns of replies, failed; the string says how.
    ControlConnection(String),
}

impl fmt::Display for SyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncError::InvalidArgument(why) => write!(f, "sync service refused an argument: {why}"),
            SyncError::PayloadTooLarge { limit } => {
                write!(f, "payload too large for the sync service (limit {limit} bytes)")
            }
            SyncError::Closed => f.write_str("sync service closed: the run is ending"),
            SyncError::Json(err) => write!(f, "sync payload is not the expected JSON: {err}"),
            SyncError::ControlConnection(why) => write!(f, "the sync service's control connection failed: {why}"),
        }
    }
}

impl std::error::Error for SyncError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SyncError::Json(err) => Some(err),
            _ => None,
        }
    }
}

impl From<host::SyncError> for SyncError {
    fn from(err: host::SyncError) -> Self {
        match err {
            host::SyncError::InvalidArgument(why) => SyncError::InvalidArgument(why),
            host::SyncError::PayloadTooLarge(limit) => SyncError::PayloadTooLarge { limit },
            host::SyncError::Closed => SyncError::Closed,
        }
    }
}

impl From<serde_json::Error> for SyncError {
    fn from(err: serde_json::Error) -> Self {
        SyncError::Json(err)
    }
}

/// A handle on the run's sync service; get one with [`RunEnv::sync`](crate::RunEnv::sync).
///
/// ```no_run
/// use tg_sdk::prelude::*;
///
/// fn case(env: &RunEnv) -> tg_sdk::Result<()> {
///     let sync = env.sync();
///     let n = u64::from(env.test_instance_count());
///     let seq = sync.signal_and_wait("ready", n)?;
///     sync.publish_json("addrs", &(seq, "16.0.0.2:4000"))?;
///     let addrs: Vec<(u64, String)> = sync.subscribe("addrs")?.take_json(n as usize)?;
///     Ok(())
/// }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SyncClient {
    _private: (),
}

impl SyncClient {
    pub(crate) fn new() -> Self {
        SyncClient { _private: () }
    }

    /// Increments the counter of `state` and returns its new value, 1-based:
    /// the number of instances that have signalled it so far, this one included.
    pub fn signal_entry(&self, state: &str) -> Result<u64, SyncError> {
        Ok(host::signal_entry(state)?)
    }

    /// Waits until the counter of `state` reaches `target`. A target of 0 returns at once.
    pub fn barrier(&self, state: &str, target: u64) -> Result<(), SyncError> {
        Ok(host::barrier(state, target)?)
    }

    /// Signals `state` then waits for its counter to reach `target`; returns
    /// this instance's sequence number on `state` (1-based).
    pub fn signal_and_wait(&self, state: &str, target: u64) -> Result<u64, SyncError> {
        Ok(host::signal_and_wait(state, target)?)
    }

    /// Appends `payload` to `topic`; returns its 1-based position in the topic.
    pub fn publish(&self, topic: &str, payload: &[u8]) -> Result<u64, SyncError> {
        Ok(host::publish(topic, payload)?)
    }

    /// Appends `value`, as JSON, to `topic`; returns its 1-based position in the topic.
    pub fn publish_json<T: Serialize + ?Sized>(&self, topic: &str, value: &T) -> Result<u64, SyncError> {
        self.publish(topic, &serde_json::to_vec(value)?)
    }

    /// Starts reading `topic` from its first message, whenever that was published.
    pub fn subscribe(&self, topic: &str) -> Result<Subscription, SyncError> {
        Ok(Subscription { inner: host::subscribe(topic)?, peeked: Mutex::new(None) })
    }

    /// Publishes `payload` on `topic` and subscribes to it (Testground's
    /// `PublishSubscribe`); returns the position of the payload and the
    /// subscription, which starts at the topic's first message.
    pub fn publish_subscribe(&self, topic: &str, payload: &[u8]) -> Result<(u64, Subscription), SyncError> {
        let seq = self.publish(topic, payload)?;
        Ok((seq, self.subscribe(topic)?))
    }

    /// [`publish_subscribe`](Self::publish_subscribe) with a JSON payload.
    pub fn publish_subscribe_json<T: Serialize + ?Sized>(
        &self,
        topic: &str,
        value: &T,
    ) -> Result<(u64, Subscription), SyncError> {
        self.publish_subscribe(topic, &serde_json::to_vec(value)?)
    }
}

/// A reader over one topic: every message of the topic, from the first, in
/// publish order — the same order for every instance.
#[derive(Debug)]
pub struct Subscription {
    inner: host::Subscription,
    /// A message [`crate::wait`] took to learn that there is one, returned next.
    peeked: Mutex<Option<Vec<u8>>>,
}

impl Subscription {
    /// The topic this subscription reads.
    pub fn topic(&self) -> String {
        self.inner.topic()
    }

    /// Waits for and returns the next message.
    #[allow(clippy::should_implement_trait)] // it waits and fails; an Iterator would hide both
    pub fn next(&self) -> Result<Vec<u8>, SyncError> {
        match self.take_peeked() {
            Some(message) => Ok(message),
            None => Ok(self.inner.next()?),
        }
    }

    /// The next message if one has been published, without waiting.
    pub fn try_next(&self) -> Option<Vec<u8>> {
        self.take_peeked().or_else(|| self.inner.try_next())
    }

    /// Whether a message is there for [`try_next`](Self::try_next), keeping it
    /// for that call. When there is none, the host raises the control
    /// connection once there is (see [`control`]).
    pub(crate) fn poll_message(&self) -> bool {
        let mut peeked = self.peeked.lock().unwrap_or_else(|e| e.into_inner());
        if peeked.is_none() {
            *peeked = self.inner.try_next();
        }
        peeked.is_some()
    }

    fn take_peeked(&self) -> Option<Vec<u8>> {
        self.peeked.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Waits for the next message and decodes it from JSON.
    pub fn next_json<T: DeserializeOwned>(&self) -> Result<T, SyncError> {
        Ok(serde_json::from_slice(&self.next()?)?)
    }

    /// The next message decoded from JSON, if one has been published, without waiting.
    pub fn try_next_json<T: DeserializeOwned>(&self) -> Option<Result<T, SyncError>> {
        self.try_next().map(|bytes| Ok(serde_json::from_slice(&bytes)?))
    }

    /// Waits for the next `count` messages and decodes each from JSON.
    pub fn take_json<T: DeserializeOwned>(&self, count: usize) -> Result<Vec<T>, SyncError> {
        (0..count).map(|_| self.next_json()).collect()
    }

    /// A pollable that is ready when the host has a message after those read;
    /// pass it to `wasip2::io::poll::poll` with a socket's to wait on both
    /// (or use [`crate::wait::Wait`], which also takes `std` sockets).
    pub fn pollable(&self) -> Pollable {
        self.inner.subscribe()
    }
}
