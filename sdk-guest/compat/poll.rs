//! `poll` for `wasm32-wasip2` plans, without wasi-sdk 30's phantom event.
//!
//! In the wasi-libc of wasi-sdk 30, `__wasilibc_poll_ready` counts an event
//! even when it is given none: a UDP socket that is bound but has not sent or
//! received yet (no streams) reports itself ready for whatever was asked, and
//! when nothing was asked that is still one event, with `revents` zero. mio
//! stops asking for an event once it fired (it emulates edge triggering), so
//! a tokio `UdpSocket` bound and then left alone makes every `poll` return at
//! once with that phantom event: the runtime spins without ever waiting, and
//! in a simulation the clock never moves. wasi-libc fixed it in PR #732
//! (first in wasi-sdk 31).
//!
//! The three functions live in one object of wasi-libc (`poll.c`), so all
//! three are replaced, or the libc's object would be linked beside these and
//! clash: `poll` and `__wasilibc_poll_add` do what wasi-sdk 30's do,
//! `__wasilibc_poll_ready` ignores an empty event. `poll_state_t` is private
//! to them (the libc's socket code only hands it back), so its layout here is
//! this file's own.
//!
//! A call goes first to the host's watch set ([`crate::poll_set`]); this
//! file's list `poll` takes the calls it cannot.
//!
//! Owns: the `poll` path of the plan. Does not own: what a socket reports
//! (the libc's `poll_register`/`poll_finish`) or the wait (`wasi:io/poll`).

use core::ffi::{c_int, c_short, c_void};
use core::mem::{MaybeUninit, size_of};
use core::ptr;

use crate::libc::{self, EBADF, ENOMEM, EOPNOTSUPP, GetStream, Handle, List};

const POLLRDNORM: c_short = 0x1;
const POLLWRNORM: c_short = 0x2;
const POLLERR: c_short = 0x1000;
const POLLHUP: c_short = 0x2000;

/// `struct pollfd`.
#[repr(C)]
pub struct PollFd {
    pub fd: c_int,
    pub events: c_short,
    pub revents: c_short,
}

/// What one pollable handed to `wasi:io/poll` stands for.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct Slot {
    pub(crate) pollfd: *mut PollFd,
    pub(crate) events: c_short,
}

/// `poll_state_t`.
pub struct PollState {
    pub(crate) slots: *mut Slot,
    pub(crate) pollables: *mut Handle,
    pub(crate) len: usize,
    pub(crate) cap: usize,
    pub(crate) event_count: c_int,
    /// The `pollfd` being registered or finished.
    pub(crate) pollfd: *mut PollFd,
}

/// Adds `pollable` to wait on; when it is ready the current `pollfd` gets `events`.
///
/// # Safety
/// `state` is the state `poll` handed to a descriptor's `poll_register`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __wasilibc_poll_add(state: *mut PollState, events: c_short, pollable: Handle) -> c_int {
    // SAFETY: `state` is live for the `poll` call, its arrays hold `cap` slots.
    unsafe {
        let s = &mut *state;
        if s.len >= s.cap {
            return libc::fail(ENOMEM);
        }
        s.slots.add(s.len).write(Slot { pollfd: s.pollfd, events });
        s.pollables.add(s.len).write(pollable);
        s.len += 1;
    }
    0
}

/// The current `pollfd` is ready with `events`; no events is no event.
///
/// A TCP socket whose connect failed is also `POLLHUP`, and `POLLERR` while
/// its error is pending (until `SO_ERROR` takes it), as on Linux: wasi-sdk
/// 30's socket reports only the events asked for, and std's
/// `connect_timeout` takes a wait without either for a connection made, so
/// it returned `Ok` for a refused connect.
///
/// # Safety
/// `state` is the state `poll` handed to a descriptor's `poll_register` or `poll_finish`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __wasilibc_poll_ready(state: *mut PollState, events: c_short) {
    if events == 0 {
        return;
    }
    // SAFETY: `state` is live for the `poll` call and points at one of its
    // `pollfd`s, whose descriptor is the one being registered or finished.
    unsafe {
        let s = &mut *state;
        let pollfd = &mut *s.pollfd;
        if pollfd.revents == 0 {
            s.event_count += 1;
        }
        pollfd.revents |= events | connect_failed(pollfd.fd);
    }
}

