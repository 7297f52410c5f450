//! The simulated world of one run: the virtual clock, the event queue, the sync
//! service, the data network and the trace, behind one lock.
//!
//! [`Sim`] is where host calls become events. A caller that must wait (a
//! sleep, a barrier, a subscription) registers its [`Waker`] with the `Sim` and
//! is woken when the event it waits for is processed; [`Sim::step`] processes
//! the next event and moves the clock to it. The `Sim` does not run tasks (the
//! [`crate::Executor`] does) and does not know about wasm.

use crate::event::{EventKey, EventQueue};
use crate::fault::{Fault, InstanceControl, PathAction};
use crate::net::{Filter, NetCtx, NetEvent, NetScheduler, Network, NetworkConfig, SocketId};
use crate::node::NodeId;
use crate::shard::{CrossEvent, Envelope, ShardLayout};
use crate::sync::{self, BackendError, BarrierWaiter, BarrierWaiters, SyncBackend, SyncError, SyncService, Ticket};
use crate::time::SimTime;
use crate::trace::{Cause, Trace, TraceScope};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

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
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            instances: 1,
            sync_latency: Duration::ZERO,
            keep_trace: false,
            seed: 0,
            net: NetworkConfig::default(),
        }
    }
}

/// An operation on the sync service.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum SyncOp {
    /// Increment a state; replies with the new count.
    SignalEntry { state: String },
    /// Wait until a state reaches `target`; replies with 0.
    Barrier { state: String, target: u64 },
    /// Increment, then wait; replies with the count the increment produced.
    SignalAndWait { state: String, target: u64 },
    /// Append to a topic; replies with the message's 1-based position.
    Publish { topic: String, payload: Arc<[u8]> },
}

/// What a blocked instance waits on, for deadlock and timeout reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WaitReason {
    /// A barrier on a sync state.
    Barrier { state: String, target: u64 },
    /// The next message of a subscription.
    Subscription { topic: String, cursor: usize },
    /// A timer.
    Timer { until: SimTime },
    /// A condition of a socket, e.g. `what` = "tcp read". Described only when
    /// a report needs it: instances note their waits on every poll, and one
    /// with a thousand idle connections notes a thousand.
    Socket { id: SocketId, what: &'static str },
    /// Anything else, described in words.
    Other(String),
}

enum SimEvent {
    Wake { node: NodeId, waker: Waker },
    SyncArrive { ticket: Ticket, op: SyncOp },
    SyncReply { ticket: Ticket, reply: Result<u64, SyncError> },
    TopicVisible { topic: String },
    Net(NetEvent),
    Fault(Fault),
}

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

/// What a shard of a split run keeps besides a whole run's state.
struct Split {
    layout: ShardLayout,
    /// The current window's end: nothing sent to another shard may arrive before it.
    window_end: SimTime,
    /// Events for other shards, with their destination (`None`: every other shard).
    outgoing: Vec<(Option<u32>, Envelope)>,
    /// Why the run cannot stay equal to the whole run, once it cannot.
    violation: Option<String>,
    /// Keys of the current window's events that count toward [`Sim::events_processed`].
    window_events: Vec<EventKey>,
}

impl Split {
    fn send(&mut self, to: Option<u32>, key: EventKey, now: SimTime, event: CrossEvent) {
        if key.time < self.window_end && self.violation.is_none() {
            let what = match &event {
                CrossEvent::Packet(p) => format!("a packet from instance {} to instance {}", p.src_node, p.dst_node),
                CrossEvent::Sync { ticket, .. } => format!("a sync operation of instance {}", ticket.node),
            };
            self.violation = Some(format!(
                "{what}, on another worker, was sent at {now} to arrive {:?} later, sooner than the window \
                 of a split run allows (it ends at {}); give every link at least the lookahead's latency, or \
                 lower --lookahead",
                key.time.duration_since(now),
                self.window_end
            ));
        }
        self.outgoing.push((to, Envelope { key, event }));
    }
}

