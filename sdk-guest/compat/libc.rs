//! What the replacements reach of wasi-sdk 30's wasi-libc: its descriptor
//! table (`wasi/descriptor_table.h`) and the functions they call.
//!
//! Owns: the layouts, copied in shape (not code) from that libc's private
//! headers and checked against the offsets its own objects load from, and
//! the few steps every replacement takes alike (`errno`, freeing a returned
//! list, waiting with a timeout). Does not own: behaviour — that is the
//! replacements' own files.

use core::ffi::{c_int, c_short, c_void};
use core::mem::{offset_of, size_of};
use core::ptr;

/// wasi-libc's `descriptor_table_entry_t`: a fat pointer to one descriptor.
#[repr(C)]
pub struct Entry {
    pub data: *mut c_void,
    pub vtable: *const VTable,
}

/// A `wasi:io` resource handle as wasi-libc's bindings pass it: a struct of
/// one `int32_t`, which the C ABI passes and returns as the integer.
pub type Handle = u32;

/// `get_read_stream` / `get_write_stream`: the stream's handle, and where the
/// descriptor keeps its offset and its (lazily created) pollable.
pub type GetStream = unsafe extern "C" fn(*mut c_void, *mut Handle, *mut *mut i64, *mut *mut Handle) -> c_int;
/// `poll_register` / `poll_finish`: the descriptor's own handling of `poll`.
pub type PollHook = unsafe extern "C" fn(*mut c_void, *mut c_void, c_short) -> c_int;
/// `recvfrom`: `(data, buffer, length, flags, addr, addrlen)`.
pub type RecvFrom = unsafe extern "C" fn(*mut c_void, *mut c_void, usize, c_int, *mut c_void, *mut u32) -> isize;
/// `sendto`: `(data, buffer, length, flags, addr, addrlen)`.
pub type SendTo = unsafe extern "C" fn(*mut c_void, *const c_void, usize, c_int, *const c_void, u32) -> isize;
/// `getsockname` / `getpeername`: `(data, addr, addrlen)`.
pub type GetName = unsafe extern "C" fn(*mut c_void, *mut c_void, *mut u32) -> c_int;
/// `getsockopt`: `(data, level, name, value, length)`.
pub type GetSockOpt = unsafe extern "C" fn(*mut c_void, c_int, c_int, *mut c_void, *mut u32) -> c_int;
/// `setsockopt`: `(data, level, name, value, length)`.
pub type SetSockOpt = unsafe extern "C" fn(*mut c_void, c_int, c_int, *const c_void, u32) -> c_int;

/// wasi-libc's `descriptor_vtable_t` for `wasm32-wasip2`, in declaration
/// order. Entries the replacements do not call are opaque pointers.
#[repr(C)]
pub struct VTable {
    pub free: *const c_void,
    pub get_read_stream: Option<GetStream>,
    pub get_write_stream: Option<GetStream>,
    pub set_blocking: Option<unsafe extern "C" fn(*mut c_void, bool) -> c_int>,
    pub fstat: *const c_void,
    pub get_file: *const c_void,
    pub seek: *const c_void,
    pub close_streams: *const c_void,
    pub fcntl_getfl: Option<unsafe extern "C" fn(*mut c_void) -> c_int>,
    pub fcntl_setfl: Option<unsafe extern "C" fn(*mut c_void, c_int) -> c_int>,
    pub isatty: *const c_void,
    pub accept4: *const c_void,
    pub bind: *const c_void,
    pub connect: *const c_void,
    pub getsockname: Option<GetName>,
    pub getpeername: Option<GetName>,
    pub listen: *const c_void,
    pub recvfrom: Option<RecvFrom>,
    pub sendto: Option<SendTo>,
    pub shutdown: Option<unsafe extern "C" fn(*mut c_void, c_int) -> c_int>,
    pub getsockopt: Option<GetSockOpt>,
    pub setsockopt: Option<SetSockOpt>,
    pub poll_register: Option<PollHook>,
    pub poll_finish: Option<PollHook>,
}

