//! `getsockopt` and `setsockopt` for `wasm32-wasip2` plans, with
//! `SO_RCVTIMEO` and `SO_SNDTIMEO` on UDP sockets.
//!
//! wasi-sdk 30's UDP sockets answer both with `ENOPROTOOPT`, so std's
//! `UdpSocket::set_read_timeout` fails with "Protocol not available (os
//! error 50)" and a plan that wants a receive to give up has to call `poll`
//! itself. wasi-libc implemented them in PR #852 (wasi-sdk 33); until the
//! toolchain ships that libc, these replace the libc's (all of its
//! `sockopt.c`). A UDP socket's timeouts are kept here, as Linux keeps them:
//! a receive that waits longer than the receive timeout fails with `EAGAIN`
//! ([`crate::recv`]); a send on the simulated network never waits, so the
//! send timeout is only kept and reported. Every other option, and every
//! other socket, goes to the descriptor's own functions.
//!
//! Owns: the two symbols, and the table of the timeouts UDP sockets were
//! given. Does not own: the sockets (the libc's `wasip2_udp.c`).

use core::ffi::{c_int, c_void};
use core::mem::size_of;
use core::ptr;

use crate::libc::{self, EDOM, EINVAL, ENOMEM, ENOPROTOOPT, UdpSocket};
use crate::recv::is_udp;

const SOL_SOCKET: c_int = 0x7fff_ffff;
/// Their values where `long` is 32 bits, as on `wasm32`.
const SO_RCVTIMEO: c_int = 66;
const SO_SNDTIMEO: c_int = 67;

/// `struct timeval`: both fields are 64-bit on WASI.
#[repr(C)]
struct TimeVal {
    sec: i64,
    usec: i64,
}

/// A socket's receive and send timeouts, in nanoseconds (0: none).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timeouts {
    pub(crate) receive: u64,
    send: u64,
}

/// The distinct timeout pairs sockets were given; a socket notes the index
/// (from 1) of its pair in the libc struct's padding (`UdpSocket::timeouts`),
/// which a new socket's `calloc` zeroes: a socket never inherits the
/// timeouts of one closed before it at the same address. Plans use a few
/// distinct timeouts, so the table stays small; it holds at most `u16::MAX`.
struct Table {
    pairs: *mut Timeouts,
    len: usize,
}

static mut TABLE: Table = Table { pairs: ptr::null_mut(), len: 0 };

/// The timeouts of `socket`.
pub(crate) fn of(socket: &UdpSocket) -> Timeouts {
    // SAFETY: single-threaded; `TABLE` holds `len` pairs and a socket's index
    // was handed out by `index_of`, so it is within them.
    unsafe {
        let table = &*ptr::addr_of!(TABLE);
        match socket.timeouts {
            0 => Timeouts { receive: 0, send: 0 },
            i => *table.pairs.add(usize::from(i) - 1),
        }
    }
}

/// The index (from 1) of `pair` in the table, added if new; `None` when the
/// table is full or cannot grow.
fn index_of(pair: Timeouts) -> Option<u16> {
    // SAFETY: single-threaded; the table's first `len` pairs are initialised,
    // and it grows through the libc's `realloc`.
    unsafe {
        let table = &mut *ptr::addr_of_mut!(TABLE);
        for i in 0..table.len {
            if *table.pairs.add(i) == pair {
                return u16::try_from(i + 1).ok();
            }
        }
        if table.len >= usize::from(u16::MAX) {
            return None;
        }
        let grown = libc::realloc(table.pairs as *mut c_void, (table.len + 1) * size_of::<Timeouts>());
        if grown.is_null() {
            return None;
        }
        table.pairs = grown as *mut Timeouts;
        table.pairs.add(table.len).write(pair);
        table.len += 1;
        u16::try_from(table.len).ok()
    }
}

/// `int getsockopt(int socket, int level, int name, void *value, socklen_t *length)`.
///
/// # Safety
/// As the libc's: `value` holds `*length` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    value: *mut c_void,
    length: *mut u32,
) -> c_int {
    // SAFETY: `libc::descriptor`, as in `recv.rs`; a UDP socket's data is a
    // `udp_socket_t`.
    unsafe {
        let Some((vtable, data)) = libc::descriptor(fd) else { return -1 };
        if value.is_null() || length.is_null() || (*length as usize) < size_of::<c_int>() {
            return libc::fail(EINVAL);
        }
        let Some(own) = vtable.getsockopt else { return libc::fail(ENOPROTOOPT) };
        if !(is_udp(vtable) && level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO)) {
            return own(data, level, name, value, length);
        }
        if (*length as usize) < size_of::<TimeVal>() {
            return libc::fail(EINVAL);
        }
        let timeouts = of(&*(data as *const UdpSocket));
        let ns = if name == SO_RCVTIMEO { timeouts.receive } else { timeouts.send };
        (value as *mut TimeVal)
            .write_unaligned(TimeVal { sec: (ns / 1_000_000_000) as i64, usec: (ns % 1_000_000_000 / 1000) as i64 });
        *length = size_of::<TimeVal>() as u32;
        0
    }
}

/// `int setsockopt(int socket, int level, int name, const void *value, socklen_t length)`.
///
/// # Safety
/// As the libc's: `value` holds `length` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn setsockopt(fd: c_int, level: c_int, name: c_int, value: *const c_void, length: u32) -> c_int {
    // SAFETY: as `getsockopt`.
    unsafe {
        let Some((vtable, data)) = libc::descriptor(fd) else { return -1 };
        if value.is_null() || (length as usize) < size_of::<c_int>() {
            return libc::fail(EINVAL);
        }
        let Some(own) = vtable.setsockopt else { return libc::fail(ENOPROTOOPT) };
        if !(is_udp(vtable) && level == SOL_SOCKET && (name == SO_RCVTIMEO || name == SO_SNDTIMEO)) {
            return own(data, level, name, value, length);
        }
        if (length as usize) < size_of::<TimeVal>() {
            return libc::fail(EINVAL);
        }
        let time = (value as *const TimeVal).read_unaligned();
        // Linux's checks: a microsecond count outside a second is refused, a
        // negative time means no timeout.
        if !(0..1_000_000).contains(&time.usec) {
            return libc::fail(EDOM);
        }
        // Compared, not multiplied with an overflow check: that check is a
        // call to compiler-rt's `__multi3` on wasm32, which this object may
        // not reference (`lib.rs`).
        const MAX_SECONDS: i64 = (u64::MAX / 1_000_000_000 - 1) as i64;
        let ns = match time.sec {
            ..0 => 0,
            sec if sec > MAX_SECONDS => u64::MAX,
            sec => sec as u64 * 1_000_000_000 + time.usec as u64 * 1000,
        };
        let socket = &mut *(data as *mut UdpSocket);
        let mut pair = of(socket);
        if name == SO_RCVTIMEO {
            pair.receive = ns;
        } else {
            pair.send = ns;
        }
        if pair == (Timeouts { receive: 0, send: 0 }) {
            socket.timeouts = 0;
            return 0;
        }
        match index_of(pair) {
            Some(i) => {
                socket.timeouts = i;
                0
            }
            None => libc::fail(ENOMEM),
        }
    }
}