/// `POLLHUP`, with `POLLERR` while the error is pending, if descriptor `fd`
/// is a TCP socket whose connect failed; otherwise nothing.
///
/// # Safety
/// As [`libc::descriptor`]'s.
unsafe fn connect_failed(fd: c_int) -> c_short {
    // SAFETY: the TCP vtable's data is a `tcp_socket_t`; a failed connect
    // keeps its error's code in the state's first byte.
    unsafe {
        let Some((vtable, data)) = libc::descriptor(fd) else { return 0 };
        if !vtable.is_tcp() {
            return 0;
        }
        let socket = &*(data as *const libc::TcpSocket);
        if socket.state != libc::TCP_CONNECT_FAILED {
            return 0;
        }
        let pending = *(&socket.streams as *const libc::TcpStreams as *const u8) != 0;
        POLLHUP | if pending { POLLERR } else { 0 }
    }
}

/// How many pollables `poll` keeps on the stack; more are allocated. An
/// async runtime polls a handful of descriptors most of the time, and this
/// path runs on every wait, so it should not call `malloc` for them.
const STACK_SLOTS: usize = 32;

/// `int poll(struct pollfd *fds, nfds_t nfds, int timeout)`.
///
/// # Safety
/// `fds` points at `nfds` `pollfd`s, as `poll(2)` requires.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn poll(fds: *mut PollFd, nfds: usize, timeout: c_int) -> c_int {
    // SAFETY: as this function's.
    if let Ok(count) = unsafe { crate::poll_set::poll(fds, nfds, timeout) } {
        return count;
    }
    // Every descriptor adds at most a read and a write pollable; one more for the timeout.
    let Some(cap) = nfds.checked_mul(2).and_then(|n| n.checked_add(1)) else {
        // SAFETY: errno is reachable.
        return unsafe { libc::fail(ENOMEM) };
    };
    if cap <= STACK_SLOTS {
        let mut slots = [const { MaybeUninit::<Slot>::uninit() }; STACK_SLOTS];
        let mut pollables = [0 as Handle; STACK_SLOTS];
        let slots = slots.as_mut_ptr() as *mut Slot;
        let mut state =
            PollState { slots, pollables: pollables.as_mut_ptr(), len: 0, cap, event_count: 0, pollfd: fds };
        // SAFETY: both arrays hold `cap` entries and outlive the call.
        return unsafe { poll_with(&mut state, fds, nfds, timeout) };
    }
    // SAFETY: plain allocations, freed below.
    unsafe {
        let slots = libc::malloc(cap.saturating_mul(size_of::<Slot>())) as *mut Slot;
        let pollables = libc::malloc(cap.saturating_mul(size_of::<Handle>())) as *mut Handle;
        let result = if slots.is_null() || pollables.is_null() {
            libc::fail(ENOMEM)
        } else {
            let mut state = PollState { slots, pollables, len: 0, cap, event_count: 0, pollfd: fds };
            poll_with(&mut state, fds, nfds, timeout)
        };
        libc::free(slots as *mut c_void);
        libc::free(pollables as *mut c_void);
        result
    }
}

