//! `recv` and `recvfrom` for `wasm32-wasip2` plans, without the leak of every
//! datagram a UDP socket receives.
//!
//! wasi-sdk 30's UDP `recvfrom` takes one datagram from
//! `incoming-datagram-stream.receive`, copies its bytes out and frees the
//! list with `udp_list_incoming_datagram_free`, which its generated bindings
//! write to free the list's array and each datagram's address, not the
//! datagram's `data`: every datagram a plan receives stays allocated in its
//! linear memory for the rest of the run. A 5000-node DHT held 40 KiB of old
//! datagrams a node at the end; a UDP ping of 200,000 rounds outgrew 4 MiB.
//! std's `UdpSocket` and mio's (tokio's) all receive through `recvfrom`.
//! wasi-libc's bindings still free it so (the `udp.c` that later replaced
//! `wasip2_udp.c` calls the same function), so nothing upstream retires this yet.
//!
//! The two functions are all of the libc's `recv.c`, so its object is never
//! linked beside these. A UDP socket's receive is done here, as the libc does
//! it, with the datagram's bytes freed; a connected TCP socket's is
//! [`crate::tcp`]'s, which reports a reset as one; everything else — flags
//! the libc refuses, an unbound or unconnected socket — goes to the
//! descriptor's own `recvfrom`, which answers as before.
//!
//! Owns: the `recv`/`recvfrom` symbols of the plan. Does not own: the UDP
//! socket's state (the libc's `wasip2_udp.c`, whose layout is in [`crate::libc`]).

use core::ffi::{c_int, c_void};
use core::ptr;

use crate::libc::{
    self, EAGAIN, EINVAL, EOPNOTSUPP, IncomingDatagram, IoVec, List, OutputSockaddr, UdpSocket, UdpStreams,
};
use crate::peek::{self, MSG_PEEK, Peeked};
use crate::tcp;

/// The flags the libc's UDP `recvfrom` supports; with any other it answers `EOPNOTSUPP`.
const MSG_TRUNC: c_int = 0x20;
const MSG_DONTWAIT: c_int = 0x40;

/// `ssize_t recv(int socket, void *buffer, size_t length, int flags)`.
///
/// # Safety
/// As the libc's: `buffer` holds `length` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn recv(fd: c_int, buffer: *mut c_void, length: usize, flags: c_int) -> isize {
    // SAFETY: the caller's contract, with no address wanted.
    unsafe { recvfrom(fd, buffer, length, flags, ptr::null_mut(), ptr::null_mut()) }
}

/// `ssize_t recvfrom(int socket, void *buffer, size_t length, int flags,
/// struct sockaddr *addr, socklen_t *addrlen)`.
///
/// # Safety
/// As the libc's: `buffer` holds `length` bytes; `addr`, if not NULL, holds
/// `*addrlen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn recvfrom(
    fd: c_int,
    buffer: *mut c_void,
    length: usize,
    flags: c_int,
    addr: *mut c_void,
    addrlen: *mut u32,
) -> isize {
    // SAFETY: `libc::descriptor` gives a live descriptor's vtable and the data
    // its functions take — a `udp_socket_t` for the UDP vtable. `build.rs`
    // links this object only for wasi-sdk 30's libc.
    unsafe {
        let Some((vtable, data)) = libc::descriptor(fd) else { return -1 };
        if buffer.is_null() {
            return libc::fail(EINVAL) as isize;
        }
        let Some(own_recvfrom) = vtable.recvfrom else {
            return libc::fail(EOPNOTSUPP) as isize;
        };
        if flags & !(tcp::MSG_DONTWAIT | MSG_PEEK) == 0
            && addr.is_null()
            && addrlen.is_null()
            && let Some(socket) = tcp::connected(vtable, data)
        {
            return tcp::recv(socket, &IoVec::one(buffer as *mut u8, length), flags);
        }
        if !vtable.is_udp() || flags & !(MSG_TRUNC | MSG_DONTWAIT | MSG_PEEK) != 0 {
            return own_recvfrom(data, buffer, length, flags, addr, addrlen);
        }
        udp_recvfrom(&mut *(data as *mut UdpSocket), buffer as *mut u8, length, flags, addr, addrlen)
    }
}

