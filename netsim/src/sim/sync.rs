//! The instances' side of the sync service: operations submitted and
//! awaited, topics read and watched; and applying each operation when it
//! arrives at the service, which is where barriers release and topics grow.
//!
//! What states and topics hold is the [`SyncBackend`]'s; who waits, and when
//! they are woken, is decided here, so every backend gives the same events.

use super::WaitReason;
use super::{Sim, SimEvent};
use crate::LimitReached;
use crate::node::NodeId;
use crate::shard::CrossEvent;
use crate::sync::{self, BackendError, BarrierWaiter, SyncBackend, SyncError, SyncOp, Ticket};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

#[derive(Default)]
pub(super) struct PendingOp {
    reply: Option<Result<u64, SyncError>>,
    /// Everyone waiting for the reply: a plan may wait on an operation's
    /// pollable and on the control connection at once.
    wakers: Vec<Waker>,
    /// For signal-and-wait: the count its signal produced, returned on release.
    signalled: Option<u64>,
}

/// Adds `waker` to `wakers` unless a waker of the same task is there: a task
/// that polls again while it waits must not grow the list.
pub(super) fn register(wakers: &mut Vec<Waker>, waker: &Waker) {
    if !wakers.iter().any(|w| w.will_wake(waker)) {
        wakers.push(waker.clone());
    }
}

impl Sim {
    /// A reply reached the instance that asked: whoever waits for it is woken.
    pub(super) fn reply_arrived(&mut self, ticket: Ticket, reply: Result<u64, SyncError>) {
        if let Some(pending) = self.pending.get_mut(&ticket) {
            pending.reply = Some(reply);
            for waker in std::mem::take(&mut pending.wakers) {
                waker.wake();
            }
        }
    }

    /// Starts a sync operation for `node`; poll it with [`Sim::poll_sync`].
    pub fn submit_sync(&mut self, node: NodeId, op: SyncOp) -> Result<Ticket, SyncError> {
        match &op {
            SyncOp::SignalEntry { state } | SyncOp::Barrier { state, .. } | SyncOp::SignalAndWait { state, .. } => {
                sync::validate_name("state", state)?
            }
            SyncOp::Publish { topic, payload } => {
                sync::validate_name("topic", topic)?;
                if payload.len() > sync::MAX_PAYLOAD_BYTES {
                    return Err(SyncError::PayloadTooLarge(sync::MAX_PAYLOAD_BYTES as u64));
                }
            }
        }
        let counter = &mut self.next_ticket[node.index()];
        let ticket = Ticket { node, n: *counter };
        *counter += 1;
        self.pending.insert(ticket, PendingOp::default());
        let at = self.now + self.config.sync_latency;
        let key = self.queue.schedule(at, node, SimEvent::SyncArrive { ticket, op: op.clone() });
        if let Some(split) = &mut self.split {
            // Every shard keeps a replica of the sync service: it must see every operation.
            split.send(None, key, self.now, CrossEvent::Sync { ticket, op });
        }
        Ok(ticket)
    }

    /// Polls a sync operation: ready with its reply once the reply has arrived.
    pub fn poll_sync(&mut self, ticket: Ticket, cx: &mut Context<'_>) -> Poll<Result<u64, SyncError>> {
        let Some(pending) = self.pending.get_mut(&ticket) else {
            return Poll::Ready(Err(SyncError::Closed));
        };
        if let Some(reply) = pending.reply.take() {
            self.pending.remove(&ticket);
            return Poll::Ready(reply);
        }
        register(&mut pending.wakers, cx.waker());
        Poll::Pending
    }

    /// Forgets operation `ticket`: its caller no longer waits for the reply.
    /// The operation itself stands (a signal counts, a publish stays
    /// published), as a request already sent to a server does.
    pub fn cancel_sync(&mut self, ticket: Ticket) {
        self.pending.remove(&ticket);
    }

