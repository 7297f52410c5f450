//! The simulated world of one run: the virtual clock, the event queue, the sync
//! service, the data network and the trace, behind one lock.
//!
//! [`Sim`] is where host calls become events. A caller that must wait (a
//! sleep, a barrier, a subscription) registers its [`Waker`] with the `Sim` and
//! is woken when the event it waits for is processed; [`Sim::step`] processes
//! the next event and moves the clock to it. The `Sim` does not run tasks (the
//! [`crate::Executor`] does) and does not know about wasm.
//!
//! This file holds the world and its clock; the rest of its behaviour is in
//! one file per job:
//!
//! - `sync`: the instances' side of the sync service — operations submitted
//!   and awaited, topics watched — and applying operations as they arrive;
//! - `split`: being one shard of a split run (windows, events for other shards);
//! - `faults`: partitions, clogs, crashes and restarts from a fault timeline;
//! - `stall`: whether nothing pending can make an instance run again;
//! - `wait`: what blocked instances wait on, for deadlock and timeout reports.

mod cell;
mod faults;
mod split;
mod stall;
mod status;
mod sync;
mod wait;

pub use cell::{SimGuard, SimLease};
pub use status::RunStatus;
pub use wait::{BlockedInstance, MAX_WAITING_FOR, WaitReason};

use crate::event::{EventId, EventKey, EventQueue};
use crate::fault::{Fault, InstanceControl};
use crate::net::{NetCtx, NetEvent, Network, NetworkConfig};
use crate::node::NodeId;
use crate::sync::{BarrierWaiters, SyncBackend, SyncError, SyncOp, SyncService, Ticket};
use crate::time::SimTime;
use crate::trace::{Cause, Trace};
use cell::SimCell;
use split::{Router, Split};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Duration;
use sync::PendingOp;

/// How a run's simulation is set up.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Number of instances (nodes `0..instances`).
    pub instances: u32,
    /// One-way latency between an instance and the sync service. Testground's
    /// service answered in milliseconds; the default of zero makes sync free so
    /// that plans measure their own protocol, not the coordinator.
    pub sync_latency: Duration,
    /// Keep every trace record (for `--trace`), not only the digest.
    pub keep_trace: bool,
    /// The run's seed; the network's random streams derive from it.
    pub seed: u64,
    /// Every instance's network configuration at the start of the run.
    pub net: NetworkConfig,
    /// How much the plans may make the simulation hold.
    pub limits: crate::Limits,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            instances: 1,
            sync_latency: Duration::ZERO,
            keep_trace: false,
            seed: 0,
            net: NetworkConfig::default(),
            limits: crate::Limits::default(),
        }
    }
}

enum SimEvent {
    Wake { node: NodeId, waker: Waker },
    SyncArrive { ticket: Ticket, op: SyncOp },
    SyncReply { ticket: Ticket, reply: Result<u64, SyncError> },
    TopicVisible { topic: String },
    Net(NetEvent),
    Fault(Fault),
}

// An event is moved into and out of the queue as its packet is, and for the
// same reason no bigger than one (see `net::packet::MAX_PACKET_SIZE`).
const _: () =
    assert!(std::mem::size_of::<SimEvent>() <= crate::net::packet::MAX_PACKET_SIZE, "an event outgrew MAX_PACKET_SIZE");

impl From<NetEvent> for SimEvent {
    fn from(event: NetEvent) -> SimEvent {
        SimEvent::Net(event)
    }
}

impl SimEvent {
    /// Whether every shard of a split run processes this event: the sync
    /// service and fault timelines are replicated, everything else belongs to
    /// the one shard hosting its instance.
    fn replicated(&self) -> bool {
        matches!(
            self,
            SimEvent::SyncArrive { .. }
                | SimEvent::SyncReply { .. }
                | SimEvent::TopicVisible { .. }
                | SimEvent::Fault(_)
        )
    }
}