impl VTable {
    /// Whether this is the libc's TCP vtable: of its vtables only TCP's accepts.
    pub fn is_tcp(&self) -> bool {
        !self.accept4.is_null()
    }

    /// Whether this is the libc's UDP vtable: of its socket vtables only
    /// TCP's accepts and has streams to read.
    pub fn is_udp(&self) -> bool {
        self.recvfrom.is_some() && self.accept4.is_null() && self.get_read_stream.is_none()
    }
}

// The offsets wasi-sdk 30's `fcntl`, `ioctl`, `poll`, `accept4` and `recvfrom` load these entries from.
const _: () = assert!(offset_of!(VTable, get_read_stream) == 4);
const _: () = assert!(offset_of!(VTable, accept4) == 44);
const _: () = assert!(offset_of!(VTable, getsockname) == 56);
const _: () = assert!(offset_of!(VTable, getpeername) == 60);
const _: () = assert!(offset_of!(VTable, recvfrom) == 68);
const _: () = assert!(offset_of!(VTable, shutdown) == 76);
const _: () = assert!(offset_of!(VTable, sendto) == 72);
const _: () = assert!(offset_of!(VTable, getsockopt) == 80);
const _: () = assert!(offset_of!(VTable, setsockopt) == 84);
const _: () = assert!(offset_of!(VTable, set_blocking) == 12);
const _: () = assert!(offset_of!(VTable, fcntl_getfl) == 32);
const _: () = assert!(offset_of!(VTable, fcntl_setfl) == 36);
const _: () = assert!(offset_of!(VTable, poll_register) == 88);
const _: () = assert!(offset_of!(VTable, poll_finish) == 92);

/// A list as wasi-libc's bindings pass it: `{ ptr, len }`.
#[repr(C)]
pub struct List<T> {
    pub ptr: *mut T,
    pub len: usize,
}

/// `udp_socket_t` (`wasip2_udp.c`): the data of a UDP socket's descriptor.
#[repr(C)]
pub struct UdpSocket {
    pub socket: Handle,
    /// Created when first polled; 0 until then.
    pub socket_pollable: Handle,
    pub blocking: bool,
    /// `network_ip_address_family_t`.
    pub family: u8,
    /// Padding in the libc's struct, which `calloc` zeroes for every new
    /// socket and the libc never touches: where `sockopt.rs` notes the
    /// socket's options (0: the defaults).
    pub options: u16,
    /// `udp_socket_state_t`'s tag: one of the `UDP_*` below.
    pub state: u32,
    /// The state's union: the streams, in the two states that have them.
    pub streams: UdpStreams,
}

/// Bound, no datagram streams yet: they are created by the first send or receive.
pub const UDP_BOUND_NOSTREAMS: u32 = 1;
/// Bound, with streams that take datagrams from anyone.
pub const UDP_BOUND_STREAMING: u32 = 2;
/// Connected, with streams for one peer.
pub const UDP_CONNECTED: u32 = 3;

/// `udp_socket_streams_t`; a pollable is created when first needed, 0 until then.
#[repr(C)]
pub struct UdpStreams {
    pub incoming: Handle,
    pub incoming_pollable: Handle,
    pub outgoing: Handle,
    pub outgoing_pollable: Handle,
}

// The offsets wasi-sdk 30's `udp_recvfrom` loads and stores these at.
const _: () = assert!(offset_of!(UdpSocket, blocking) == 8);
const _: () = assert!(offset_of!(UdpSocket, family) == 9);
const _: () = assert!(offset_of!(UdpSocket, options) == 10);
const _: () = assert!(offset_of!(UdpSocket, state) == 12);
const _: () = assert!(offset_of!(UdpSocket, streams) == 16);
const _: () = assert!(offset_of!(UdpSocket, streams) + offset_of!(UdpStreams, incoming_pollable) == 20);