    /// The message at `cursor` of `topic` if it is visible now.
    pub fn topic_message(&mut self, topic: &str, cursor: usize) -> Option<Arc<[u8]>> {
        let visible_at = *self.topic_visible.get(topic)?.get(cursor)?;
        if visible_at > self.now {
            return None;
        }
        self.backend(|b| b.message(topic, cursor as u64)).flatten()
    }

    /// Polls for the message at `cursor` of `topic`, registering to be woken when
    /// one is published.
    pub fn poll_topic(&mut self, node: NodeId, topic: &str, cursor: usize, cx: &mut Context<'_>) -> Poll<Arc<[u8]>> {
        if let Some(payload) = self.topic_message(topic, cursor) {
            return Poll::Ready(payload);
        }
        self.add_wait(node, WaitReason::Subscription { topic: topic.to_string(), cursor });
        self.watch_topic(topic, cx.waker());
        Poll::Pending
    }

    /// Registers `waker` to be woken when `topic` next gets a visible message,
    /// without noting the instance as waiting: a plan that only looked for a
    /// message is not blocked on it.
    pub fn watch_topic(&mut self, topic: &str, waker: &Waker) {
        register(self.topic_waiters.entry(topic.to_string()).or_default(), waker);
    }

    /// What and where the sync backend is (e.g. `embedded`).
    pub fn sync_backend(&self) -> String {
        self.sync.describe()
    }

    /// Why the sync backend failed, if it has. Once it has, no sync operation
    /// completes any more and the executor ends the run.
    pub fn sync_failure(&self) -> Option<&str> {
        self.sync_failure.as_deref()
    }

    /// Releases what the sync backend holds for this run (keys in a server).
    /// Call once when the run has ended, whether or not it succeeded.
    pub fn close_sync(&mut self) -> Result<(), BackendError> {
        self.sync.close()
    }

    /// When sync states were signalled and barriers passed, in event order: an
    /// observation for reports that nothing in the simulation reads.
    pub fn state_timeline(&self) -> &sync::StateTimeline {
        &self.timeline
    }

    /// Takes the state timeline (see [`Sim::state_timeline`]).
    pub fn take_state_timeline(&mut self) -> Vec<sync::StateMark> {
        self.timeline.take()
    }

    /// Runs `f` on the backend unless it has already failed; records a failure.
    pub(super) fn backend<R>(&mut self, f: impl FnOnce(&mut dyn SyncBackend) -> Result<R, BackendError>) -> Option<R> {
        if self.sync_failure.is_some() {
            return None;
        }
        match f(self.sync.as_mut()) {
            Ok(r) => Some(r),
            Err(e) => {
                self.sync_failure = Some(e.0);
                None
            }
        }
    }

    pub(super) fn reply(&mut self, ticket: Ticket, reply: Result<u64, SyncError>) {
        let at = self.now + self.config.sync_latency;
        self.queue.schedule(at, NodeId::SIM, SimEvent::SyncReply { ticket, reply });
        // Until the reply arrives (and wakes it) the instance waits on it: a
        // run stopped meanwhile says so rather than finding it waiting on nothing.
        self.add_wait(ticket.node, WaitReason::SyncReply { due: at });
    }

    /// Whether `op` stays within the run's limits, counting it if it does. Checked
    /// as operations arrive, in the run's one order, on every shard alike.
    fn admit(&mut self, op: &SyncOp) -> Result<(), LimitReached> {
        let limits = self.config.limits;
        let (name, bytes) = match op {
            // A barrier with target 0 passes at once and keeps nothing.
            SyncOp::Barrier { target: 0, .. } => return Ok(()),
            SyncOp::SignalEntry { state } | SyncOp::Barrier { state, .. } | SyncOp::SignalAndWait { state, .. } => {
                (state, 0)
            }
            SyncOp::Publish { topic, payload } => (topic, payload.len() as u64),
        };
        let new_name = !self.sync_names.contains(name.as_str());
        if new_name && self.sync_names.len() as u64 >= limits.sync_names {
            return Err(LimitReached::SyncNames(limits.sync_names));
        }
        if self.topic_bytes.saturating_add(bytes) > limits.topic_bytes {
            return Err(LimitReached::TopicBytes(limits.topic_bytes));
        }
        self.topic_bytes += bytes;
        if new_name {
            self.sync_names.insert(name.clone());
        }
        Ok(())
    }

