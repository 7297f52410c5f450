//! What the replacements reach of wasi-sdk 30's wasi-libc: its descriptor
//! table (`wasi/descriptor_table.h`) and the functions they call.
//!
//! Owns: the layouts, copied in shape (not code) from that libc's private
//! headers and checked against the offsets its own objects load from. Does
//! not own: behaviour — that is `fcntl.rs` and `poll.rs`.

use core::ffi::{c_int, c_short, c_void};
use core::mem::offset_of;

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
    pub getsockname: *const c_void,
    pub getpeername: *const c_void,
    pub listen: *const c_void,
    pub recvfrom: *const c_void,
    pub sendto: *const c_void,
    pub shutdown: *const c_void,
    pub getsockopt: *const c_void,
    pub setsockopt: *const c_void,
    pub poll_register: Option<PollHook>,
    pub poll_finish: Option<PollHook>,
}

// The offsets wasi-sdk 30's `fcntl`, `ioctl` and `poll` load these entries from.
const _: () = assert!(offset_of!(VTable, get_read_stream) == 4);
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
    /// `wasi:clocks/monotonic-clock` `subscribe-duration`, in nanoseconds.
    pub fn monotonic_clock_subscribe_duration(ns: u64) -> Handle;
    /// `wasi:io/poll` `poll`: the indices of the ready pollables.
    pub fn poll_poll(pollables: *const List<Handle>, ready: *mut List<u32>);
    pub fn wasip2_list_u32_free(list: *mut List<u32>);
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