/// `tcp_socket_t` (`wasip2_tcp.c`): the data of a TCP socket's descriptor.
#[repr(C)]
pub struct TcpSocket {
    pub socket: Handle,
    pub socket_pollable: Handle,
    pub blocking: bool,
    pub fake_nodelay: bool,
    pub fake_reuseaddr: bool,
    pub family: u8,
    /// `tcp_socket_state_t`'s tag: one of the `TCP_*` below.
    pub state: u32,
    /// The state's union: the streams when connected; when the connect
    /// failed, the error's code in the first byte (0 once `SO_ERROR` took it).
    pub streams: TcpStreams,
    /// `SO_SNDTIMEO` and `SO_RCVTIMEO` in nanoseconds (0: none).
    pub send_timeout: u64,
    pub recv_timeout: u64,
}

pub const TCP_CONNECTED: u32 = 3;
pub const TCP_CONNECT_FAILED: u32 = 4;

/// `tcp_socket_state_connected_t`; a pollable is created when first needed, 0 until then.
#[repr(C)]
pub struct TcpStreams {
    pub input: Handle,
    pub input_pollable: Handle,
    pub output: Handle,
    pub output_pollable: Handle,
}

// The offsets wasi-sdk 30's `tcp_recvfrom`, `tcp_sendto` and `tcp_poll_finish` load and store these at.
const _: () = assert!(offset_of!(TcpSocket, blocking) == 8);
const _: () = assert!(offset_of!(TcpSocket, state) == 12);
const _: () = assert!(offset_of!(TcpSocket, streams) == 16);
const _: () = assert!(offset_of!(TcpSocket, streams) + offset_of!(TcpStreams, output_pollable) == 28);
const _: () = assert!(offset_of!(TcpSocket, send_timeout) == 32);
const _: () = assert!(offset_of!(TcpSocket, recv_timeout) == 40);

/// `streams_stream_error_t`: `closed`, or `last-operation-failed` with an
/// owned `wasi:io/error`.
#[repr(C)]
pub struct StreamError {
    pub tag: u8,
    pub error: Handle,
}

pub const STREAM_ERROR_LAST_OPERATION_FAILED: u8 = 0;

/// `network_ip_socket_address_t`: a variant the replacements only pass on.
#[repr(C, align(4))]
pub struct IpSocketAddress(pub [u8; 32]);

/// `udp_incoming_datagram_t`.
#[repr(C)]
pub struct IncomingDatagram {
    pub data: List<u8>,
    pub remote_address: IpSocketAddress,
}

const _: () = assert!(size_of::<IncomingDatagram>() == 40);

/// `udp_outgoing_datagram_t`: the bytes, and where to, if not the peer.
#[repr(C)]
pub struct OutgoingDatagram {
    pub data: List<u8>,
    pub has_remote_address: bool,
    pub remote_address: IpSocketAddress,
}

const _: () = assert!(offset_of!(OutgoingDatagram, remote_address) == 12);
const _: () = assert!(size_of::<OutgoingDatagram>() == 44);

/// `output_sockaddr_t` (`wasi/sockets_utils.h`): where a received datagram's
/// source address goes, as `__wasi_sockets_utils__output_addr_validate` makes it.
#[repr(C)]
pub struct OutputSockaddr {
    pub tag: u32,
    pub addr: *mut c_void,
    pub addrlen: *mut u32,
}

