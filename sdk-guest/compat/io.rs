//! `read`, `write`, `readv` and `writev` for `wasm32-wasip2` plans: on a
//! connected TCP socket they are its `recv` and `send` without flags, as on
//! Linux, the vectored ones over all their buffers.
//!
//! wasi-sdk 30's `read` and `write` treat every descriptor as a file: they
//! take its stream and block on it, so on a non-blocking socket `write`
//! waits for room instead of failing with `EAGAIN`, and a failed socket
//! stream is `EIO`. std's `read_vectored`/`write_vectored` go through
//! `readv`/`writev`, which call these, and tokio's and hyper's vectored
//! writes go through them: a hyper server whose peer read slowly stopped
//! every task of its runtime until the peer caught up. Here a connected TCP
//! socket's are [`crate::tcp`]'s, which honour `O_NONBLOCK` and the socket's
//! timeouts and report a reset as one; every other descriptor — files,
//! stdio, sockets in other states — is read and written as the libc does.
//!
//!
//! wasi-sdk 30's `readv` and `writev` pass only their first non-empty buffer
//! to `read` and `write`. On a socket Linux fills or sends them all, and a
//! program can tell: `write_vectored` of a head and a body returns the
//! head's length, and hyper's response goes out as two segments, which a
//! peer reading once may see as two reads. Here a connected TCP socket's
//! take all their buffers, one write or read for all; every other
//! descriptor keeps the libc's rule. wasi-sdk 33's `readv` and `writev` still
//! take the first buffer only; nothing upstream retires this yet.
//!
//! The four functions are all of the libc's `read.c`, `write.c`, `readv.c`
//! and `writev.c`.
//!
//! Owns: the `read`/`write`/`readv`/`writev` symbols of the plan. Does not own: what a
//! descriptor's streams are (its `get_read_stream`/`get_write_stream`).

use core::ffi::{c_int, c_void};
use core::ptr;

use crate::libc::{self, EINVAL, Handle, IoVec, List, StreamError};
use crate::tcp;

/// `ssize_t read(int fd, void *buf, size_t nbyte)`.
///
/// # Safety
/// As the libc's: `buf` holds `nbyte` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, nbyte: usize) -> isize {
    // SAFETY: `libc::descriptor` gives a live descriptor's vtable and data;
    // the stream functions are the libc's own on the stream it hands out.
    unsafe {
        let Some((vtable, data)) = libc::descriptor(fd) else { return -1 };
        if let Some(socket) = tcp::connected(vtable, data) {
            return tcp::recv(socket, &IoVec::one(buf as *mut u8, nbyte), 0);
        }
        let mut stream: Handle = 0;
        let mut offset: *mut i64 = ptr::null_mut();
        if libc::__wasilibc_read_stream(fd, &mut stream, &mut offset, ptr::null_mut()) < 0 {
            return -1;
        }
        let mut bytes = List::<u8> { ptr: ptr::null_mut(), len: 0 };
        let mut error = StreamError { tag: 0, error: 0 };
        if !libc::streams_method_input_stream_blocking_read(stream, nbyte as u64, &mut bytes, &mut error) {
            return tcp::stream_failed(&error, 0);
        }
        let len = bytes.len;
        // An empty read may be given no buffer at all.
        if len > 0 {
            ptr::copy_nonoverlapping(bytes.ptr, buf as *mut u8, len);
        }
        libc::wasip2_list_u8_free(&mut bytes);
        if !offset.is_null() {
            *offset += len as i64;
        }
        len as isize
    }
}

/// `ssize_t write(int fd, const void *buf, size_t nbyte)`.
///
/// # Safety
/// As the libc's: `buf` holds `nbyte` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn write(fd: c_int, buf: *const c_void, nbyte: usize) -> isize {
    // SAFETY: as `read`'s.
    unsafe {
        let Some((vtable, data)) = libc::descriptor(fd) else { return -1 };
        if let Some(socket) = tcp::connected(vtable, data) {
            return tcp::send(socket, &IoVec::one(buf as *mut u8, nbyte), 0);
        }
        let mut stream: Handle = 0;
        let mut offset: *mut i64 = ptr::null_mut();
        let mut pollable: Handle = 0;
        if libc::__wasilibc_write_stream(fd, &mut stream, &mut offset, &mut pollable) < 0 {
            return -1;
        }
        let mut error = StreamError { tag: 0, error: 0 };
        let mut permitted = 0u64;
        while permitted == 0 {
            if !libc::streams_method_output_stream_check_write(stream, &mut permitted, &mut error) {
                return tcp::stream_failed(&error, -1);
            }
            if permitted == 0 {
                libc::poll_method_pollable_block(pollable);
            }
        }
        let bytes = List { ptr: buf as *mut u8, len: permitted.min(nbyte as u64) as usize };
        if !libc::streams_method_output_stream_write(stream, &bytes, &mut error)
            || !libc::streams_method_output_stream_blocking_flush(stream, &mut error)
        {
            return tcp::stream_failed(&error, -1);
        }
        if !offset.is_null() {
            *offset += bytes.len as i64;
        }
        bytes.len as isize
    }
}

/// `ssize_t readv(int fd, const struct iovec *iov, int iovcnt)`.
///
/// # Safety
/// As the libc's: `iov` holds `iovcnt` buffers.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn readv(fd: c_int, iov: *const IoVec, iovcnt: c_int) -> isize {
    // SAFETY: `iov` holds `iovcnt` buffers (checked not negative); the
    // descriptor's as in `read`.
    unsafe {
        let Ok(count) = usize::try_from(iovcnt) else { return libc::fail(EINVAL) as isize };
        let buffers = IoVec::all(iov, count);
        let Some((vtable, data)) = libc::descriptor(fd) else { return -1 };
        if let Some(socket) = tcp::connected(vtable, data) {
            return tcp::recv(socket, buffers, 0);
        }
        match buffers.iter().find(|b| b.len > 0) {
            Some(first) => read(fd, first.base as *mut c_void, first.len),
            None => read(fd, ptr::null_mut(), 0),
        }
    }
}

/// `ssize_t writev(int fd, const struct iovec *iov, int iovcnt)`.
///
/// # Safety
/// As the libc's: `iov` holds `iovcnt` buffers.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn writev(fd: c_int, iov: *const IoVec, iovcnt: c_int) -> isize {
    // SAFETY: as `readv`'s.
    unsafe {
        let Ok(count) = usize::try_from(iovcnt) else { return libc::fail(EINVAL) as isize };
        let buffers = IoVec::all(iov, count);
        let Some((vtable, data)) = libc::descriptor(fd) else { return -1 };
        if let Some(socket) = tcp::connected(vtable, data) {
            return tcp::send(socket, buffers, 0);
        }
        match buffers.iter().find(|b| b.len > 0) {
            Some(first) => write(fd, first.base as *const c_void, first.len),
            None => write(fd, ptr::null(), 0),
        }
    }
}
