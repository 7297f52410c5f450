//! The generated bindings of the `tg:plan` world, and nothing else.
//!
//! `wasi:io/poll` is mapped onto the `wasip2` crate so that a subscription's
//! pollable is the very type the `wasip2` crate (and what is built on it, such
//! as sockets) waits on: one `poll` call can then cover both.
//!
//! Plan authors rarely need this module: the rest of the crate wraps it. It is
//! public so that [`export_plan!`](crate::export_plan) can reach it from the
//! plan's crate, and so that nothing the WIT offers is out of reach.
#![allow(missing_docs, clippy::all)]

wit_bindgen::generate!({
    path: "../wit",
    world: "sdk-plan",
    features: ["network-error-code"],
    with: {
        "wasi:io/poll@0.2.12": wasip2::io::poll,
        "wasi:io/error@0.2.12": wasip2::io::error,
        "wasi:io/streams@0.2.12": wasip2::io::streams,
        "wasi:clocks/monotonic-clock@0.2.12": wasip2::clocks::monotonic_clock,
        "wasi:sockets/network@0.2.12": wasip2::sockets::network,
        "wasi:sockets/tcp@0.2.12": wasip2::sockets::tcp,
        "wasi:sockets/udp@0.2.12": wasip2::sockets::udp,
    },
    pub_export_macro: true,
    export_macro_name: "export_plan_world",
});
