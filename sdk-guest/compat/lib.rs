//! Replacements for functions of the wasi-libc that Rust 1.95 ships for
//! `wasm32-wasip2` (wasi-sdk 30), linked into every plan by `build.rs`:
//!
//! - [`fcntl`]: `F_GETFL`/`F_SETFL` on sockets, which that libc refuses, so
//!   tokio can accept and socket2 can make sockets non-blocking;
//! - [`poll`]: without the phantom event that makes tokio spin on a bound,
//!   idle UDP socket, and (`poll_set`) over a standing set of pollables
//!   kept by the host, so a call costs what its ready and changed
//!   descriptors cost rather than every descriptor it is given;
//! - [`recv`]: UDP receives that free each datagram's bytes, which that libc
//!   leaks;
//! - [`sockopt`]: `SO_RCVTIMEO`/`SO_SNDTIMEO` on UDP sockets, which that libc
//!   refuses;
//! - [`send`], [`recv`] and [`io`] on a connected TCP socket (`tcp`): its
//!   own error (a reset) rather than `EIO`, `read`/`write` that are
//!   `recv`/`send`, non-blocking when the socket is, rather than a file's,
//!   and `readv`/`writev` over all their buffers rather than the first;
//! - [`poll`] again: `POLLERR`/`POLLHUP` on a socket whose connect failed,
//!   which std's `connect_timeout` waits for;
//! - [`recv`] again: `MSG_PEEK`, which that libc refuses, through the host
//!   (`peek`);
//! - [`ended`]: `getpeername` and `shutdown` on a connection that has
//!   ended, which that libc answers with `abort`.
//!
//! The first two are fixed upstream (wasi-libc PRs #742 and #732, first in
//! wasi-sdk 31); `build.rs` links this object only for wasi-sdk 30's libc.
//!
//! Why a separate object, built by its own `rustc` call and not code of the
//! crate, is in [`fcntl`]. It is `#![no_std]` and calls nothing of `core` that
//! is not inlined: it is linked after LTO has internalized the plan's `core`,
//! so it may only reference wasi-libc symbols ([`libc`]).

#![no_std]

pub mod ended;
pub mod fcntl;
pub mod io;
mod libc;
mod peek;
pub mod poll;
mod poll_set;
pub mod recv;
pub mod send;
pub mod sockopt;
mod tcp;
