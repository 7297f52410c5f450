//! `getsockopt` and `setsockopt` for `wasm32-wasip2` plans, with
//! `SO_RCVTIMEO`, `SO_SNDTIMEO` and `SO_BROADCAST` on UDP sockets.
//!
//! wasi-sdk 30's UDP sockets answer both with `ENOPROTOOPT`, so std's
//! `UdpSocket::set_read_timeout` fails with "Protocol not available (os
//! error 50)" and a plan that wants a receive to give up has to call `poll`
//! itself. wasi-libc implemented them in PR #852 (wasi-sdk 33); until the
//! toolchain ships that libc, these replace the libc's (all of its
//! `sockopt.c`). A UDP socket's timeouts are kept here, as Linux keeps them:
//! a receive that waits longer than the receive timeout fails with `EAGAIN`
//! ([`crate::recv`]); a send on the simulated network never waits, so the
//! send timeout is only kept and reported. `SO_BROADCAST`, which that libc
//! does not know, is kept and reported too (std's `set_broadcast` failed
//! with "Protocol not available"); the simulated network carries no
//! broadcasts, so a datagram to `255.255.255.255` still fails. Every other
//! option, and every other socket, goes to the descriptor's own functions.
//!
//! Owns: the two symbols, and the table of the options UDP sockets were
//! given. Does not own: the sockets (the libc's `wasip2_udp.c`).

use core::ffi::{c_int, c_void};
use core::mem::size_of;
use core::ptr;

use crate::libc::{self, EDOM, EINVAL, ENOMEM, ENOPROTOOPT, UdpSocket};

const SOL_SOCKET: c_int = 0x7fff_ffff;
/// Their values where `long` is 32 bits, as on `wasm32`.
const SO_RCVTIMEO: c_int = 66;
const SO_SNDTIMEO: c_int = 67;
/// Linux's value, which the `libc` crate gives std for WASI; wasi-libc has none.
const SO_BROADCAST: c_int = 6;

/// `struct timeval`: both fields are 64-bit on WASI.
#[repr(C)]
struct TimeVal {
    sec: i64,
    usec: i64,
}

/// A UDP socket's options that the libc does not keep: the receive and send
/// timeouts, in nanoseconds (0: none), and `SO_BROADCAST`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Options {
    pub(crate) receive: u64,
    send: u64,
    broadcast: bool,
}

/// A new socket's options.
const DEFAULT: Options = Options { receive: 0, send: 0, broadcast: false };

/// The distinct option sets sockets were given; a socket notes the index
/// (from 1) of its set in the libc struct's padding (`UdpSocket::options`),
/// which a new socket's `calloc` zeroes: a socket never inherits the
/// options of one closed before it at the same address. Plans use a few
/// distinct sets, so the table stays small; it holds at most `u16::MAX`.
struct Table {
    sets: *mut Options,
    len: usize,
}

static mut TABLE: Table = Table { sets: ptr::null_mut(), len: 0 };

/// The options of `socket`.
pub(crate) fn of(socket: &UdpSocket) -> Options {
    // SAFETY: single-threaded; `TABLE` holds `len` pairs and a socket's index
    // was handed out by `index_of`, so it is within them.
    unsafe {
        let table = &*ptr::addr_of!(TABLE);
        match socket.options {
            0 => DEFAULT,
            i => *table.sets.add(usize::from(i) - 1),
        }
    }
}

/// The index (from 1) of `set` in the table, added if new; `None` when the
/// table is full or cannot grow.
fn index_of(set: Options) -> Option<u16> {
    // SAFETY: single-threaded; the table's first `len` pairs are initialised,
    // and it grows through the libc's `realloc`.
    unsafe {
        let table = &mut *ptr::addr_of_mut!(TABLE);
        for i in 0..table.len {
            if *table.sets.add(i) == set {
                return u16::try_from(i + 1).ok();
            }
        }
        if table.len >= usize::from(u16::MAX) {
            return None;
        }
        let grown = libc::realloc(table.sets as *mut c_void, (table.len + 1) * size_of::<Options>());
        if grown.is_null() {
            return None;
        }
        table.sets = grown as *mut Options;
        table.sets.add(table.len).write(set);
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
        if !(vtable.is_udp() && level == SOL_SOCKET && matches!(name, SO_RCVTIMEO | SO_SNDTIMEO | SO_BROADCAST)) {
            return own(data, level, name, value, length);
        }
        let options = of(&*(data as *const UdpSocket));
        if name == SO_BROADCAST {
            (value as *mut c_int).write_unaligned(c_int::from(options.broadcast));
            *length = size_of::<c_int>() as u32;
            return 0;
        }
        if (*length as usize) < size_of::<TimeVal>() {
            return libc::fail(EINVAL);
        }
        let ns = if name == SO_RCVTIMEO { options.receive } else { options.send };
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
        if !(vtable.is_udp() && level == SOL_SOCKET && matches!(name, SO_RCVTIMEO | SO_SNDTIMEO | SO_BROADCAST)) {
            return own(data, level, name, value, length);
        }
        let socket = &mut *(data as *mut UdpSocket);
        let mut set = of(socket);
        if name == SO_BROADCAST {
            set.broadcast = (value as *const c_int).read_unaligned() != 0;
        } else {
            match timeout(value, length) {
                Ok(ns) if name == SO_RCVTIMEO => set.receive = ns,
                Ok(ns) => set.send = ns,
                Err(errno) => return libc::fail(errno),
            }
        }
        if set == DEFAULT {
            socket.options = 0;
            return 0;
        }
        match index_of(set) {
            Some(i) => {
                socket.options = i;
                0
            }
            None => libc::fail(ENOMEM),
        }
    }
}

/// The nanoseconds of the `struct timeval` at `value`, with Linux's checks.
///
/// # Safety
/// `value` holds `length` bytes.
unsafe fn timeout(value: *const c_void, length: u32) -> Result<u64, c_int> {
    if (length as usize) < size_of::<TimeVal>() {
        return Err(EINVAL);
    }
    // SAFETY: checked to hold a `timeval`, perhaps unaligned.
    let time = unsafe { (value as *const TimeVal).read_unaligned() };
    // A microsecond count outside a second is refused, a negative time means
    // no timeout.
    if !(0..1_000_000).contains(&time.usec) {
        return Err(EDOM);
    }
    // Compared, not multiplied with an overflow check: that check is a
    // call to compiler-rt's `__multi3` on wasm32, which this object may
    // not reference (`lib.rs`).
    const MAX_SECONDS: i64 = (u64::MAX / 1_000_000_000 - 1) as i64;
    Ok(match time.sec {
        ..0 => 0,
        sec if sec > MAX_SECONDS => u64::MAX,
        sec => sec as u64 * 1_000_000_000 + time.usec as u64 * 1000,
    })
}