unsafe extern "C" {
    /// The descriptor's entry, or NULL with `errno` set (`EBADF`).
    pub fn descriptor_table_get_ref(fd: c_int) -> *mut Entry;
    pub fn __errno_location() -> *mut c_int;
    pub fn malloc(size: usize) -> *mut c_void;
    pub fn realloc(ptr: *mut c_void, size: usize) -> *mut c_void;
    pub fn free(ptr: *mut c_void);
    /// `wasi:io/streams` `input-stream.subscribe`, an owned pollable.
    pub fn streams_method_input_stream_subscribe(stream: Handle) -> Handle;
    /// `wasi:io/streams` `output-stream.subscribe`, an owned pollable.
    pub fn streams_method_output_stream_subscribe(stream: Handle) -> Handle;
    /// Borrows an owned pollable.
    pub fn poll_borrow_pollable(pollable: Handle) -> Handle;
    pub fn poll_pollable_drop_own(pollable: Handle);
    /// `wasi:clocks/monotonic-clock` `now`, in nanoseconds.
    pub fn monotonic_clock_now() -> u64;
    /// `wasi:clocks/monotonic-clock` `subscribe-duration`, in nanoseconds.
    pub fn monotonic_clock_subscribe_duration(ns: u64) -> Handle;
    /// `wasi:io/poll` `poll`: the indices of the ready pollables.
    pub fn poll_poll(pollables: *const List<Handle>, ready: *mut List<u32>);
    pub fn wasip2_list_u32_free(list: *mut List<u32>);
    pub fn poll_method_pollable_block(pollable: Handle);
    pub fn streams_borrow_input_stream(stream: Handle) -> Handle;
    pub fn streams_borrow_output_stream(stream: Handle) -> Handle;
    /// `input-stream.read`: up to `len` bytes, or `false` and the error.
    pub fn streams_method_input_stream_read(
        stream: Handle,
        len: u64,
        bytes: *mut List<u8>,
        error: *mut StreamError,
    ) -> bool;
    /// `input-stream.blocking-read`: as `read`, after waiting for a byte.
    pub fn streams_method_input_stream_blocking_read(
        stream: Handle,
        len: u64,
        bytes: *mut List<u8>,
        error: *mut StreamError,
    ) -> bool;
    /// `output-stream.check-write`: how many bytes may be written now.
    pub fn streams_method_output_stream_check_write(
        stream: Handle,
        permitted: *mut u64,
        error: *mut StreamError,
    ) -> bool;
    pub fn streams_method_output_stream_write(stream: Handle, bytes: *const List<u8>, error: *mut StreamError) -> bool;
    pub fn streams_method_output_stream_blocking_flush(stream: Handle, error: *mut StreamError) -> bool;
    pub fn wasip2_list_u8_free(list: *mut List<u8>);
    pub fn io_error_error_drop_own(error: Handle);
    /// A descriptor's input stream (and where it keeps its offset, or NULL)
    /// for `read`; 0, or -1 with `errno` set.
    pub fn __wasilibc_read_stream(
        fd: c_int,
        stream: *mut Handle,
        offset: *mut *mut i64,
        pollable: *mut Handle,
    ) -> c_int;
    /// A descriptor's output stream, its offset (or NULL) and a pollable for
    /// it, for `write`; 0, or -1 with `errno` set.
    pub fn __wasilibc_write_stream(
        fd: c_int,
        stream: *mut Handle,
        offset: *mut *mut i64,
        pollable: *mut Handle,
    ) -> c_int;
    pub fn udp_borrow_udp_socket(socket: Handle) -> Handle;
    pub fn tcp_borrow_tcp_socket(socket: Handle) -> Handle;
    /// `tcp-socket.remote-address`: the peer's address, or `false` and the error.
    pub fn tcp_method_tcp_socket_remote_address(socket: Handle, result: *mut IpSocketAddress, error: *mut u8) -> bool;
    /// `tcp-socket.shutdown`, `how` a `shutdown-type`; `false` and the error.
    pub fn tcp_method_tcp_socket_shutdown(socket: Handle, how: u8, error: *mut u8) -> bool;
    pub fn udp_borrow_outgoing_datagram_stream(stream: Handle) -> Handle;
    /// `outgoing-datagram-stream.check-send`: how many datagrams may be sent now.
    pub fn udp_method_outgoing_datagram_stream_check_send(stream: Handle, permitted: *mut u64, error: *mut u8) -> bool;
    /// `outgoing-datagram-stream.send`: how many of `datagrams` went.
    pub fn udp_method_outgoing_datagram_stream_send(
        stream: Handle,
        datagrams: *const List<OutgoingDatagram>,
        sent: *mut u64,
        error: *mut u8,
    ) -> bool;
    /// `outgoing-datagram-stream.subscribe`, an owned pollable.
    pub fn udp_method_outgoing_datagram_stream_subscribe(stream: Handle) -> Handle;
    /// Reads `address` as an address of `family`; `false` with the errno in `error`.
    pub fn __wasi_sockets_utils__parse_address(
        family: u8,
        address: *const c_void,
        len: u32,
        result: *mut IpSocketAddress,
        error: *mut c_int,
    ) -> bool;
    pub fn udp_borrow_incoming_datagram_stream(stream: Handle) -> Handle;
    /// `udp-socket.stream`: the incoming and outgoing streams, or `false` and the error.
    pub fn udp_method_udp_socket_stream(
        socket: Handle,
        remote: *mut IpSocketAddress,
        streams: *mut [Handle; 2],
        error: *mut u8,
    ) -> bool;
    /// `incoming-datagram-stream.receive`: up to `max` datagrams, or `false` and the error.
    pub fn udp_method_incoming_datagram_stream_receive(
        stream: Handle,
        max: u64,
        datagrams: *mut List<IncomingDatagram>,
        error: *mut u8,
    ) -> bool;
    /// `incoming-datagram-stream.subscribe`, an owned pollable.
    pub fn udp_method_incoming_datagram_stream_subscribe(stream: Handle) -> Handle;
    /// Frees the list's array (only: see `recv.rs`).
    pub fn udp_list_incoming_datagram_free(datagrams: *mut List<IncomingDatagram>);
    /// The `errno` for a `wasi:sockets` error code.
    pub fn __wasi_sockets_utils__map_error(error: u8) -> c_int;
    /// Checks `addr`/`addrlen` for a socket of `family` and says where to write.
    pub fn __wasi_sockets_utils__output_addr_validate(
        family: u8,
        addr: *mut c_void,
        addrlen: *mut u32,
        output: *mut OutputSockaddr,
    ) -> bool;
    /// Writes `address` where `output` says. C passes the struct by value,
    /// which the wasm C ABI does as a pointer to the caller's copy.
    pub fn __wasi_sockets_utils__output_addr_write(address: *const IpSocketAddress, output: *mut OutputSockaddr);
}

