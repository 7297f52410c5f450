//! Host-side bindings of `wasi:io` 0.2, generated from the vendored WIT in
//! `wit/deps/`.
//!
//! Only generated code lives here. The resources are wasmtime-wasi-io's own
//! types, so pollables and streams made by wasmtime-wasi's interfaces (stdio,
//! files) and by ours are the same resources; what differs from
//! wasmtime-wasi-io's bindings is who implements the functions ([`super`])
//! and that no call is wrapped in a tracing span: a poll is the hottest host
//! call a plan makes.

wasmtime::component::bindgen!({
    world: "host-io",
    path: "../wit",
    require_store_data_send: true,
    with: {
        "wasi:io/poll.pollable": wasmtime_wasi_io::poll::DynPollable,
        "wasi:io/streams.input-stream": wasmtime_wasi_io::streams::DynInputStream,
        "wasi:io/streams.output-stream": wasmtime_wasi_io::streams::DynOutputStream,
        "wasi:io/error.error": wasmtime_wasi_io::streams::Error,
    },
    imports: {
        "wasi:io/poll.poll": async | trappable,
        "wasi:io/poll.[method]pollable.block": async | trappable,
        "wasi:io/poll.[method]pollable.ready": async | trappable,
        "wasi:io/streams.[method]input-stream.blocking-read": async | trappable,
        "wasi:io/streams.[method]input-stream.blocking-skip": async | trappable,
        "wasi:io/streams.[drop]input-stream": async | trappable,
        "wasi:io/streams.[method]output-stream.blocking-splice": async | trappable,
        "wasi:io/streams.[method]output-stream.blocking-flush": async | trappable,
        "wasi:io/streams.[method]output-stream.blocking-write-and-flush": async | trappable,
        "wasi:io/streams.[method]output-stream.blocking-write-zeroes-and-flush": async | trappable,
        "wasi:io/streams.[drop]output-stream": async | trappable,
        default: trappable,
    },
    trappable_error_type: {
        "wasi:io/streams.stream-error" => wasmtime_wasi_io::streams::StreamError,
    },
});

pub use wasi::io::*;
