//! `getpeername` and `shutdown` for `wasm32-wasip2` plans on a TCP
//! connection that has ended — reset, timed out: it has no peer and cannot
//! be shut down, and says so (`ENOTCONN`, `NotConnected`), as on Linux,
//! instead of aborting the plan.
//!
//! The host answers `remote-address` and `shutdown` on such a socket with
//! `invalid-state`, the code wasi:sockets gives for it (and documents as
//! `ENOTCONN`). wasi-sdk 30 hands every error of these calls to its generic
//! mapping, which calls `abort` on `invalid-state`, an error its own state
//! checks are meant to rule out; but the libc still holds the connection
//! connected. So `peer_addr()` or `shutdown()` after a reset crashed the plan
//! with "wasm `unreachable` executed". Here a connected TCP socket's calls
//! are made as the libc makes them, and that answer is `ENOTCONN`; every
//! other descriptor's are the libc's.
//!
//! wasi-libc maps `invalid-state` the same way up to wasi-sdk 33, the
//! latest release read; nothing upstream retires this yet.
//!
//! The three functions are all of the libc's `getsockpeername.c` (an object
//! defining `getpeername` alone would clash with the libc's, which defines
//! `getsockname` beside it) and `shutdown.c`.
//!
//! Owns: the `getsockname`/`getpeername`/`shutdown` symbols of the plan.
//! Does not own: a descriptor's own answers (its vtable's).

use core::ffi::{c_int, c_void};
use core::ptr;

use crate::libc::{self, EINVAL, ENOTCONN, ENOTSOCK, EOPNOTSUPP, IpSocketAddress, OutputSockaddr, TcpSocket};
use crate::tcp;

/// `invalid-state` in `wasi:sockets/network`'s `error-code`.
const INVALID_STATE: u8 = 9;
/// `output_sockaddr_t`'s tag for a NULL address.
const OUTPUT_SOCKADDR_NULL: u32 = 0;

/// `int getsockname(int fd, struct sockaddr *addr, socklen_t *addrlen)`: the libc's.
///
/// # Safety
/// As the libc's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getsockname(fd: c_int, addr: *mut c_void, addrlen: *mut u32) -> c_int {
    // SAFETY: a live descriptor's own function on its own data.
    unsafe {
        let Some((vtable, data)) = libc::descriptor(fd) else { return -1 };
        match vtable.getsockname {
            Some(getsockname) => getsockname(data, addr, addrlen),
            None => libc::fail(ENOTSOCK),
        }
    }
}

/// `int getpeername(int fd, struct sockaddr *addr, socklen_t *addrlen)`.
///
/// # Safety
/// As the libc's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getpeername(fd: c_int, addr: *mut c_void, addrlen: *mut u32) -> c_int {
    // SAFETY: as `getsockname`'s; `tcp::connected` gives the TCP socket's data.
    unsafe {
        let Some((vtable, data)) = libc::descriptor(fd) else { return -1 };
        if let Some(socket) = tcp::connected(vtable, data) {
            return peer(socket, addr, addrlen);
        }
        match vtable.getpeername {
            Some(getpeername) => getpeername(data, addr, addrlen),
            None => libc::fail(ENOTSOCK),
        }
    }
}

/// `int shutdown(int fd, int how)`.
///
/// # Safety
/// As the libc's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn shutdown(fd: c_int, how: c_int) -> c_int {
    // SAFETY: as `getpeername`'s.
    unsafe {
        let Some((vtable, data)) = libc::descriptor(fd) else { return -1 };
        if let Some(socket) = tcp::connected(vtable, data) {
            return shut(socket, how);
        }
        match vtable.shutdown {
            Some(shutdown) => shutdown(data, how),
            None => libc::fail(EOPNOTSUPP),
        }
    }
}

/// The errno of a failed call on a connected socket: `ENOTCONN` for a
/// connection that is over, else the libc's mapping.
///
/// # Safety
/// wasi-libc's `errno` must be reachable, as it is in any plan.
unsafe fn failed(error: u8) -> c_int {
    let errno = if error == INVALID_STATE {
        ENOTCONN
    } else {
        // SAFETY: the libc's pure mapping, for a code other than those it aborts on.
        unsafe { libc::__wasi_sockets_utils__map_error(error) }
    };
    // SAFETY: as promised.
    unsafe { libc::fail(errno) }
}

/// The libc's `tcp_shutdown` for a connected socket.
///
/// # Safety
/// `socket` is a live TCP socket's data.
unsafe fn shut(socket: &TcpSocket, how: c_int) -> c_int {
    // `SHUT_RD`, `SHUT_WR`, `SHUT_RDWR` as wasi-libc numbers them (1, 2, 3:
    // WASI's flags, not Linux's 0, 1, 2), to `shutdown-type`'s receive, send, both.
    let wasi_how: u8 = match how {
        1 => 0,
        2 => 1,
        3 => 2,
        // SAFETY: errno is reachable.
        _ => return unsafe { libc::fail(EINVAL) },
    };
    // SAFETY: the libc's own binding on this socket's handle, as its `tcp_shutdown` calls it.
    unsafe {
        let mut error = 0u8;
        if !libc::tcp_method_tcp_socket_shutdown(libc::tcp_borrow_tcp_socket(socket.socket), wasi_how, &mut error) {
            return failed(error);
        }
    }
    0
}

/// The libc's `tcp_getpeername` for a connected socket, with `ENOTCONN` for
/// a connection that is over.
///
/// # Safety
/// `socket` is a live TCP socket's data; `addr` and `addrlen` as `getpeername`'s.
unsafe fn peer(socket: &TcpSocket, addr: *mut c_void, addrlen: *mut u32) -> c_int {
    // SAFETY: the libc's own helpers and binding, as its `tcp_getpeername` calls them.
    unsafe {
        let mut output = OutputSockaddr { tag: 0, addr: ptr::null_mut(), addrlen: ptr::null_mut() };
        if !libc::__wasi_sockets_utils__output_addr_validate(socket.family, addr, addrlen, &mut output)
            || output.tag == OUTPUT_SOCKADDR_NULL
        {
            return libc::fail(EINVAL);
        }
        let mut result = IpSocketAddress([0; 32]);
        let mut error = 0u8;
        let borrowed = libc::tcp_borrow_tcp_socket(socket.socket);
        if !libc::tcp_method_tcp_socket_remote_address(borrowed, &mut result, &mut error) {
            return failed(error);
        }
        libc::__wasi_sockets_utils__output_addr_write(&result, &mut output);
        0
    }
}
