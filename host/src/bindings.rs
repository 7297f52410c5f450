//! Host-side bindings of the `tg:plan` world, generated from `wit/`.
//!
//! Only generated code lives here; the behaviour behind each interface is in
//! [`crate::plan`]. Sync operations that can wait are `async` so that an
//! instance blocked on a barrier suspends its fiber instead of the host thread.

wasmtime::component::bindgen!({
    world: "plan",
    path: "../wit",
    imports: {
        "tg:plan/sync.signal-entry": async | trappable,
        "tg:plan/sync.barrier": async | trappable,
        "tg:plan/sync.signal-and-wait": async | trappable,
        "tg:plan/sync.publish": async | trappable,
        "tg:plan/sync.[method]subscription.next": async | trappable,
        "tg:plan/network.configure": async | trappable,
        "tg:plan/network.set-address": async | trappable,
        "tg:plan/poll-set.wait": async | trappable,
        "tg:plan/poll-set.wait-in-place": async | trappable,
        default: trappable,
    },
    exports: { default: async },
    with: {
        "wasi:io/poll": wasmtime_wasi_io::bindings::wasi::io::poll,
        "tg:plan/sync.subscription": crate::plan::sync::Subscription,
        "tg:plan/sync.operation": crate::plan::sync::Operation,
    },
});

pub use tg::plan::{metrics, network, poll_set, runenv, sync, types};