/// wasi-libc's `errno` values the replacements set (`__errno_values.h`).
pub const EAGAIN: c_int = 6;
pub const EBADF: c_int = 8;
pub const ENOTCONN: c_int = 53;
pub const ENOTSOCK: c_int = 57;
pub const EDOM: c_int = 18;
pub const EINVAL: c_int = 28;
pub const ENOMEM: c_int = 48;
pub const ENOPROTOOPT: c_int = 50;
pub const EIO: c_int = 29;
pub const EOPNOTSUPP: c_int = 58;
pub const EPIPE: c_int = 64;

/// Descriptor `fd`'s vtable and data, or `None` with `errno` set (`EBADF`).
///
/// # Safety
/// wasi-libc's descriptor table must be reachable, as it is in any plan. A
/// found entry is live: its `vtable` is one of the libc's static vtables,
/// laid out as [`VTable`], and its `data` is what that vtable's functions
/// take; both stay valid until the descriptor is closed.
pub unsafe fn descriptor(fd: c_int) -> Option<(&'static VTable, *mut c_void)> {
    // SAFETY: the libc's own lookup; see above for what a non-NULL entry holds.
    unsafe {
        let entry = descriptor_table_get_ref(fd);
        if entry.is_null() { None } else { Some((&*(*entry).vtable, (*entry).data)) }
    }
}