/// The simulated world of one run.
pub struct Sim {
    config: SimConfig,
    now: SimTime,
    queue: EventQueue<SimEvent>,
    sync: Box<dyn SyncBackend>,
    /// Barriers waiting on states; kept here, not in the backend, because who
    /// waits decides who is woken and when.
    barriers: BarrierWaiters,
    /// Each state's count as last seen, for describing waits: reports must not
    /// depend on reaching the backend, which may be what failed.
    counts: BTreeMap<String, u64>,
    /// Who signalled each state, in signal order: for saying whom a blocked
    /// instance waits for. An observation, like the state timeline: nothing
    /// in the simulation reads it.
    signallers: BTreeMap<String, Vec<NodeId>>,
    /// When each published message of each topic becomes visible, by position.
    /// Every publish passes through this Sim, so a subscriber polling past the
    /// end is answered here without asking the backend.
    topic_visible: BTreeMap<String, Vec<SimTime>>,
    /// Why the sync backend failed, once it has: the run cannot go on.
    sync_failure: Option<String>,
    pending: BTreeMap<Ticket, PendingOp>,
    next_ticket: Vec<u64>,
    topic_waiters: BTreeMap<String, Vec<Waker>>,
    waits: Vec<Vec<WaitReason>>,
    trace: Trace,
    events_processed: u64,
    net: Network,
    timeline: crate::sync::StateTimeline,
    /// Crashes and restarts processed but not yet carried out by the executor.
    controls: Vec<(NodeId, InstanceControl)>,
    /// Restarts scheduled for later: while any is pending, a run with no live
    /// instance is not over.
    restarts_pending: usize,
    /// The last address move each of this shard's instances asked for, until
    /// it hears how it went (see [`Sim::poll_address_move`]).
    address_moves: BTreeMap<NodeId, faults::AddressMove>,
    /// Address moves asked for on this shard so far, which numbers them.
    address_move_requests: u64,
    /// The key of the event being processed; `None` before the first.
    cause: Cause,
    /// Set when this world is one shard of a split run.
    split: Option<Split>,
    /// Payload bytes published so far, against [`crate::Limits::topic_bytes`].
    topic_bytes: u64,
    /// Every state and topic name used so far, against [`crate::Limits::sync_names`].
    sync_names: std::collections::BTreeSet<String>,
    /// Progress published for other threads (see [`status`]).
    status: Arc<RunStatus>,
    /// How many state marks `status` has seen.
    status_marks: usize,
}

/// A [`Sim`] shared between the executor and the host calls of every instance.
///
/// The run is single-threaded; the lock is there because wasmtime requires
/// store data to be `Send`, and is never contended.
/// A [`Sim`] shared between the executor and the host calls of every instance.
///
/// A run is driven by one thread; the lock is there because wasmtime
/// requires store data to be `Send`, and costs nothing while that thread
/// drives (see [`cell`]).
#[derive(Clone)]
pub struct SimHandle(Arc<SimCell>);

impl SimHandle {
    /// Wraps a new simulation.
    pub fn new(sim: Sim) -> SimHandle {
        SimHandle(Arc::new(SimCell::new(sim)))
    }

    /// Locks the simulation. Never hold the guard across an `.await`.
    ///
    /// # Panics
    /// On the thread driving the run, if it already holds a guard (with
    /// an ordinary mutex, that would be a deadlock).
    #[inline]
    pub fn lock(&self) -> SimGuard<'_> {
        self.0.lock()
    }

    /// Holds the lock for the calling thread until the lease drops: what
    /// the executor does while it drives the run, so that the locks taken
    /// meanwhile on its thread are free. Other threads wait for it to end.
    pub fn hold(&self) -> SimLease<'_> {
        self.0.hold()
    }

    /// Waits `d` of virtual time on behalf of `node`: the task is woken by a
    /// timer event, and costs nothing while it waits. Dropping the future
    /// before then cancels the timer.
    pub async fn sleep(&self, node: NodeId, d: Duration) {
        /// Cancels the sleep's timer if the sleep ends before it fires.
        struct Pending<'a> {
            sim: &'a SimHandle,
            timer: Option<TimerId>,
        }
        impl Drop for Pending<'_> {
            fn drop(&mut self) {
                if let Some(timer) = self.timer.take() {
                    self.sim.lock().cancel_timer(timer);
                }
            }
        }
        let until = self.lock().now() + d;
        let mut pending = Pending { sim: self, timer: None };
        std::future::poll_fn(|cx| {
            let mut s = self.lock();
            if s.now() >= until {
                // Fired: nothing is left to cancel.
                pending.timer = None;
                return Poll::Ready(());
            }
            // One timer per sleep: the task's waker does not change between polls.
            if pending.timer.is_none() {
                pending.timer = Some(s.wake_at(node, until, cx.waker().clone()));
            }
            Poll::Pending
        })
        .await
    }
}

/// A timer set with [`Sim::wake_at`], to cancel it with [`Sim::cancel_timer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerId(EventId);

impl Sim {
    /// A world at time zero with no events, with the embedded sync service.
    pub fn new(config: SimConfig) -> Sim {
        Sim::with_sync_backend(config, Box::new(SyncService::new()))
    }

    /// A world at time zero with no events whose sync states and topics are
    /// kept by `backend`. The run's events, and so its digest, do not depend on
    /// which backend it is.
    pub fn with_sync_backend(config: SimConfig, backend: Box<dyn SyncBackend>) -> Sim {
        let n = config.instances as usize;
        let mut net = Network::new(config.instances, config.seed, &config.net);
        net.set_socket_limit(config.limits.sockets_per_node);
        Sim {
            net,
            trace: Trace::new(config.keep_trace),
            config,
            now: SimTime::ZERO,
            queue: EventQueue::new(),
            sync: backend,
            barriers: BarrierWaiters::default(),
            counts: BTreeMap::new(),
            signallers: BTreeMap::new(),
            topic_visible: BTreeMap::new(),
            sync_failure: None,
            pending: BTreeMap::new(),
            next_ticket: vec![0; n],
            topic_waiters: BTreeMap::new(),
            waits: vec![Vec::new(); n],
            events_processed: 0,
            timeline: crate::sync::StateTimeline::default(),
            controls: Vec::new(),
            restarts_pending: 0,
            address_moves: BTreeMap::new(),
            address_move_requests: 0,
            cause: None,
            split: None,
            topic_bytes: 0,
            sync_names: std::collections::BTreeSet::new(),
            status: Arc::default(),
            status_marks: 0,
        }
    }