/// The libc's UDP `recvfrom` for supported `flags`, step for step, but for
/// freeing the datagram's bytes; and `MSG_PEEK` ([`crate::peek`]).
///
/// # Safety
/// `socket` is a live UDP descriptor's data; `buffer` holds `length` bytes.
unsafe fn udp_recvfrom(
    socket: &mut UdpSocket,
    buffer: *mut u8,
    length: usize,
    flags: c_int,
    addr: *mut c_void,
    addrlen: *mut u32,
) -> isize {
    // SAFETY: the libc's own functions on this socket's handles, as its
    // `udp_recvfrom` calls them; the list `receive` returns is ours to free.
    unsafe {
        let mut output = OutputSockaddr { tag: 0, addr: ptr::null_mut(), addrlen: ptr::null_mut() };
        if !libc::__wasi_sockets_utils__output_addr_validate(socket.family, addr, addrlen, &mut output) {
            return libc::fail(EINVAL) as isize;
        }
        if socket.state == libc::UDP_BOUND_NOSTREAMS && create_streams(socket) < 0 {
            return -1;
        }
        if socket.state != libc::UDP_BOUND_STREAMING && socket.state != libc::UDP_CONNECTED {
            // Unlike a send, a receive does not bind.
            return libc::fail(EINVAL) as isize;
        }
        let block = socket.blocking && flags & MSG_DONTWAIT == 0;
        // `SO_RCVTIMEO` (`sockopt.rs`): a wait that reaches it fails, as on Linux.
        let deadline = match crate::sockopt::of(socket).receive {
            0 => None,
            timeout => Some(libc::monotonic_clock_now().saturating_add(timeout)),
        };
        let incoming = libc::udp_borrow_incoming_datagram_stream(socket.streams.incoming);
        loop {
            if flags & MSG_PEEK != 0 {
                match peek::udp(libc::udp_borrow_udp_socket(socket.socket), buffer, length, &mut output) {
                    Err(errno) => return libc::fail(errno) as isize,
                    Ok(Peeked::Some { copied, size }) => {
                        return if flags & MSG_TRUNC != 0 { size as isize } else { copied as isize };
                    }
                    Ok(Peeked::NothingYet | Peeked::Ended) => {}
                }
            } else {
                let mut datagrams = List::<IncomingDatagram> { ptr: ptr::null_mut(), len: 0 };
                let mut error = 0u8;
                if !libc::udp_method_incoming_datagram_stream_receive(incoming, 1, &mut datagrams, &mut error) {
                    return libc::fail(libc::__wasi_sockets_utils__map_error(error)) as isize;
                }
                if datagrams.len > 0 {
                    let datagram = &*datagrams.ptr;
                    let size = datagram.data.len;
                    let copied = size.min(length);
                    if output.tag != 0 {
                        libc::__wasi_sockets_utils__output_addr_write(&datagram.remote_address, &mut output);
                    }
                    ptr::copy_nonoverlapping(datagram.data.ptr, buffer, copied);
                    for i in 0..datagrams.len {
                        let data = &(*datagrams.ptr.add(i)).data;
                        libc::free_list(data.ptr, data.len);
                    }
                    libc::udp_list_incoming_datagram_free(&mut datagrams);
                    return if flags & MSG_TRUNC != 0 { size } else { copied } as isize;
                }
            }
            if !block {
                return libc::fail(EAGAIN) as isize;
            }
            let timeout = match deadline {
                None => 0,
                Some(deadline) => match deadline.checked_sub(libc::monotonic_clock_now()) {
                    None | Some(0) => return libc::fail(EAGAIN) as isize,
                    Some(left) => left,
                },
            };
            libc::wait(libc::poll_borrow_pollable(incoming_pollable(&mut socket.streams)), timeout);
        }
    }
}

/// The libc's `udp_create_streams` for a bound socket without a peer.
///
/// # Safety
/// `socket` is a live UDP descriptor's data, bound and without streams.
unsafe fn create_streams(socket: &mut UdpSocket) -> c_int {
    // SAFETY: `udp-socket.stream` on the socket's own handle, as the libc calls it.
    unsafe {
        let mut streams = [0; 2];
        let mut error = 0u8;
        let borrowed = libc::udp_borrow_udp_socket(socket.socket);
        if !libc::udp_method_udp_socket_stream(borrowed, ptr::null_mut(), &mut streams, &mut error) {
            return libc::fail(libc::__wasi_sockets_utils__map_error(error));
        }
        socket.streams =
            UdpStreams { incoming: streams[0], incoming_pollable: 0, outgoing: streams[1], outgoing_pollable: 0 };
        socket.state = libc::UDP_BOUND_STREAMING;
        0
    }
}

/// The incoming stream's pollable, created (and kept by the socket) on first use.
///
/// # Safety
/// `streams` are a live UDP socket's.
unsafe fn incoming_pollable(streams: &mut UdpStreams) -> libc::Handle {
    if streams.incoming_pollable == 0 {
        // SAFETY: subscribing to the socket's own incoming stream, as the libc does.
        streams.incoming_pollable = unsafe {
            libc::udp_method_incoming_datagram_stream_subscribe(libc::udp_borrow_incoming_datagram_stream(
                streams.incoming,
            ))
        };
    }
    streams.incoming_pollable
}
