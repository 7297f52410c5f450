//! The sync service from async code running on tokio (feature `tokio`).
//!
//! A blocking [`SyncClient`](super::SyncClient) call stops the whole instance,
//! and with it every task of the plan's runtime. [`AsyncClient`] starts the
//! same operations without waiting (`tg:plan/sync`'s `start-*` calls) and
//! awaits their replies, so a task awaiting a barrier lets the others run and
//! wakes at the barrier's virtual instant, as a task awaiting a socket does.
//! The operations, and so the run's trace and digest, are the ones the
//! blocking calls make.
//!
//! tokio waits in mio, on file descriptors, so a reply reaches it through the
//! sync service's control connection ([`super::control`]): one per client,
//! opened on first use inside the runtime and registered with its reactor.
//! Every future of the client that is waiting sits in one list; whenever the
//! connection turns readable, or a poll finds it was raised, the whole list is
//! woken and each future asks the host for its own reply. Waiting futures are
//! few (the plan's tasks), so waking them all costs less than keeping track of
//! which raise was whose.
//!
//! This module does not define the operations (the blocking client's docs
//! do) and works only inside a tokio runtime with IO enabled (`enable_io`, or
//! `#[tokio::main(flavor = "current_thread")]`).

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Wake, Waker};

use futures_core::Stream;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::TcpStream;

use super::{SyncError, control};
use crate::bindings::tg::plan::sync as host;

/// The sync service for async code; get one with
/// [`RunEnv::sync_async`](crate::RunEnv::sync_async). Clones share one
/// control connection.
///
/// ```no_run
/// use tg_sdk::prelude::*;
///
/// fn case(env: &RunEnv) -> tg_sdk::Result<()> {
///     let sync = env.sync_async();
///     let n = u64::from(env.test_instance_count());
///     let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
///     runtime.block_on(async move {
///         let seq = sync.signal_and_wait("ready", n).await?;
///         sync.publish_json("hello", &seq).await?;
///         let mut hellos = sync.subscribe("hello")?;
///         let all: Vec<u64> = hellos.take_json(n as usize).await?;
///         tg_sdk::ensure!(all.len() as u64 == n, "missing hellos");
///         Ok(())
///     })
/// }
/// ```
#[derive(Clone, Debug)]
pub struct AsyncClient {
    control: Arc<Control>,
}

impl AsyncClient {
    pub(crate) fn new() -> Self {
        AsyncClient { control: Arc::new(Control::default()) }
    }

    /// Increments the counter of `state`; returns its new value, 1-based.
    pub async fn signal_entry(&self, state: &str) -> Result<u64, SyncError> {
        self.control.reply(host::start_signal_entry(state)?).await
    }

    /// Waits until the counter of `state` reaches `target`. A target of 0 returns at once.
    pub async fn barrier(&self, state: &str, target: u64) -> Result<(), SyncError> {
        self.control.reply(host::start_barrier(state, target)?).await.map(|_| ())
    }

    /// Signals `state` then waits for its counter to reach `target`; returns
    /// this instance's sequence number on `state` (1-based).
    pub async fn signal_and_wait(&self, state: &str, target: u64) -> Result<u64, SyncError> {
        self.control.reply(host::start_signal_and_wait(state, target)?).await
    }

    /// Appends `payload` to `topic`; returns its 1-based position in the topic.
    pub async fn publish(&self, topic: &str, payload: &[u8]) -> Result<u64, SyncError> {
        self.control.reply(host::start_publish(topic, payload)?).await
    }

    /// Appends `value`, as JSON, to `topic`; returns its 1-based position.
    pub async fn publish_json<T: Serialize + ?Sized>(&self, topic: &str, value: &T) -> Result<u64, SyncError> {
        self.publish(topic, &serde_json::to_vec(value)?).await
    }

    /// Starts reading `topic` from its first message, whenever that was published.
    pub fn subscribe(&self, topic: &str) -> Result<AsyncSubscription, SyncError> {
        Ok(AsyncSubscription { inner: host::subscribe(topic)?, control: self.control.clone() })
    }
}

