//! What shards tell each other at the end of every window.

use crate::event::EventKey;
use crate::fault::Fault;
use crate::net::packet::Packet;
use crate::sync::SyncOp;
use crate::sync::Ticket;
use crate::time::SimTime;
use crate::trace::Cause;

/// An event one shard schedules for another.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum CrossEvent {
    /// A packet arriving at an instance of the receiving shard.
    Packet(Packet),
    /// A sync operation arriving at the (replicated) sync service.
    Sync {
        /// The operation's ticket, naming the instance that made it.
        ticket: Ticket,
        /// The operation.
        op: SyncOp,
    },
    /// A fault an instance asked for, applied on every shard ([`crate::Sim::request_fault`]).
    Fault(Fault),
}

/// A [`CrossEvent`] with its place in the run's order.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Envelope {
    /// The key the sending shard gave it.
    pub key: EventKey,
    /// The event.
    pub event: CrossEvent,
}

/// Why a shard wants the run to stop now, whatever the others say.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ShardStop {
    /// Its wall-clock limit passed.
    WallTimeout,
    /// It was interrupted (Ctrl-C).
    Interrupted,
    /// Its process went over its memory budget.
    MemoryBudget,
    /// It cannot go on consistently; the message says why.
    Failed(String),
}

/// One shard's state at the end of a window.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ShardStatus {
    /// The shard.
    pub shard: u32,
    /// Its earliest pending event, counting the events it just sent.
    pub next: Option<SimTime>,
    /// How many of its instances have not finished.
    pub live: u64,
    /// The cause of its latest instance ending, if one has ended.
    pub last_done: Option<Cause>,
    /// The time of its latest processed event.
    pub now: SimTime,
    /// When one of its instances last ran (see [`crate::quiet`]).
    pub last_run: SimTime,
    /// In a window that checks for a stall, whether the shard is stalled
    /// ([`crate::Sim::is_stalled`]); `None` in every other window.
    pub stalled: Option<bool>,
    /// Whether it must stop.
    pub stop: Option<ShardStop>,
}

/// What one shard receives from another at the end of a window.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ShardReport {
    /// The sender's state.
    pub status: ShardStatus,
    /// The events it scheduled for the receiver.
    pub events: Vec<Envelope>,
}

impl ShardReport {
    /// The report for each other shard: `status` with the events `outgoing`
    /// holds for it, with its index; `me`'s own entry is skipped.
    pub fn addressed(
        status: &ShardStatus,
        outgoing: Vec<Vec<Envelope>>,
        me: usize,
    ) -> impl Iterator<Item = (usize, ShardReport)> + '_ {
        outgoing
            .into_iter()
            .enumerate()
            .filter(move |(to, _)| *to != me)
            .map(|(to, events)| (to, ShardReport { status: status.clone(), events }))
    }
}

/// The exchange failed: a shard is gone, the transport broke, or the run was aborted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct LinkError {
    /// What happened, naming the transport.
    pub message: String,
    /// Whether the shared store that carries the run lost the run's state (a
    /// server restarted empty): the run ends as [`crate::RunEnd::SyncFailed`],
    /// as a run in one process whose sync backend lost it does, rather than as
    /// shards falling out of step.
    pub store_lost: bool,
}

impl LinkError {
    /// An exchange that failed for `message`.
    pub fn new(message: impl Into<String>) -> LinkError {
        LinkError { message: message.into(), store_lost: false }
    }

    /// The shared store lost the run's state; `message` names it.
    pub fn store_lost(message: impl Into<String>) -> LinkError {
        LinkError { message: message.into(), store_lost: true }
    }
}

/// How shards trade their reports; one implementation per transport.
pub trait ShardLink {
    /// Sends `outgoing[d]` with `status` to every other shard `d`, and returns
    /// the reports every other shard sent this one for window `window`, in
    /// shard order. Blocks until all have arrived or the exchange fails.
    fn exchange(
        &mut self,
        window: u64,
        status: &ShardStatus,
        outgoing: Vec<Vec<Envelope>>,
    ) -> Result<Vec<ShardReport>, LinkError>;
}