/// Where the network's events go: this shard's queue, or, for a packet to an
/// instance of another shard, that shard's.
struct Router<'a> {
    queue: &'a mut EventQueue<SimEvent>,
    split: Option<&'a mut Split>,
    now: SimTime,
}

impl NetScheduler for Router<'_> {
    fn schedule_net(&mut self, at: SimTime, source: NodeId, event: NetEvent) {
        if let Some(split) = self.split.as_deref_mut()
            && let Some(dst) = event.destination()
            && dst.0 < split.layout.instances()
            && !split.layout.is_local(dst)
        {
            let key = self.queue.allocate_key(at, source);
            if let Ok(packet) = event.into_packet() {
                split.send(Some(split.layout.owner(dst)), key, self.now, CrossEvent::Packet(packet));
            }
            return;
        }
        self.queue.schedule_net(at, source, event);
    }
}

#[derive(Default)]
struct PendingOp {
    reply: Option<Result<u64, SyncError>>,
    /// Everyone waiting for the reply: a plan may wait on an operation's
    /// pollable and on the control connection at once.
    wakers: Vec<Waker>,
    /// For signal-and-wait: the count its signal produced, returned on release.
    signalled: Option<u64>,
}

/// Adds `waker` to `wakers` unless a waker of the same task is there: a task
/// that polls again while it waits must not grow the list.
fn register(wakers: &mut Vec<Waker>, waker: &Waker) {
    if !wakers.iter().any(|w| w.will_wake(waker)) {
        wakers.push(waker.clone());
    }
}

/// One instance blocked at the end of a run, and on what.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BlockedInstance {
    /// The instance.
    pub node: NodeId,
    /// What it waits on, described with the current state (e.g. `barrier "x": 3/5 arrived`).
    pub waits_on: Vec<String>,
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
    timeline: sync::StateTimeline,
    /// Crashes and restarts processed but not yet carried out by the executor.
    controls: Vec<(NodeId, InstanceControl)>,
    /// Restarts scheduled for later: while any is pending, a run with no live
    /// instance is not over.
    restarts_pending: usize,
    /// The key of the event being processed; `None` before the first.
    cause: Cause,
    /// Set when this world is one shard of a split run.
    split: Option<Split>,
}

/// A [`Sim`] shared between the executor and the host calls of every instance.
///
/// The run is single-threaded; the lock is there because wasmtime requires
/// store data to be `Send`, and is never contended.
#[derive(Clone)]
pub struct SimHandle(Arc<Mutex<Sim>>);

impl SimHandle {
    /// Wraps a new simulation.
    pub fn new(sim: Sim) -> SimHandle {
        SimHandle(Arc::new(Mutex::new(sim)))
    }