/// `poll` with its state allocated: registers every descriptor, waits unless
/// one is ready already, and finishes the ready ones.
unsafe fn poll_with(state: &mut PollState, fds: *mut PollFd, nfds: usize, timeout: c_int) -> c_int {
    // SAFETY: `fds` holds `nfds` entries (the caller's promise); entries of
    // the descriptor table are live while `poll` runs, since nothing closes
    // descriptors meanwhile; vtable functions take the entry's `data`.
    unsafe {
        for i in 0..nfds {
            (*fds.add(i)).revents = 0;
        }
        for i in 0..nfds {
            let pollfd = fds.add(i);
            if (*pollfd).fd < 0 {
                continue;
            }
            state.pollfd = pollfd;
            let entry = libc::descriptor_table_get_ref((*pollfd).fd);
            if entry.is_null() {
                return libc::fail(EBADF);
            }
            if register(state, &*entry, (*pollfd).events) < 0 {
                return -1;
            }
        }
        if state.event_count > 0 && timeout != 0 {
            return state.event_count;
        }
        let mut count = state.len;
        let timeout_pollable = if timeout >= 0 {
            let pollable = libc::monotonic_clock_subscribe_duration(timeout as u64 * 1_000_000);
            state.pollables.add(count).write(libc::poll_borrow_pollable(pollable));
            count += 1;
            Some(pollable)
        } else {
            None
        };
        let list = List { ptr: state.pollables, len: count };
        let mut ready = List { ptr: ptr::null_mut(), len: 0 };
        libc::poll_poll(&list, &mut ready);
        for i in 0..ready.len {
            let index = *ready.ptr.add(i) as usize;
            if index >= state.len {
                continue; // the timeout
            }
            let slot = &*state.slots.add(index);
            state.pollfd = slot.pollfd;
            let entry = libc::descriptor_table_get_ref((*slot.pollfd).fd);
            match (*(*entry).vtable).poll_finish {
                Some(finish) => {
                    finish((*entry).data, state as *mut PollState as *mut c_void, slot.events);
                }
                None => __wasilibc_poll_ready(state, slot.events),
            }
        }
        libc::wasip2_list_u32_free(&mut ready);
        if let Some(pollable) = timeout_pollable {
            libc::poll_pollable_drop_own(pollable);
        }
        state.event_count
    }
}

/// Registers `entry`'s pollables for `events` with `state` (whose current
/// `pollfd` is the descriptor's): through the descriptor's own
/// `poll_register`, or, without one, as its streams. 0, or -1 with `errno` set.
///
/// # Safety
/// `entry` is a live descriptor-table entry; `state` is a `poll` call's.
pub(crate) unsafe fn register(state: &mut PollState, entry: &libc::Entry, events: c_short) -> c_int {
    // SAFETY: the vtable's functions take the entry's `data`.
    unsafe {
        let (data, vtable) = (entry.data, &*entry.vtable);
        if let Some(register) = vtable.poll_register {
            return if register(data, state as *mut PollState as *mut c_void, events) < 0 { -1 } else { 0 };
        }
        // Without a registration of its own a descriptor is its streams.
        if events & !(POLLRDNORM | POLLWRNORM) != 0 {
            return libc::fail(EOPNOTSUPP);
        }
        if events & POLLRDNORM != 0
            && add_stream(state, data, vtable.get_read_stream, POLLRDNORM, libc::streams_method_input_stream_subscribe)
                < 0
        {
            return -1;
        }
        if events & POLLWRNORM != 0
            && add_stream(
                state,
                data,
                vtable.get_write_stream,
                POLLWRNORM,
                libc::streams_method_output_stream_subscribe,
            ) < 0
        {
            return -1;
        }
    }
    0
}

/// Waits on one of a descriptor's streams: subscribes once, keeping the
/// pollable in the descriptor, as wasi-libc does.
pub(crate) unsafe fn add_stream(
    state: &mut PollState,
    data: *mut c_void,
    get: Option<GetStream>,
    events: c_short,
    subscribe: unsafe extern "C" fn(Handle) -> Handle,
) -> c_int {
    // SAFETY: `get` is the descriptor's own accessor for `data`; the pollable
    // pointer it returns points into the descriptor.
    unsafe {
        let Some(get) = get else { return libc::fail(EOPNOTSUPP) };
        let mut stream: Handle = 0;
        let mut pollable: *mut Handle = ptr::null_mut();
        if get(data, &mut stream, ptr::null_mut(), &mut pollable) < 0 {
            return -1;
        }
        if *pollable == 0 {
            *pollable = subscribe(stream);
        }
        __wasilibc_poll_add(state, events, libc::poll_borrow_pollable(*pollable))
    }
}
