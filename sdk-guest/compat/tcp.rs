//! Receives and sends on a connected TCP socket that report the socket's own
//! error, as Linux does, rather than `EIO`.
//!
//! wasi-sdk 30's TCP `recvfrom` and `sendto` turn a `last-operation-failed`
//! stream error into `EIO` and drop it unread, so a read after the peer reset
//! the connection fails with "I/O error (os error 29)", kind
//! `Uncategorized`, where Linux says `ConnectionReset` (and hyper reports an
//! I/O error instead of a reset). The error carries the cause:
//! `wasi:sockets/network`'s `network-error-code` gives it, and that libc
//! never asks. The two functions here do what the libc's do, step for step,
//! with that one difference; `recv.rs`, `send.rs` and `io.rs` hand them the
//! calls on a connected TCP socket that the libc's would take.
//!
//! `read` and `write` on a socket come here too (`io.rs`), where the libc
//! reads and writes the socket's streams as a file's, blocking even on a
//! non-blocking socket: std's `write_vectored` (tokio's, hyper's) writes
//! through `writev`, so a hyper server with a full send buffer stopped its
//! whole runtime. On Linux `write` on a socket is `send` without flags.
//!
//! Owns: the TCP receive and send of the plan. Does not own: the socket's
//! state (the libc's `wasip2_tcp.c`, whose layout is in [`crate::libc`]).

use core::ffi::{c_int, c_void};
use core::ptr;

use crate::libc::{self, EAGAIN, EIO, EPIPE, Handle, IoVec, List, StreamError, TcpSocket, VTable};
use crate::peek::{self, MSG_PEEK, Peeked};

/// The flag the libc's TCP `recvfrom` supports.
pub(crate) const MSG_DONTWAIT: c_int = 0x40;
/// Ignored by the libc's TCP `sendto`: without signals it is always so.
pub(crate) const MSG_NOSIGNAL: c_int = 0x4000;

#[link(wasm_import_module = "wasi:sockets/network@0.2.12")]
unsafe extern "C" {
    /// `network-error-code: func(err: borrow<error>) -> option<error-code>`,
    /// lowered: the option's case and the code, one byte each, at `ret`.
    /// Declared by tg-sdk's world (`wit/plan.wit`, `sdk-plan`), which puts it
    /// in the plan's component type.
    #[link_name = "network-error-code"]
    fn network_error_code(error: Handle, ret: *mut [u8; 2]);
}

/// The connected TCP socket behind `data`, if `vtable` is TCP's and the
/// socket is connected; the libc's own functions answer for every other.
///
/// # Safety
/// `vtable` and `data` are a live descriptor's, as [`libc::descriptor`] gives them.
pub(crate) unsafe fn connected<'a>(vtable: &VTable, data: *mut c_void) -> Option<&'a mut TcpSocket> {
    if !vtable.is_tcp() {
        return None;
    }
    // SAFETY: the TCP vtable's data is a `tcp_socket_t`, live while the descriptor is.
    let socket = unsafe { &mut *(data as *mut TcpSocket) };
    (socket.state == libc::TCP_CONNECTED).then_some(socket)
}

/// Fails with the errno of a failed stream operation: the socket error behind
/// `last-operation-failed` (`EIO` if it has none), or, for `closed`, what
/// the libc gives (`closed` is 0 for a read: end of stream).
///
/// # Safety
/// `error` was filled in by a failed `wasi:io/streams` call; its error is ours to drop.
pub(crate) unsafe fn stream_failed(error: &StreamError, closed: isize) -> isize {
    if error.tag != libc::STREAM_ERROR_LAST_OPERATION_FAILED {
        return match closed {
            0 => 0,
            // SAFETY: errno is reachable.
            _ => unsafe { libc::fail(EPIPE) as isize },
        };
    }
    // SAFETY: `error.error` is an owned `wasi:io/error` handle, lent to the
    // host for the call and then dropped, as the libc drops it.
    unsafe {
        let mut code = [0u8; 2];
        network_error_code(error.error, &mut code);
        libc::io_error_error_drop_own(error.error);
        let errno = if code[0] == 1 { libc::__wasi_sockets_utils__map_error(code[1]) } else { EIO };
        libc::fail(errno) as isize
    }
}

