//! Splitting one run across processes, with the same result as one process.
//!
//! A split run gives each *shard* a contiguous block of instances
//! ([`ShardLayout`]). Every shard runs its own [`crate::Sim`] and
//! [`crate::Executor`] over its block, and all shards advance together in
//! conservative time windows, as parallel discrete-event simulators do: a
//! window starts at the earliest pending event of any shard and is no longer
//! than the *lookahead*, the least time anything one instance does takes to
//! reach another (the sync service's latency, and every link's). Whatever a
//! shard sends another during a window therefore arrives after it; shards
//! trade those events at the window's end ([`ShardLink::exchange`]) and file
//! them under the key they were given, so every shard processes its events in
//! the run's one `(time, source, sequence)` order.
//!
//! The sync service is replicated: every shard receives every sync operation
//! and applies it, in that order, to its own copy, so a barrier on one shard
//! releases exactly when it would in one process. Each node's records are the
//! same as in one process, in the same order, and the run digest is made of
//! per-node digests ([`crate::trace::combine_digests`]), so it does not depend
//! on the number of shards. [`run_shard`] drives one shard; [`MemoryLink`]
//! connects shards in one process (for tests), and the host connects
//! processes through Redis.

mod driver;
mod layout;
mod link;
mod memory;

pub use driver::run_shard;
pub use layout::{LayoutError, ShardLayout};
pub use link::{CrossEvent, Envelope, LinkError, ShardLink, ShardReport, ShardStatus, ShardStop};
pub use memory::MemoryLink;