    /// The key of the event being processed, `None` before the first: what a
    /// record made now, or an instance ending now, follows from.
    pub fn cause(&self) -> Cause {
        self.cause
    }

    /// The configuration the world was built with.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// The current virtual time.
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// How many events have been processed.
    pub fn events_processed(&self) -> u64 {
        self.events_processed
    }

    /// The trace of the run so far.
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// The trace, for taking records out at the end of a run.
    pub fn trace_mut(&mut self) -> &mut Trace {
        &mut self.trace
    }

    /// Records an event that happened now on behalf of `node`.
    pub fn record(&mut self, node: NodeId, kind: &str, detail: fmt::Arguments<'_>) {
        let now = self.now;
        self.trace.record(now, node, kind, detail);
    }

    /// The data network, for inspection (addresses, configuration, totals).
    pub fn net(&self) -> &Network {
        &self.net
    }

    /// The data network, for operations that need no clock: `poll_*` waker
    /// registration, socket creation, binding, listening, accepting.
    pub fn net_mut(&mut self) -> &mut Network {
        &mut self.net
    }

    /// Runs `f` on the data network with a context at the current time that
    /// schedules into this world's queue and records into its trace: the way to
    /// call operations that send (connect, write, read, send, configure, close).
    pub fn with_net<R>(&mut self, f: impl FnOnce(&mut Network, &mut NetCtx<'_>) -> R) -> R {
        let mut router = Router { queue: &mut self.queue, split: self.split.as_mut(), now: self.now };
        let mut cx = NetCtx::new(self.now, &mut router, &mut self.trace);
        f(&mut self.net, &mut cx)
    }

    /// Wakes `waker` at `at` (or at once if `at` is not in the future); `node` is
    /// the instance the timer belongs to. Cancel the timer when nobody waits
    /// for it any more ([`Sim::cancel_timer`]): it then never becomes an event.
    pub fn wake_at(&mut self, node: NodeId, at: SimTime, waker: Waker) -> TimerId {
        let at = at.max(self.now);
        TimerId(self.queue.schedule_cancellable(at, node, SimEvent::Wake { node, waker }))
    }

    /// Takes back a timer of [`Sim::wake_at`] that has not fired: no event, no
    /// trace record, no wake. A timer that already fired is left alone.
    pub fn cancel_timer(&mut self, timer: TimerId) {
        self.queue.cancel(timer.0);
    }

    /// The time of the next event, if any.
    pub fn next_event_time(&self) -> Option<SimTime> {
        self.queue.peek_key().map(|k| k.time)
    }

    /// Processes the next event, moving the clock to it. Returns its key, or
    /// `None` if nothing is scheduled.
    pub fn step(&mut self) -> Option<EventKey> {
        let (key, event) = self.queue.pop()?;
        // Checked in every build: an event in the past would make a wrong
        // trace without a word.
        assert!(key.time >= self.now, "time went backwards");
        self.now = key.time;
        self.cause = Some(key);
        self.trace.set_cause(self.cause);
        match &mut self.split {
            None => self.events_processed += 1,
            Some(split) => split.count(key, event.replicated()),
        }
        // What the next events will touch, asked for now so that this one's
        // work hides the wait (their slots were fetched at earlier pops): the
        // host of the event after next, and the socket of the next, found
        // through its host, asked for at the last step.
        if let Some(SimEvent::Net(later)) = self.queue.peek_later()
            && let Some(node) = later.destination()
        {
            self.net.prefetch_arrival(node);
        }
        if let Some(SimEvent::Net(next)) = self.queue.peek()
            && let Some(node) = next.destination()
        {
            self.net.prefetch_receiver(next);
            self.trace.prefetch_chain(node);
        }
        match event {
            SimEvent::Wake { node, waker } => {
                self.trace.record(self.now, node, "timer", format_args!(""));
                waker.wake();
            }
            SimEvent::SyncArrive { ticket, op } => self.apply_sync(ticket, op),
            SimEvent::SyncReply { ticket, reply } => self.reply_arrived(ticket, reply),
            SimEvent::TopicVisible { topic } => self.wake_topic(&topic),
            SimEvent::Net(event) => self.with_net(|net, cx| net.handle(cx, event)),
            SimEvent::Fault(fault) => self.apply_fault(fault),
        }
        Some(key)
    }
}