    /// Locks the simulation. Never hold the guard across an `.await`.
    pub fn lock(&self) -> MutexGuard<'_, Sim> {
        // A poisoned lock means a host bug already panicked; the state is still usable for reporting.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits `d` of virtual time on behalf of `node`: the task is woken by a
    /// timer event, and costs nothing while it waits.
    pub async fn sleep(&self, node: NodeId, d: Duration) {
        let until = self.lock().now() + d;
        std::future::poll_fn(|cx| {
            let mut s = self.lock();
            if s.now() >= until {
                return Poll::Ready(());
            }
            s.wake_at(node, until, cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}

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
        Sim {
            net: Network::new(config.instances, config.seed, &config.net),
            trace: Trace::new(config.keep_trace),
            config,
            now: SimTime::ZERO,
            queue: EventQueue::new(),
            sync: backend,
            barriers: BarrierWaiters::default(),
            counts: BTreeMap::new(),
            topic_visible: BTreeMap::new(),
            sync_failure: None,
            pending: BTreeMap::new(),
            next_ticket: vec![0; n],
            topic_waiters: BTreeMap::new(),
            waits: vec![Vec::new(); n],
            events_processed: 0,
            timeline: sync::StateTimeline::default(),
            controls: Vec::new(),
            restarts_pending: 0,
            cause: None,
            split: None,
        }
    }

    /// Makes this world the shard `layout` of a split run (see [`crate::shard`]):
    /// it hosts only `layout`'s instances, sends what they do to the others
    /// through [`Sim::take_outgoing`], and keeps the sync service as a replica.
    /// Call before anything happens in the world.
    ///
    /// # Panics
    /// If the layout is not for this run's instance count, or events were already processed.
    pub fn split(&mut self, layout: ShardLayout) {
        assert_eq!(layout.instances(), self.config.instances, "the layout is for another run");
        assert_eq!(self.events_processed, 0, "a world is split before it runs");
        let scope = TraceScope { nodes: layout.nodes(), sim: layout.index() == 0 };
        self.trace = Trace::scoped(self.config.keep_trace, scope);
        self.trace.hold_windows();
        self.split = Some(Split {
            layout,
            window_end: SimTime::ZERO,
            outgoing: Vec::new(),
            violation: None,
            window_events: Vec::new(),
        });
    }

    /// The shard this world is, if the run is split.
    pub fn layout(&self) -> Option<ShardLayout> {
        self.split.as_ref().map(|s| s.layout)
    }

    /// Whether this world hosts `node` (every node, unless the run is split).
    pub fn is_local(&self, node: NodeId) -> bool {
        self.split.as_ref().is_none_or(|s| s.layout.is_local(node))
    }

    /// The key of the event being processed, `None` before the first: what a
    /// record made now, or an instance ending now, follows from.
    pub fn cause(&self) -> Cause {
        self.cause
    }

    /// Starts a window of a split run that ends at `end` (exclusive).
    pub fn set_window_end(&mut self, end: SimTime) {
        if let Some(split) = &mut self.split {
            split.window_end = end;
        }
    }

    /// The events this shard scheduled for others since the last call, by
    /// destination shard (this shard's own entry stays empty).
    pub fn take_outgoing(&mut self) -> Vec<Vec<Envelope>> {
        let Some(split) = &mut self.split else { return Vec::new() };
        let count = split.layout.count() as usize;
        let me = split.layout.index() as usize;
        let mut by_shard = vec![Vec::new(); count];
        for (to, envelope) in split.outgoing.drain(..) {
            match to {
                Some(to) => by_shard[to as usize].push(envelope),
                None => {
                    for (shard, events) in by_shard.iter_mut().enumerate() {
                        if shard != me {
                            events.push(envelope.clone());
                        }
                    }
                }
            }
        }
        by_shard
    }

    /// Why this shard can no longer equal the whole run, if it cannot.
    pub fn split_violation(&self) -> Option<&str> {
        self.split.as_ref().and_then(|s| s.violation.as_deref())
    }

    /// Files an event another shard scheduled for this one, under its key.
    pub fn deliver(&mut self, envelope: Envelope) {
        let event = match envelope.event {
            CrossEvent::Packet(packet) => SimEvent::Net(NetEvent::arrival(packet)),
            CrossEvent::Sync { ticket, op } => SimEvent::SyncArrive { ticket, op },
        };
        self.queue.insert(envelope.key, event);
    }

    /// Ends a window of a split run: its records and events count, except
    /// those caused after `upto` when the run ended at `upto` (`None`: the
    /// run goes on, everything counts).
    pub fn commit_window(&mut self, upto: Option<Cause>) {
        self.trace.commit(upto);
        if let Some(split) = &mut self.split {
            let counted = split.window_events.iter().take_while(|&&k| upto.is_none_or(|end| Some(k) <= end)).count();
            self.events_processed += counted as u64;
            split.window_events.clear();
        }
    }

    /// Sets the clock to `at`, where the whole run stopped: a shard may have
    /// gone past it, or not reached it, within the last window.
    pub fn settle_clock(&mut self, at: SimTime) {
        self.now = at;
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

    /// Runs `f` on the backend unless it has already failed; records a failure.
    fn backend<R>(&mut self, f: impl FnOnce(&mut dyn SyncBackend) -> Result<R, BackendError>) -> Option<R> {
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

    /// Wakes `waker` at `at` (or at once if `at` is not in the future); `node` is
    /// the instance the timer belongs to.
    pub fn wake_at(&mut self, node: NodeId, at: SimTime, waker: Waker) {
        let at = at.max(self.now);
        self.queue.schedule(at, node, SimEvent::Wake { node, waker });
    }

    /// Notes that `node` is blocked on `reason` until it is next polled. A
    /// reason noted twice is reported once; finding it costs only the report.
    pub fn add_wait(&mut self, node: NodeId, reason: WaitReason) {
        if let Some(w) = self.waits.get_mut(node.index()) {
            w.push(reason);
        }
    }

    /// Forgets what `node` waited on (it is being polled again).
    pub fn clear_waits(&mut self, node: NodeId) {
        if let Some(w) = self.waits.get_mut(node.index()) {
            w.clear();
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

    /// The time of the next event, if any.
    pub fn next_event_time(&self) -> Option<SimTime> {
        self.queue.peek_key().map(|k| k.time)
    }

    /// Processes the next event, moving the clock to it. Returns its key, or
    /// `None` if nothing is scheduled.
    pub fn step(&mut self) -> Option<EventKey> {
        let (key, event) = self.queue.pop()?;
        debug_assert!(key.time >= self.now, "time went backwards");
        self.now = key.time;
        self.cause = Some(key);
        self.trace.set_cause(self.cause);
        match &mut self.split {
            None => self.events_processed += 1,
            // A replicated event happens on every shard; it counts once, on shard 0.
            Some(split) if !event.replicated() || split.layout.index() == 0 => split.window_events.push(key),
            Some(_) => {}
        }
        match event {
            SimEvent::Wake { node, waker } => {
                self.trace.record(self.now, node, "timer", format_args!(""));
                waker.wake();
            }
            SimEvent::SyncArrive { ticket, op } => self.apply_sync(ticket, op),
            SimEvent::SyncReply { ticket, reply } => {
                if let Some(pending) = self.pending.get_mut(&ticket) {
                    pending.reply = Some(reply);
                    for waker in std::mem::take(&mut pending.wakers) {
                        waker.wake();
                    }
                }
            }
            SimEvent::TopicVisible { topic } => self.wake_topic(&topic),
            SimEvent::Net(event) => self.with_net(|net, cx| net.handle(cx, event)),
            SimEvent::Fault(fault) => self.apply_fault(fault),
        }
        Some(key)
    }

    /// Schedules `fault` at virtual time `at`.
    pub fn schedule_fault(&mut self, at: SimTime, fault: Fault) {
        if let Fault::Restart(nodes) = &fault {
            self.restarts_pending += nodes.len();
        }
        self.queue.schedule(at, NodeId::SIM, SimEvent::Fault(fault));
    }

    /// Crashes and restarts the executor must carry out now, in order.
    pub fn take_controls(&mut self) -> Vec<(NodeId, InstanceControl)> {
        std::mem::take(&mut self.controls)
    }

    /// Whether a restart is still scheduled, so the run must go on even with no instance running.
    pub fn restarts_pending(&self) -> bool {
        self.restarts_pending > 0
    }

    fn apply_fault(&mut self, fault: Fault) {
        self.trace.record(self.now, NodeId::SIM, "fault", format_args!("{fault}"));
        match fault {
            Fault::Paths { action, from, to, both_ways } => {
                let mut router = Router { queue: &mut self.queue, split: self.split.as_mut(), now: self.now };
                let mut cx = NetCtx::new(self.now, &mut router, &mut self.trace);
                for &a in &from {
                    for &b in &to {
                        let pairs = [(a, b), (b, a)];
                        for &(src, dst) in &pairs[..if both_ways { 2 } else { 1 }] {
                            match action {
                                PathAction::Partition => self.net.set_path_filter(src, dst, Some(Filter::Drop)),
                                PathAction::Heal => self.net.set_path_filter(src, dst, None),
                                PathAction::Clog => self.net.set_clog(&mut cx, src, dst, true),
                                PathAction::Release => self.net.set_clog(&mut cx, src, dst, false),
                            }
                        }
                    }
                }
            }
            Fault::Crash(nodes) => {
                let local: Vec<NodeId> = nodes.into_iter().filter(|&n| self.is_local(n)).collect();
                for node in local {
                    self.with_net(|net, cx| net.crash_node(cx, node));
                    self.controls.push((node, InstanceControl::Crash));
                }
            }
            Fault::Restart(nodes) => {
                self.restarts_pending -= nodes.len();
                let local: Vec<NodeId> = nodes.into_iter().filter(|&n| self.is_local(n)).collect();
                self.controls.extend(local.into_iter().map(|n| (n, InstanceControl::Restart)));
            }
        }
    }

    fn reply(&mut self, ticket: Ticket, reply: Result<u64, SyncError>) {
        let at = self.now + self.config.sync_latency;
        self.queue.schedule(at, NodeId::SIM, SimEvent::SyncReply { ticket, reply });
    }

    fn apply_sync(&mut self, ticket: Ticket, op: SyncOp) {
        let node = ticket.node;
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

    fn signal(&mut self, ticket: Ticket, state: &str) -> Option<u64> {
        let node = ticket.node;
        let seq = self.backend(|b| b.increment(ticket, state))?;
        self.counts.insert(state.to_string(), seq);
        let released = self.barriers.release(state, seq);
        self.trace.record(self.now, node, "sync.signal", format_args!("state={state:?} seq={seq}"));
        self.timeline.signal(self.now, state, seq);
        for waiter in released {
            self.release(waiter.ticket, state, waiter.target);
        }
        Some(seq)
    }

    fn barrier(&mut self, ticket: Ticket, state: &str, target: u64) {
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

    fn release(&mut self, ticket: Ticket, state: &str, target: u64) {
        self.trace.record(self.now, ticket.node, "sync.barrier.pass", format_args!("state={state:?} target={target}"));
        self.timeline.barrier_pass(self.now, state);
        let seq = self.pending.get(&ticket).and_then(|p| p.signalled).unwrap_or(0);
        self.reply(ticket, Ok(seq));
    }

    fn wake_topic(&mut self, topic: &str) {
        if let Some(waiters) = self.topic_waiters.remove(topic) {
            for waker in waiters {
                waker.wake();
            }
        }
    }

    /// What each of `nodes` waits on, described with the current sync state.
    pub fn blocked(&self, nodes: &[NodeId]) -> Vec<BlockedInstance> {
        nodes
            .iter()
            .map(|&node| {
                let mut waits_on: Vec<String> = Vec::new();
                for reason in self.waits.get(node.index()).into_iter().flatten() {
                    let described = self.describe_wait(reason);
                    if !waits_on.contains(&described) {
                        waits_on.push(described);
                    }
                }
                BlockedInstance { node, waits_on }
            })
            .collect()
    }

    fn describe_wait(&self, reason: &WaitReason) -> String {
        match reason {
            WaitReason::Barrier { state, target } => {
                format!("barrier {state:?}: {}/{target} arrived", self.counts.get(state).copied().unwrap_or(0))
            }
            WaitReason::Subscription { topic, cursor } => {
                let published = self.topic_visible.get(topic).map_or(0, Vec::len);
                format!("subscription {topic:?}: waiting for message {} ({published} published)", cursor + 1)
            }
            WaitReason::Timer { until } => format!("timer until {until}"),
            WaitReason::Socket { id, what } => format!("{what} on socket {id}"),
            WaitReason::Other(what) => what.clone(),
        }
    }
}