/// Frees a list the host returned: an empty one was never allocated (the
/// canonical ABI's `cabi_realloc` answers a zero size with the alignment, not
/// memory), so only a non-empty one is, as the libc's own `*_free` do.
///
/// # Safety
/// `ptr` and `len` are a list the host lowered into this memory, not freed yet.
pub unsafe fn free_list<T>(ptr: *mut T, len: usize) {
    if len > 0 {
        // SAFETY: a non-empty list was allocated by `cabi_realloc`, which is `malloc`'s.
        unsafe { free(ptr as *mut c_void) };
    }
}

/// Sets `errno` and returns -1, as a failing libc function does.
///
/// # Safety
/// wasi-libc's `errno` must be reachable, as it is in any plan.
pub unsafe fn fail(errno: c_int) -> c_int {
    // SAFETY: `__errno_location` returns this thread's `errno`.
    unsafe { *__errno_location() = errno };
    -1
}

/// Waits for `pollable`, or at most `timeout` nanoseconds if not 0; whether
/// it timed out.
///
/// # Safety
/// `pollable` is a live borrowed pollable.
pub unsafe fn wait(pollable: Handle, timeout: u64) -> bool {
    // SAFETY: `wasi:io/poll` and clock calls on handles this function owns or borrows.
    unsafe {
        if timeout == 0 {
            poll_method_pollable_block(pollable);
            return false;
        }
        let timer = monotonic_clock_subscribe_duration(timeout);
        let wait = [pollable, poll_borrow_pollable(timer)];
        let mut ready = List { ptr: ptr::null_mut(), len: 0 };
        poll_poll(&List { ptr: wait.as_ptr() as *mut Handle, len: 2 }, &mut ready);
        let timed_out = (0..ready.len).any(|i| *ready.ptr.add(i) == 1);
        wasip2_list_u32_free(&mut ready);
        poll_pollable_drop_own(timer);
        timed_out
    }
}

/// `struct iovec`: one of the buffers of `readv` and `writev`, and the one
/// buffer of the other reads and writes (see [`IoVec::one`]).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct IoVec {
    pub base: *mut u8,
    pub len: usize,
}

impl IoVec {
    /// The single buffer `base`, `len` bytes long.
    pub fn one(base: *mut u8, len: usize) -> [IoVec; 1] {
        [IoVec { base, len }]
    }

    /// The `count` buffers at `vectors`; none if `count` is 0, whatever `vectors` is.
    ///
    /// # Safety
    /// A positive `count` comes with `count` readable `iovec`s at `vectors`.
    pub unsafe fn all<'a>(vectors: *const IoVec, count: usize) -> &'a [IoVec] {
        if count == 0 {
            return &[];
        }
        // SAFETY: as the caller promises.
        unsafe { core::slice::from_raw_parts(vectors, count) }
    }

    /// Bytes the buffers hold in all.
    pub fn total(buffers: &[IoVec]) -> usize {
        buffers.iter().fold(0, |sum, b| sum.saturating_add(b.len))
    }

    /// Copies `len` bytes from `from` into the buffers, in order, as far as they go.
    ///
    /// # Safety
    /// The buffers are writable; `from` holds `len` bytes.
    pub unsafe fn scatter(buffers: &[IoVec], mut from: *const u8, mut len: usize) {
        for b in buffers {
            let n = b.len.min(len);
            if n > 0 {
                // SAFETY: as the caller promises, `n` bytes each side.
                unsafe {
                    ptr::copy_nonoverlapping(from, b.base, n);
                    from = from.add(n);
                }
                len -= n;
            }
        }
    }

    /// Copies the first `len` bytes of the buffers, in order, to `to`.
    ///
    /// # Safety
    /// The buffers are readable and hold at least `len` bytes; `to` has room for `len`.
    pub unsafe fn gather(buffers: &[IoVec], mut to: *mut u8, mut len: usize) {
        for b in buffers {
            let n = b.len.min(len);
            if n > 0 {
                // SAFETY: as the caller promises, `n` bytes each side.
                unsafe {
                    ptr::copy_nonoverlapping(b.base, to, n);
                    to = to.add(n);
                }
                len -= n;
            }
        }
    }
}