/// The libc's TCP `recvfrom` for a connected socket and supported `flags`,
/// and `MSG_PEEK` ([`crate::peek`]), into `buffers` in order, as Linux's
/// `readv` fills them (the libc's fills only the first).
///
/// # Safety
/// `socket` is a live, connected TCP socket's data; `buffers` are writable.
/// With `MSG_PEEK`, there is one buffer (`recv`, `recvfrom`).
pub(crate) unsafe fn recv(socket: &mut TcpSocket, buffers: &[IoVec], flags: c_int) -> isize {
    let length = IoVec::total(buffers);
    // Linux answers an empty receive on a stream socket at once.
    if length == 0 {
        return 0;
    }
    let block = socket.blocking && flags & MSG_DONTWAIT == 0;
    // SAFETY: the libc's own functions on this socket's handles, as its
    // `tcp_recvfrom` calls them; the list `read` returns is ours to free.
    unsafe {
        let input = libc::streams_borrow_input_stream(socket.streams.input);
        loop {
            if flags & MSG_PEEK != 0 {
                match peek::tcp(libc::tcp_borrow_tcp_socket(socket.socket), buffers[0].base, length) {
                    Err(errno) => return libc::fail(errno) as isize,
                    Ok(Peeked::Ended) => return 0,
                    Ok(Peeked::Some { copied, .. }) => return copied as isize,
                    Ok(Peeked::NothingYet) => {}
                }
            } else {
                let mut bytes = List::<u8> { ptr: ptr::null_mut(), len: 0 };
                let mut error = StreamError { tag: 0, error: 0 };
                if !libc::streams_method_input_stream_read(input, length as u64, &mut bytes, &mut error) {
                    return stream_failed(&error, 0);
                }
                if bytes.len > 0 {
                    IoVec::scatter(buffers, bytes.ptr, bytes.len);
                    let len = bytes.len;
                    libc::wasip2_list_u8_free(&mut bytes);
                    return len as isize;
                }
            }
            if !block {
                return libc::fail(EAGAIN) as isize;
            }
            let subscribe = || libc::streams_method_input_stream_subscribe(input);
            if wait_for_stream(&mut socket.streams.input_pollable, subscribe, socket.recv_timeout) {
                return libc::fail(EAGAIN) as isize;
            }
        }
    }
}

/// The libc's TCP `sendto` for a connected socket and supported `flags`,
/// from `buffers` in order, as one write, as Linux's `writev` sends them
/// (the libc's sends only the first).
///
/// # Safety
/// `socket` is a live, connected TCP socket's data; `buffers` are readable.
pub(crate) unsafe fn send(socket: &mut TcpSocket, buffers: &[IoVec], flags: c_int) -> isize {
    let length = IoVec::total(buffers);
    if length == 0 {
        return 0;
    }
    let block = socket.blocking && flags & MSG_DONTWAIT == 0;
    // SAFETY: the libc's own functions on this socket's handles, as its
    // `tcp_sendto` calls them; `write` only reads the list.
    unsafe {
        let output = libc::streams_borrow_output_stream(socket.streams.output);
        loop {
            let mut permitted = 0u64;
            let mut error = StreamError { tag: 0, error: 0 };
            if !libc::streams_method_output_stream_check_write(output, &mut permitted, &mut error) {
                return stream_failed(&error, -1);
            }
            if permitted > 0 {
                let count = permitted.min(length as u64) as usize;
                let Some((bytes, gathered)) = contiguous(buffers, count) else {
                    return libc::fail(libc::ENOMEM) as isize;
                };
                let written = libc::streams_method_output_stream_write(output, &bytes, &mut error);
                if gathered {
                    libc::free(bytes.ptr as *mut c_void);
                }
                if !written {
                    return stream_failed(&error, -1);
                }
                return count as isize;
            }
            if !block {
                return libc::fail(EAGAIN) as isize;
            }
            let subscribe = || libc::streams_method_output_stream_subscribe(output);
            if wait_for_stream(&mut socket.streams.output_pollable, subscribe, socket.send_timeout) {
                return libc::fail(EAGAIN) as isize;
            }
        }
    }
}

/// The first `count` bytes of `buffers` in one piece, for one write: the
/// buffer that holds them all if one does, else a copy (`true`: to free).
/// `None` if there is no memory for the copy.
///
/// # Safety
/// The buffers are readable and hold at least `count` bytes.
unsafe fn contiguous(buffers: &[IoVec], count: usize) -> Option<(List<u8>, bool)> {
    if let Some(first) = buffers.iter().find(|b| b.len > 0)
        && first.len >= count
    {
        return Some((List { ptr: first.base, len: count }, false));
    }
    // SAFETY: `malloc` gives `count` writable bytes or null; the buffers hold `count`.
    unsafe {
        let copy = libc::malloc(count) as *mut u8;
        if copy.is_null() {
            return None;
        }
        IoVec::gather(buffers, copy, count);
        Some((List { ptr: copy, len: count }, true))
    }
}

/// Waits for a stream of the socket, at most `timeout` nanoseconds if not 0
/// (the libc starts it again at each wait); whether it timed out. The
/// stream's pollable is created on first use and kept by the socket, as the
/// libc keeps it.
///
/// # Safety
/// `pollable` is the socket's slot for the stream's pollable; `subscribe` subscribes to that stream.
unsafe fn wait_for_stream(pollable: &mut Handle, subscribe: impl FnOnce() -> Handle, timeout: u64) -> bool {
    if *pollable == 0 {
        *pollable = subscribe();
    }
    // SAFETY: the socket's own pollable, live while the socket is.
    unsafe { libc::wait(libc::poll_borrow_pollable(*pollable), timeout) }
}
