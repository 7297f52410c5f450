//! `tg:plan/sync`: barriers, signals and topics, as netsim sync operations.
//!
//! Each call becomes a [`SyncOp`] submitted to the instance's [`netsim::Sim`].
//! A blocking call's future completes when the reply event arrives, which
//! suspends only the calling instance; a `start-*` call returns an
//! [`Operation`] at once, whose reply the plan's own executor waits for
//! (through its pollable, or through the instance's [`SyncEvents`]). A
//! [`Subscription`] is a cursor into a topic's log; it is also a `wasi:io`
//! pollable so a plan can wait on it and a socket at once.

use super::sync_events::WaitKey;
use crate::bindings::sync::{Host, HostOperation, HostSubscription, SyncError};
use crate::instance::InstanceState;
use crate::wasi::io::PollReady;
use netsim::Ticket;
use netsim::{NodeId, Sim, SimHandle, SyncOp, WaitReason};
use std::future::poll_fn;
use std::sync::Arc;
use std::task::{Context, Poll};
use wasmtime::component::Resource;
use wasmtime_wasi_io::poll::DynPollable;

/// A reader over one topic, from its first message.
pub struct Subscription {
    node: NodeId,
    sim: SimHandle,
    topic: String,
    cursor: usize,
}

/// A sync operation started without waiting, and its reply once it came.
pub struct Operation {
    node: NodeId,
    sim: SimHandle,
    ticket: Ticket,
    reply: Option<Result<u64, SyncError>>,
    /// What a caller waiting for the reply waits on, for deadlock reports.
    waiting: Option<WaitReason>,
}

impl Operation {
    /// The reply, registering `cx` to be woken by it if it has not come.
    fn poll_reply(&mut self, sim: &mut Sim, cx: &mut Context<'_>) -> Poll<Result<u64, SyncError>> {
        if let Some(reply) = &self.reply {
            return Poll::Ready(reply.clone());
        }
        let reply = std::task::ready!(sim.poll_sync(self.ticket, cx)).map_err(SyncError::from);
        self.reply = Some(reply.clone());
        Poll::Ready(reply)
    }
}

impl PollReady for Operation {
    fn poll_ready(&mut self, sim: &mut Sim, cx: &mut Context<'_>) -> Poll<()> {
        let poll = self.poll_reply(sim, cx).map(|_| ());
        if poll.is_pending()
            && let Some(reason) = &self.waiting
        {
            sim.add_wait(self.node, reason.clone());
        }
        poll
    }
}

crate::pollable_via_poll_ready!(Operation, this => this.sim);

impl InstanceState {
    /// Starts `op` and returns its operation, registered with the instance's
    /// sync events so that its reply raises them.
    fn start(&mut self, op: SyncOp) -> wasmtime::Result<Result<Resource<Operation>, SyncError>> {
        let waiting = match &op {
            SyncOp::Barrier { state, target } | SyncOp::SignalAndWait { state, target } => {
                Some(WaitReason::Barrier { state: state.clone(), target: *target })
            }
            SyncOp::SignalEntry { .. } | SyncOp::Publish { .. } => None,
        };
        let node = self.node();
        let ticket = match self.sim.lock().submit_sync(node, op) {
            Ok(ticket) => ticket,
            Err(e) => return Ok(Err(e.into())),
        };
        let mut operation = Operation { node, sim: self.sim.clone(), ticket, reply: None, waiting };
        let pending =
            operation.poll_reply(&mut self.sim.lock(), &mut Context::from_waker(&self.sync_waker)).is_pending();
        let waiting = operation.waiting.clone().filter(|_| pending);
        let resource = self.table().push(operation)?;
        self.sync_events.set_wait(WaitKey::Operation(resource.rep()), waiting);
        Ok(Ok(resource))
    }
}

impl From<netsim::SyncError> for SyncError {
    fn from(e: netsim::SyncError) -> SyncError {
        match e {
            netsim::SyncError::InvalidArgument(why) => SyncError::InvalidArgument(why),
            netsim::SyncError::PayloadTooLarge(limit) => SyncError::PayloadTooLarge(limit),
            netsim::SyncError::Closed => SyncError::Closed,
            // WIT's sync-error has no variant of its own for it: the text says which limit and how to raise it.
            netsim::SyncError::LimitReached(limit) => SyncError::InvalidArgument(crate::limits::explain(limit)),
        }
    }
}

/// Submits `op` for `node` and waits for its reply; `waiting` describes the wait
/// for deadlock reports.
pub(crate) async fn sync_op(
    sim: &SimHandle,
    node: NodeId,
    op: SyncOp,
    waiting: Option<WaitReason>,
) -> Result<u64, SyncError> {
    let ticket = sim.lock().submit_sync(node, op)?;
    let reply = poll_fn(|cx| {
        let mut s = sim.lock();
        let poll = s.poll_sync(ticket, cx);
        if poll.is_pending()
            && let Some(reason) = &waiting
        {
            s.add_wait(node, reason.clone());
        }
        poll
    })
    .await;
    Ok(reply?)
}

impl Host for InstanceState {
    async fn signal_entry(&mut self, state: String) -> wasmtime::Result<Result<u64, SyncError>> {
        Ok(sync_op(&self.sim, self.node(), SyncOp::SignalEntry { state }, None).await)
    }

    async fn barrier(&mut self, state: String, target: u64) -> wasmtime::Result<Result<(), SyncError>> {
        let waiting = WaitReason::Barrier { state: state.clone(), target };
        Ok(sync_op(&self.sim, self.node(), SyncOp::Barrier { state, target }, Some(waiting)).await.map(|_| ()))
    }

