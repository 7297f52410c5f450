//! The host side of the `tg:plan` interfaces.
//!
//! One file per WIT interface: [`runenv`] answers who an instance is,
//! [`sync`] turns barriers and topics into netsim sync operations
//! ([`sync_events`] lets an executor that waits on file descriptors see
//! their replies),
//! [`metrics`] records what the plan measures, [`network`] shapes the
//! instance's traffic on the data network, and [`poll_set`] lets `poll(2)`
//! wait on a standing set of pollables. The generated bindings are in
//! [`crate::bindings`].

pub mod metrics;
pub mod network;
pub mod poll_set;
pub mod runenv;
pub mod sync;
pub mod sync_events;

use crate::bindings;
use crate::instance::InstanceState;
use wasmtime::component::{HasSelf, Linker};

/// Adds the `tg:plan` imports to `linker`.
pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> anyhow::Result<()> {
    // Interface by interface: the world's own `add_to_linker` would also add
    // `wasi:io/poll`, which `crate::wasi` already provides.
    type Own = HasSelf<InstanceState>;
    bindings::types::add_to_linker::<InstanceState, Own>(linker, |s| s)?;
    bindings::runenv::add_to_linker::<InstanceState, Own>(linker, |s| s)?;
    bindings::sync::add_to_linker::<InstanceState, Own>(linker, |s| s)?;
    bindings::metrics::add_to_linker::<InstanceState, Own>(linker, |s| s)?;
    bindings::network::add_to_linker::<InstanceState, Own>(linker, |s| s)?;
    bindings::poll_set::add_to_linker::<InstanceState, Own>(linker, |s| s)?;
    Ok(())
}

impl crate::bindings::types::Host for InstanceState {}
