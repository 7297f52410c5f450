//! `send` and `sendto` for `wasm32-wasip2` plans: a connected TCP socket's
//! sends report the socket's error ([`crate::tcp`]), and a connected UDP
//! socket may send to an address other than its peer, as on Linux.
//!
//! The two functions are all of the libc's `send.c`, so its object is never
//! linked beside these. They check what the libc's check, then hand a
//! connected TCP socket's send, with flags the libc supports and no address,
//! to [`crate::tcp::send`], and a connected UDP socket's send to an address
//! to `udp_send_elsewhere`; everything else goes to the descriptor's own
//! `sendto`, which answers as before.
//!
//! Owns: the `send`/`sendto` symbols of the plan. Does not own: the sockets.

use core::ffi::{c_int, c_void};
use core::ptr;

use crate::libc::{self, EAGAIN, EINVAL, EOPNOTSUPP, IoVec, IpSocketAddress, List, OutgoingDatagram, UdpSocket};
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
            return tcp::send(socket, &IoVec::one(buffer as *mut u8, length), flags);
        }
        if flags & !MSG_DONTWAIT == 0 && !addr.is_null() && vtable.is_udp() {
            let socket = &mut *(data as *mut UdpSocket);
            if socket.state == libc::UDP_CONNECTED {
                return udp_send_elsewhere(socket, buffer as *const u8, length, flags, addr, addrlen);
            }
        }
        own_sendto(data, buffer, length, flags, addr, addrlen)
    }
}

/// A connected UDP socket's send to `addr`, which need not be its peer: on
/// Linux it goes there (the peer is only the default, and the only sender
/// heard), where the libc refuses it with `EISCONN`. Otherwise as the libc's
/// UDP `sendto`, step for step.
///
/// # Safety
/// `socket` is a live, connected UDP socket's data; `buffer` holds `length`
/// bytes; `addr` holds `addrlen`.
unsafe fn udp_send_elsewhere(
    socket: &mut UdpSocket,
    buffer: *const u8,
    length: usize,
    flags: c_int,
    addr: *const c_void,
    addrlen: u32,
) -> isize {
    // SAFETY: the libc's own functions on this socket's handles, as its
    // `udp_sendto` calls them; `send` only reads the list.
    unsafe {
        let mut datagram = OutgoingDatagram {
            data: List { ptr: buffer as *mut u8, len: length },
            has_remote_address: true,
            remote_address: IpSocketAddress([0; 32]),
        };
        let mut errno = 0;
        if !libc::__wasi_sockets_utils__parse_address(
            socket.family,
            addr,
            addrlen,
            &mut datagram.remote_address,
            &mut errno,
        ) {
            return libc::fail(errno) as isize;
        }
        let block = socket.blocking && flags & MSG_DONTWAIT == 0;
        let outgoing = libc::udp_borrow_outgoing_datagram_stream(socket.streams.outgoing);
        let datagrams = List { ptr: &mut datagram as *mut OutgoingDatagram, len: 1 };
        loop {
            let (mut permitted, mut sent, mut error) = (0u64, 0u64, 0u8);
            if !libc::udp_method_outgoing_datagram_stream_check_send(outgoing, &mut permitted, &mut error) {
                return libc::fail(libc::__wasi_sockets_utils__map_error(error)) as isize;
            }
            if permitted > 0 {
                if !libc::udp_method_outgoing_datagram_stream_send(outgoing, &datagrams, &mut sent, &mut error) {
                    return libc::fail(libc::__wasi_sockets_utils__map_error(error)) as isize;
                }
                if sent == 1 {
                    return length as isize;
                }
            }
            if !block {
                return libc::fail(EAGAIN) as isize;
            }
            if socket.streams.outgoing_pollable == 0 {
                socket.streams.outgoing_pollable = libc::udp_method_outgoing_datagram_stream_subscribe(outgoing);
            }
            libc::poll_method_pollable_block(libc::poll_borrow_pollable(socket.streams.outgoing_pollable));
        }
    }
}