    async fn signal_and_wait(&mut self, state: String, target: u64) -> wasmtime::Result<Result<u64, SyncError>> {
        let waiting = WaitReason::Barrier { state: state.clone(), target };
        Ok(sync_op(&self.sim, self.node(), SyncOp::SignalAndWait { state, target }, Some(waiting)).await)
    }

    async fn publish(&mut self, topic: String, payload: Vec<u8>) -> wasmtime::Result<Result<u64, SyncError>> {
        let op = SyncOp::Publish { topic, payload: Arc::from(payload) };
        Ok(sync_op(&self.sim, self.node(), op, None).await)
    }

    fn start_signal_entry(&mut self, state: String) -> wasmtime::Result<Result<Resource<Operation>, SyncError>> {
        self.start(SyncOp::SignalEntry { state })
    }

    fn start_barrier(
        &mut self,
        state: String,
        target: u64,
    ) -> wasmtime::Result<Result<Resource<Operation>, SyncError>> {
        self.start(SyncOp::Barrier { state, target })
    }

    fn start_signal_and_wait(
        &mut self,
        state: String,
        target: u64,
    ) -> wasmtime::Result<Result<Resource<Operation>, SyncError>> {
        self.start(SyncOp::SignalAndWait { state, target })
    }

    fn start_publish(
        &mut self,
        topic: String,
        payload: Vec<u8>,
    ) -> wasmtime::Result<Result<Resource<Operation>, SyncError>> {
        self.start(SyncOp::Publish { topic, payload: Arc::from(payload) })
    }

    fn subscribe(&mut self, topic: String) -> wasmtime::Result<Result<Resource<Subscription>, SyncError>> {
        if let Err(e) = netsim::sync::validate_name("topic", &topic) {
            return Ok(Err(e.into()));
        }
        let sub = Subscription { node: self.node(), sim: self.sim.clone(), topic, cursor: 0 };
        Ok(Ok(self.table().push(sub)?))
    }
}

impl HostSubscription for InstanceState {
    fn topic(&mut self, this: Resource<Subscription>) -> wasmtime::Result<String> {
        Ok(self.table().get(&this)?.topic.clone())
    }

    async fn next(&mut self, this: Resource<Subscription>) -> wasmtime::Result<Result<Vec<u8>, SyncError>> {
        let sub = self.table().get_mut(&this)?;
        let (node, sim, topic, cursor) = (sub.node, sub.sim.clone(), sub.topic.clone(), sub.cursor);
        let payload = poll_fn(|cx| sim.lock().poll_topic(node, &topic, cursor, cx)).await;
        self.table().get_mut(&this)?.cursor += 1;
        Ok(Ok(payload.to_vec()))
    }

    /// The next message, if any; if none, the subscription is watched: the
    /// instance's sync events are raised when one is published.
    fn try_next(&mut self, this: Resource<Subscription>) -> wasmtime::Result<Option<Vec<u8>>> {
        let key = WaitKey::Subscription(this.rep());
        let (events, waker, table, _) = self.sync_parts();
        let sub = table.get_mut(&this)?;
        let mut sim = sub.sim.lock();
        let message = sim.topic_message(&sub.topic, sub.cursor);
        let waiting = match message {
            Some(_) => {
                sub.cursor += 1;
                None
            }
            None => {
                sim.watch_topic(&sub.topic, waker);
                Some(WaitReason::Subscription { topic: sub.topic.clone(), cursor: sub.cursor })
            }
        };
        events.set_wait(key, waiting);
        Ok(message.map(|p| p.to_vec()))
    }

    fn subscribe(&mut self, this: Resource<Subscription>) -> wasmtime::Result<Resource<DynPollable>> {
        let (_, _, table, pollables) = self.sync_parts();
        crate::wasi::io::subscribe(table, pollables, this)
    }

    fn drop(&mut self, this: Resource<Subscription>) -> wasmtime::Result<()> {
        self.sync_events.set_wait(WaitKey::Subscription(this.rep()), None);
        self.table().delete(this)?;
        Ok(())
    }
}

impl HostOperation for InstanceState {
    fn reply(&mut self, this: Resource<Operation>) -> wasmtime::Result<Option<Result<u64, SyncError>>> {
        let key = WaitKey::Operation(this.rep());
        let sim = self.sim.clone();
        let (events, waker, table, _) = self.sync_parts();
        let reply = match table.get_mut(&this)?.poll_reply(&mut sim.lock(), &mut Context::from_waker(waker)) {
            Poll::Ready(reply) => reply,
            Poll::Pending => return Ok(None),
        };
        events.set_wait(key, None);
        Ok(Some(reply))
    }

    fn subscribe(&mut self, this: Resource<Operation>) -> wasmtime::Result<Resource<DynPollable>> {
        let (_, _, table, pollables) = self.sync_parts();
        crate::wasi::io::subscribe(table, pollables, this)
    }

    fn drop(&mut self, this: Resource<Operation>) -> wasmtime::Result<()> {
        self.sync_events.set_wait(WaitKey::Operation(this.rep()), None);
        let operation = self.table().delete(this)?;
        if operation.reply.is_none() {
            operation.sim.lock().cancel_sync(operation.ticket);
        }
        Ok(())
    }
}

impl PollReady for Subscription {
    fn poll_ready(&mut self, sim: &mut Sim, cx: &mut Context<'_>) -> Poll<()> {
        sim.poll_topic(self.node, &self.topic, self.cursor, cx).map(|_| ())
    }
}

crate::pollable_via_poll_ready!(Subscription, this => this.sim);
