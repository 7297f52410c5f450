//! `send` and `sendto` for `wasm32-wasip2` plans: a connected TCP socket's
//! sends report the socket's error ([`crate::tcp`]).
//!
//! The two functions are all of the libc's `send.c`, so its object is never
//! linked beside these. They check what the libc's check, then hand a
//! connected TCP socket's send, with flags the libc supports and no address,
//! to [`crate::tcp::send`]; everything else goes to the descriptor's own
//! `sendto`, which answers as before.
//!
//! Owns: the `send`/`sendto` symbols of the plan. Does not own: the sockets.

use core::ffi::{c_int, c_void};
use core::ptr;

use crate::libc::{self, EINVAL, EOPNOTSUPP};
use crate::tcp::{self, MSG_DONTWAIT, MSG_NOSIGNAL};

/// `ssize_t send(int socket, const void *buffer, size_t length, int flags)`.
///
/// # Safety
/// As the libc's: `buffer` holds `length` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn send(fd: c_int, buffer: *const c_void, length: usize, flags: c_int) -> isize {
    // SAFETY: the caller's contract, with no address.
    unsafe { sendto(fd, buffer, length, flags, ptr::null(), 0) }
}

/// `ssize_t sendto(int socket, const void *buffer, size_t length, int flags,
/// const struct sockaddr *addr, socklen_t addrlen)`.
///
/// # Safety
/// As the libc's: `buffer` holds `length` bytes; `addr`, if not NULL, holds
/// `addrlen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn sendto(
    fd: c_int,
    buffer: *const c_void,
    length: usize,
    flags: c_int,
    addr: *const c_void,
    addrlen: u32,
) -> isize {
    // SAFETY: `libc::descriptor` gives a live descriptor's vtable and the data
    // its functions take.
    unsafe {
        let Some((vtable, data)) = libc::descriptor(fd) else { return -1 };
        if buffer.is_null() {
            return libc::fail(EINVAL) as isize;
        }
        let Some(own_sendto) = vtable.sendto else {
            return libc::fail(EOPNOTSUPP) as isize;
        };
        if flags & !(MSG_DONTWAIT | MSG_NOSIGNAL) == 0
            && addr.is_null()
            && addrlen == 0
            && let Some(socket) = tcp::connected(vtable, data)
        {
            return tcp::send(socket, buffer as *const u8, length, flags);
        }
        own_sendto(data, buffer, length, flags, addr, addrlen)
    }
}
