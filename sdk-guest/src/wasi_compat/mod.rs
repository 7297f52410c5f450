//! Stand-ins for what `wasm32-wasip2` lacks and async networking crates
//! expect, so tokio, hyper and socket2 code runs unchanged or nearly so.
//!
//! Owns:
//!
//! - **`fcntl(F_GETFL/F_SETFL)` on sockets.** The wasi-libc Rust 1.95 ships
//!   answers them with `EINVAL`, so mio cannot make an accepted socket
//!   non-blocking and a tokio `TcpListener` fails to accept. `build.rs` links a
//!   replacement `fcntl` (`compat/fcntl.rs`, rules in `fcntl.rs` here) into
//!   every `wasm32-wasip2` plan; nothing to enable. Retired by a toolchain
//!   whose wasi-libc has wasi-libc PR #742 (wasi-sdk 31 or later): `build.rs`
//!   then links nothing.
//!
//! Does not own: the runtime itself (a plan builds a current-thread tokio
//! runtime; `wasm32-wasip2` cannot run a multi-threaded one) or `--cfg
//! tokio_unstable`, which `tg-wasm build` sets and `build.rs` checks.

#[cfg(test)]
mod fcntl;
