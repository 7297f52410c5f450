//! `fcntl` for `wasm32-wasip2` plans, with `F_GETFL`/`F_SETFL` on sockets.
//!
//! The wasi-libc of wasi-sdk 30 (the one Rust 1.95 ships for `wasm32-wasip2`)
//! answers `F_GETFL` and `F_SETFL` on a TCP or UDP socket with `EINVAL`: its
//! socket vtables have no `fcntl_getfl`/`fcntl_setfl`. mio sets every accepted
//! socket non-blocking that way, so a tokio `TcpListener` cannot accept, and
//! socket2's `set_nonblocking` fails. wasi-libc fixed it upstream in PR #742
//! (first in wasi-sdk 31); until the Rust toolchain ships that libc, this
//! `fcntl` replaces the libc's.
//!
//! Owns: the `fcntl` symbol of the plan, and the unsafe reach into wasi-libc's
//! descriptor table it needs. Does not own: what `fcntl` answers — the rules
//! are `src/wasi_compat/fcntl.rs`, included below and tested natively.
//!
//! Why a separate object, built by `build.rs` with its own `rustc` call and not
//! a function of the crate: `fcntl` is variadic, and a Rust definition cannot
//! be. A variadic call passes its extra arguments in a buffer and hands the
//! callee a pointer to it — unless the optimizer can see the definition, as
//! it can under `lto = true` when the definition is in the same LLVM module as
//! the callers (mio, socket2): then it rewrites the call into a direct call
//! with the flags themselves as the third argument. So a Rust `fcntl` taking a
//! pointer works only without LTO, and one taking an `int` only with it. This
//! object is linked as a native library, which LTO cannot see into, so every
//! caller — Rust with or without LTO, and wasi-libc's own C — reaches it
//! through the variadic convention: `(fd, cmd, pointer to the arguments)`.

use core::ffi::c_int;

use crate::libc;

#[path = "../src/wasi_compat/fcntl.rs"]
#[allow(dead_code)] // `wasi` constants the shim does not use are there for the rules' tests.
mod rules;

use rules::{Offers, Step};

/// Where a socket keeps whether it blocks: `tcp_socket_t` and `udp_socket_t`
/// (`wasip2_tcp.c`, `wasip2_udp.c`) both begin with the socket's handle, its
/// pollable's handle, then `bool blocking` — what `set_blocking` writes and
/// `ioctl(FIONBIO)`, `accept4(SOCK_NONBLOCK)` and `socket(SOCK_NONBLOCK)` set.
const SOCKET_BLOCKING_OFFSET: usize = 8;

/// `int fcntl(int fd, int cmd, ...)`, as the variadic convention calls it.
///
/// # Safety
///
/// `args` is the caller's variadic argument buffer: for `F_SETFL` it holds the
/// flags `int`, as C and Rust callers of the variadic `fcntl` pass it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn fcntl(fd: c_int, cmd: c_int, args: *const c_int) -> c_int {
    // SAFETY: `libc::descriptor` gives a live descriptor's vtable (laid out
    // as `libc::VTable`, checked there against the offsets wasi-sdk 30's
    // `fcntl` uses) and the data its functions take. `build.rs` links this
    // object only when the toolchain's libc is from wasi-sdk 30.
    unsafe {
        let Some((vtable, data)) = libc::descriptor(fd) else { return -1 };
        let offers = Offers {
            getfl: vtable.fcntl_getfl.is_some(),
            setfl: vtable.fcntl_setfl.is_some(),
            set_blocking: vtable.set_blocking.is_some(),
        };
        let flags = || if args.is_null() { 0 } else { *args };
        match (rules::step(cmd, offers), vtable.fcntl_getfl, vtable.fcntl_setfl, vtable.set_blocking) {
            (Step::Return(value), ..) => value,
            (Step::GetFl, Some(getfl), ..) => getfl(data),
            (Step::SetFl, _, Some(setfl), _) => setfl(data, flags()),
            (Step::SocketGetFl, ..) => {
                // Only TCP and UDP sockets reach here: the libc's other
                // descriptors with `set_blocking` (files) have `fcntl_getfl`.
                let blocking = *(data as *const u8).add(SOCKET_BLOCKING_OFFSET) != 0;
                rules::socket_flags(blocking)
            }
            (Step::SocketSetFl, _, _, Some(set_blocking)) => set_blocking(data, rules::blocking_for(flags())),
            (Step::Fail(errno), ..) => libc::fail(errno),
            // `step` chose an entry from what is present, so this is not reached.
            _ => libc::fail(rules::wasi::EINVAL),
        }
    }
}
