//! `tg:plan/sync`: barriers, signals and topics, as netsim sync operations.
//!
//! Each call becomes a [`SyncOp`] submitted to the instance's [`netsim::Sim`];
//! the call's future completes when the reply event arrives, which suspends
//! only the calling instance. A [`Subscription`] is a cursor into a topic's log;
//! it is also a `wasi:io` pollable so a plan can wait on it and a socket at once.

use crate::bindings::sync::{Host, HostSubscription, SyncError};
use crate::instance::InstanceState;
use netsim::{NodeId, SimHandle, SyncOp, WaitReason};
use std::future::poll_fn;
use std::sync::Arc;
use wasmtime::component::Resource;
use wasmtime_wasi_io::poll::{DynPollable, Pollable, subscribe};

/// A reader over one topic, from its first message.
pub struct Subscription {
    node: NodeId,
    sim: SimHandle,
    topic: String,
    cursor: usize,
}

impl From<netsim::SyncError> for SyncError {
    fn from(e: netsim::SyncError) -> SyncError {
        match e {
            netsim::SyncError::InvalidArgument(why) => SyncError::InvalidArgument(why),
            netsim::SyncError::PayloadTooLarge(limit) => SyncError::PayloadTooLarge(limit),
            netsim::SyncError::Closed => SyncError::Closed,
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

    fn try_next(&mut self, this: Resource<Subscription>) -> wasmtime::Result<Option<Vec<u8>>> {
        let sub = self.table().get_mut(&this)?;
        let message = sub.sim.lock().topic_message(&sub.topic, sub.cursor);
        if message.is_some() {
            sub.cursor += 1;
        }
        Ok(message.map(|p| p.to_vec()))
    }

    fn subscribe(&mut self, this: Resource<Subscription>) -> wasmtime::Result<Resource<DynPollable>> {
        subscribe(self.table(), this)
    }

    fn drop(&mut self, this: Resource<Subscription>) -> wasmtime::Result<()> {
        self.table().delete(this)?;
        Ok(())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Subscription {
    async fn ready(&mut self) {
        let (node, sim, topic, cursor) = (self.node, &self.sim, &self.topic, self.cursor);
        poll_fn(|cx| sim.lock().poll_topic(node, topic, cursor, cx).map(|_| ())).await
    }
}