/// A reader over one topic, from its first message, in publish order; also a
/// [`Stream`] of messages that never ends.
#[derive(Debug)]
pub struct AsyncSubscription {
    inner: host::Subscription,
    control: Arc<Control>,
}

impl AsyncSubscription {
    /// The topic this subscription reads.
    pub fn topic(&self) -> String {
        self.inner.topic()
    }

    /// Waits for and returns the next message.
    #[allow(clippy::should_implement_trait)] // it fails; the Stream impl is the trait form
    pub async fn next(&mut self) -> Result<Vec<u8>, SyncError> {
        poll_fn(|cx| self.control.poll_until(cx, || self.inner.try_next())).await
    }

    /// Waits for the next message and decodes it from JSON.
    pub async fn next_json<T: DeserializeOwned>(&mut self) -> Result<T, SyncError> {
        Ok(serde_json::from_slice(&self.next().await?)?)
    }

    /// Waits for the next `count` messages and decodes each from JSON.
    pub async fn take_json<T: DeserializeOwned>(&mut self, count: usize) -> Result<Vec<T>, SyncError> {
        let mut all = Vec::with_capacity(count.min(1024));
        for _ in 0..count {
            all.push(self.next_json().await?);
        }
        Ok(all)
    }
}

impl Stream for AsyncSubscription {
    type Item = Result<Vec<u8>, SyncError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        this.control.poll_until(cx, || this.inner.try_next()).map(Some)
    }
}

/// A client's control connection and the futures waiting on it.
#[derive(Default)]
struct Control {
    /// Opened on first use, which is inside the runtime whose reactor it joins.
    stream: OnceLock<Result<TcpStream, String>>,
    waiting: Arc<Waiting>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control").field("open", &self.stream.get().is_some()).finish_non_exhaustive()
    }
}

impl Control {
    fn stream(&self) -> Result<&TcpStream, SyncError> {
        self.stream
            .get_or_init(|| {
                let std = control::connect().map_err(|e| e.to_string())?;
                TcpStream::from_std(std).map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|why| SyncError::ControlConnection(why.clone()))
    }

    /// Waits for `operation`'s reply.
    async fn reply(&self, operation: host::Operation) -> Result<u64, SyncError> {
        poll_fn(|cx| self.poll_until(cx, || operation.reply())).await?.map_err(SyncError::from)
    }

    /// Ready once `check` returns something; otherwise the task is woken when
    /// the sync events are next raised.
    fn poll_until<T>(&self, cx: &mut Context<'_>, mut check: impl FnMut() -> Option<T>) -> Poll<Result<T, SyncError>> {
        let stream = match self.stream() {
            Ok(stream) => stream,
            Err(e) => return Poll::Ready(Err(e)),
        };
        loop {
            // Reading clears tokio's readiness; whatever was raised may be
            // another future's reply, so every waiting future looks again.
            match control::drain(|buf| stream.try_read(buf)) {
                Ok(true) => self.waiting.wake_all(),
                Ok(false) => {}
                Err(e) => return Poll::Ready(Err(SyncError::ControlConnection(e.to_string()))),
            }
            if let Some(value) = check() {
                return Poll::Ready(Ok(value));
            }
            self.waiting.add(cx.waker());
            let waker = Waker::from(self.waiting.clone());
            match stream.poll_read_ready(&mut Context::from_waker(&waker)) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(())) => continue,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(SyncError::ControlConnection(e.to_string()))),
            }
        }
    }
}

/// The futures waiting for the sync events; tokio keeps one waker per
/// direction of a socket, so this is the waker it keeps, and it wakes them all.
#[derive(Default)]
struct Waiting(Mutex<Vec<Waker>>);

impl Waiting {
    fn add(&self, waker: &Waker) {
        let mut waiters = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if !waiters.iter().any(|w| w.will_wake(waker)) {
            waiters.push(waker.clone());
        }
    }

    fn wake_all(&self) {
        let waiters = std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
        for waker in waiters {
            waker.wake();
        }
    }
}

impl Wake for Waiting {
    fn wake(self: Arc<Self>) {
        self.wake_all();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wake_all();
    }
}
