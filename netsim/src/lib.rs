//! netsim: the deterministic core of tg-wasm.
//!
//! A run of tg-wasm is a discrete-event simulation. This crate holds everything
//! that decides *what happens when*, with no WebAssembly in it, so it can be
//! tested, fuzzed and benchmarked natively:
//!
//! - [`time`]: [`SimTime`], the virtual clock's instants (nanoseconds).
//! - [`node`]: [`NodeId`], who causes events.
//! - [`event`]: [`EventQueue`], ordered by `(time, source, per-source sequence)`.
//! - [`rng`]: [`RngStream`], seeded random streams per instance and purpose.
//! - [`sync`]: Testground's states, barriers and topics; [`SyncBackend`] stores them, and
//!   [`SyncService`] is the embedded backend.
//! - [`net`]: [`Network`], the data network — addresses, shaped links, UDP and TCP sockets.
//! - [`sim`]: [`Sim`], the world of one run — clock, queue, sync service, trace — and
//!   where waiting callers register their wakers. Start here.
//! - [`executor`]: [`Executor`], which polls one task per instance and advances
//!   the clock when none can run.
//! - [`fault`]: [`Fault`], partitions, clogs, crashes and restarts injected at a virtual time.
//! - [`limits`]: [`Limits`], how much a run's plans may make the simulation hold.
//! - [`trace`]: [`Trace`], the digest of every event, and [`first_divergence`].
//! - [`shard`]: splitting one run across processes with the same result.
//!
//! The host crate (`tg-wasm`) adapts WASI and `tg:plan` calls onto these types.

mod driver;
pub mod event;
pub mod executor;
pub mod fault;
pub mod limits;
pub mod net;
pub mod node;
mod prefetch;
pub mod quiet;
pub mod rng;
pub mod shard;
pub mod sim;
pub mod sync;
pub mod time;
pub mod trace;

pub use event::{EventId, EventKey, EventQueue};
pub use executor::{Executor, RunEnd, RunLimits, Supervisor, Task};
pub use fault::{Fault, InstanceControl, PathAction};
pub use limits::{LimitReached, Limits};
pub use net::{NetCtx, NetError, Network, NetworkConfig, SocketId};
pub use node::NodeId;
pub use rng::RngStream;
pub use sim::{BlockedInstance, MAX_WAITING_FOR, RunStatus, Sim, SimConfig, SimHandle, TimerId, WaitReason};
pub use sync::{
    BackendError, StateMark, StateMarkKind, StateTimeline, SyncBackend, SyncError, SyncOp, SyncService, Ticket,
};
pub use time::SimTime;
pub use trace::{Cause, Divergence, NodeDigest, Trace, TraceRecord, TraceScope, combine_digests, first_divergence};