    pub(super) fn apply_sync(&mut self, ticket: Ticket, op: SyncOp) {
        let node = ticket.node;
        if let Err(limit) = self.admit(&op) {
            self.trace.record(self.now, node, "sync.refused", format_args!("{limit}"));
            self.reply(ticket, Err(SyncError::LimitReached(limit)));
            return;
        }
        match op {
            SyncOp::SignalEntry { state } => {
                let Some(seq) = self.signal(ticket, &state) else { return };
                self.reply(ticket, Ok(seq));
            }
            SyncOp::Barrier { state, target } => self.barrier(ticket, &state, target),
            SyncOp::SignalAndWait { state, target } => {
                let Some(seq) = self.signal(ticket, &state) else { return };
                if let Some(p) = self.pending.get_mut(&ticket) {
                    p.signalled = Some(seq);
                }
                self.barrier(ticket, &state, target);
            }
            SyncOp::Publish { topic, payload } => {
                let visible_at = self.now + self.config.sync_latency;
                let len = payload.len();
                let Some(seq) = self.backend(|b| b.append(ticket, &topic, &payload)) else { return };
                self.topic_visible.entry(topic.clone()).or_default().push(visible_at);
                self.trace.record(self.now, node, "sync.publish", format_args!("topic={topic:?} seq={seq} len={len}"));
                self.reply(ticket, Ok(seq));
                if visible_at == self.now {
                    self.wake_topic(&topic);
                } else {
                    self.queue.schedule(visible_at, NodeId::SIM, SimEvent::TopicVisible { topic });
                }
            }
        }
    }

    pub(super) fn signal(&mut self, ticket: Ticket, state: &str) -> Option<u64> {
        let node = ticket.node;
        let seq = self.backend(|b| b.increment(ticket, state))?;
        self.counts.insert(state.to_string(), seq);
        self.signallers.entry(state.to_string()).or_default().push(node);
        let released = self.barriers.release(state, seq);
        self.trace.record(self.now, node, "sync.signal", format_args!("state={state:?} seq={seq}"));
        self.timeline.signal(self.now, state, seq);
        for waiter in released {
            self.release(waiter.ticket, state, waiter.target);
        }
        Some(seq)
    }

    pub(super) fn barrier(&mut self, ticket: Ticket, state: &str, target: u64) {
        let node = ticket.node;
        // Target 0 passes without asking the backend: it cannot be unmet.
        let count = if target == 0 { Some(0) } else { self.backend(|b| b.count(state)) };
        let Some(count) = count else { return };
        if count >= target {
            self.release(ticket, state, target);
        } else {
            self.barriers.wait(state, BarrierWaiter { ticket, target });
            self.add_wait(node, WaitReason::Barrier { state: state.to_string(), target });
            self.trace.record(self.now, node, "sync.barrier.wait", format_args!("state={state:?} target={target}"));
        }
    }

    pub(super) fn release(&mut self, ticket: Ticket, state: &str, target: u64) {
        self.trace.record(self.now, ticket.node, "sync.barrier.pass", format_args!("state={state:?} target={target}"));
        // The barrier is passed: what the instance waits on now is the reply.
        self.forget_wait(ticket.node, |w| matches!(w, WaitReason::Barrier { state: s, .. } if s == state));
        self.timeline.barrier_pass(self.now, state);
        let seq = self.pending.get(&ticket).and_then(|p| p.signalled).unwrap_or(0);
        self.reply(ticket, Ok(seq));
    }

    pub(super) fn wake_topic(&mut self, topic: &str) {
        if let Some(waiters) = self.topic_waiters.remove(topic) {
            for waker in waiters {
                waker.wake();
            }
        }
    }
}
