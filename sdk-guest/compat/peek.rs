//! `MSG_PEEK` through the host's `tg:plan/peek`, which wasi:sockets lacks.
//!
//! wasi-sdk 30 refuses the flag (`EOPNOTSUPP`), so std's and tokio's `peek`,
//! `peek_from` and `peek_sender` failed with "Unsupported". The host copies
//! what the next read would take and leaves it queued; [`crate::tcp::recv`]
//! and `recv.rs`'s UDP receive call these in place of reading, and wait as a
//! read waits when there is nothing to peek at yet.
//!
//! Owns: the two imports and their lowered results. Does not own: waiting,
//! or the sockets.

use core::ffi::c_int;
use core::ptr;

use crate::libc::{self, Handle, IpSocketAddress, List, OutputSockaddr};

/// `recv` flag: look, do not take.
pub(crate) const MSG_PEEK: c_int = 0x2;

/// `result<option<list<u8>>, error-code>`, as the canonical ABI lays it out:
/// each case's payload after its discriminant, at the payload's alignment.
#[repr(C)]
struct TcpPeeked {
    is_err: u8,
    _pad: [u8; 3],
    /// The option's case, or the error's code.
    tag: u8,
    _pad2: [u8; 3],
    bytes: List<u8>,
}

/// `peeked-datagram`.
#[repr(C)]
struct Datagram {
    data: List<u8>,
    size: u64,
    remote_address: IpSocketAddress,
}

/// `result<option<peeked-datagram>, error-code>`.
#[repr(C)]
struct UdpPeeked {
    is_err: u8,
    _pad: [u8; 7],
    /// The option's case, or the error's code.
    tag: u8,
    _pad2: [u8; 7],
    datagram: Datagram,
}

// The offsets the canonical ABI gives: a `result`'s payload, and an
// `option`'s, at their alignment (4 for a list, 8 for the record's `u64`).
const _: () = assert!(core::mem::offset_of!(TcpPeeked, tag) == 4);
const _: () = assert!(core::mem::offset_of!(TcpPeeked, bytes) == 8);
const _: () = assert!(core::mem::offset_of!(Datagram, remote_address) == 16);
const _: () = assert!(core::mem::offset_of!(UdpPeeked, tag) == 8);
const _: () = assert!(core::mem::offset_of!(UdpPeeked, datagram) == 16);
const _: () = assert!(core::mem::size_of::<UdpPeeked>() == 64);

#[link(wasm_import_module = "tg:plan/peek@0.1.0")]
unsafe extern "C" {
    /// `peek-tcp: func(socket: borrow<tcp-socket>, len: u64) -> result<option<list<u8>>, error-code>`.
    #[link_name = "peek-tcp"]
    fn peek_tcp(socket: Handle, len: i64, ret: *mut TcpPeeked);
    /// `peek-udp: func(socket: borrow<udp-socket>, len: u64) -> result<option<peeked-datagram>, error-code>`.
    #[link_name = "peek-udp"]
    fn peek_udp(socket: Handle, len: i64, ret: *mut UdpPeeked);
}

/// What a peek found.
pub(crate) enum Peeked {
    /// `copied` bytes of what waits went to the buffer; `size` bytes wait (a datagram's whole size).
    Some { copied: usize, size: u64 },
    /// Nothing has arrived yet.
    NothingYet,
    /// The stream ended: a read returns end of stream.
    Ended,
}

/// Peeks at up to `length` bytes of TCP socket `socket` into `buffer`;
/// `Err` is the errno.
///
/// # Safety
/// `socket` is a live TCP socket's handle; `buffer` holds `length` bytes.
pub(crate) unsafe fn tcp(socket: Handle, buffer: *mut u8, length: usize) -> Result<Peeked, c_int> {
    // SAFETY: the host writes the result; a list it returns was allocated
    // with this memory's `cabi_realloc` (wasi-libc's `malloc`) and is ours.
    unsafe {
        let mut ret: TcpPeeked = core::mem::zeroed();
        peek_tcp(socket, length as i64, &mut ret);
        if ret.is_err != 0 {
            return Err(libc::__wasi_sockets_utils__map_error(ret.tag));
        }
        if ret.tag == 0 {
            return Ok(Peeked::Ended);
        }
        let copied = ret.bytes.len.min(length);
        ptr::copy_nonoverlapping(ret.bytes.ptr, buffer, copied);
        libc::free_list(ret.bytes.ptr, ret.bytes.len);
        Ok(if copied == 0 { Peeked::NothingYet } else { Peeked::Some { copied, size: copied as u64 } })
    }
}

/// Peeks at the datagram UDP socket `socket` would receive next: up to
/// `length` of its bytes into `buffer`, its sender where `output` says;
/// `Err` is the errno.
///
/// # Safety
/// `socket` is a live UDP socket's handle; `buffer` holds `length` bytes;
/// `output` was made by `__wasi_sockets_utils__output_addr_validate`.
pub(crate) unsafe fn udp(
    socket: Handle,
    buffer: *mut u8,
    length: usize,
    output: &mut OutputSockaddr,
) -> Result<Peeked, c_int> {
    // SAFETY: as `tcp`'s.
    unsafe {
        let mut ret: UdpPeeked = core::mem::zeroed();
        peek_udp(socket, length as i64, &mut ret);
        if ret.is_err != 0 {
            return Err(libc::__wasi_sockets_utils__map_error(ret.tag));
        }
        if ret.tag == 0 {
            return Ok(Peeked::NothingYet);
        }
        let datagram = &ret.datagram;
        if output.tag != 0 {
            libc::__wasi_sockets_utils__output_addr_write(&datagram.remote_address, output);
        }
        let copied = datagram.data.len.min(length);
        ptr::copy_nonoverlapping(datagram.data.ptr, buffer, copied);
        libc::free_list(datagram.data.ptr, datagram.data.len);
        Ok(Peeked::Some { copied, size: datagram.size })
    }
}
