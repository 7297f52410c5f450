//! `poll` over the host's watch set (`tg:plan/poll-set`), so that a call
//! costs what its ready and changed descriptors cost.
//!
//! mio hands `poll` every descriptor it has armed, on every call; wasi-libc's
//! `poll` then registers each one's pollables and passes them all to one
//! `wasi:io/poll.poll`, whose host side borrows and checks each. An instance
//! with a thousand idle connections (a libp2p node in a large network) paid
//! for all of them on every wake. Here each descriptor's pollables stay in
//! the host's watch set across calls, keyed by descriptor and slot; a call
//! compares the `pollfd` array with the one it was handed last time (one
//! 8-byte compare an entry: mio hands the same array back), registers again
//! only what changed, and sends the host only the difference. The host
//! answers with the keys that are ready.
//!
//! A descriptor is registered again — its `poll_register` called, its
//! pollables compared with the watched ones — when its `events` changed,
//! when it was ready at the last call (finishing may change its state: a
//! connect completes), when its registration reported readiness at once
//! (no pollable to watch), and when the host reports one of its pollables
//! dropped (the descriptor was closed, and its number may belong to another
//! one now). Those are all the ways wasi-sdk 30's sockets change the
//! pollables they register: a socket's state changes only in `connect`,
//! `accept` (a new descriptor), `poll_finish`, or by replacing its streams,
//! which drops their pollables.
//!
//! Ready descriptors are finished in `pollfd` order, as wasi-libc's `poll`
//! finishes them. When the host cannot keep a pollable in a set (one of its
//! stdio or files), or the same descriptor appears twice in one call, the
//! call is left to the list `poll` ([`super::poll`]), as all later ones are
//! after the former.
//!
//! Owns: the watch set's guest side (the cache of registrations by
//! descriptor). Does not own: what a descriptor registers (the libc's
//! `poll_register`), or readiness (the host).

use core::ffi::{c_int, c_short, c_void};
use core::mem::size_of;
use core::ptr;

use crate::libc::{self, EBADF, Handle};
use crate::poll::{PollFd, PollState, Slot};

/// A `pollfd` whose descriptor number is above this is left to the list
/// `poll`: the cache is an array indexed by descriptor, and wasi-libc hands
/// out the lowest free numbers.
const MAX_FD: usize = 1 << 20;

/// The cache entry is in the watch set (its handles are watched).
const VALID: u8 = 1;
/// Its registration reported readiness at once: registered on every call.
const VOLATILE: u8 = 2;
/// Register again at the next call.
const REFRESH: u8 = 4;

/// What one descriptor was registered for, and what that watched.
#[derive(Clone, Copy)]
#[repr(C)]
struct Cached {
    events: c_short,
    flags: u8,
    /// Where it was placed in the `pollfd` array, as of the snapshot.
    pos: u32,
    /// The pollables watched under keys `fd * 2` and `fd * 2 + 1` (0: none),
    /// and the events each stands for.
    handles: [Handle; 2],
    slot_events: [c_short; 2],
}

const EMPTY: Cached = Cached { events: 0, flags: 0, pos: 0, handles: [0; 2], slot_events: [0; 2] };

/// A `tuple<u32, borrow<pollable>>` of `watch`.
#[repr(C)]
#[derive(Clone, Copy)]
struct Watch {
    key: u32,
    pollable: Handle,
}

/// A ready slot to finish.
#[derive(Clone, Copy)]
struct Fired {
    pos: u32,
    slot: u32,
    fd: c_int,
    events: c_short,
}

/// `waited-in-place` as the canonical ABI returns it: a tag, then (at the
/// payload's 4-byte alignment) `few-keys` or a list.
#[repr(C)]
struct Waited {
    tag: u8,
    payload: Payload,
}

#[repr(C)]
#[derive(Clone, Copy)]
union Payload {
    few: FewKeys,
    list: KeyList,
}

/// `few-keys`.
#[repr(C)]
#[derive(Clone, Copy)]
struct FewKeys {
    count: u32,
    keys: [u32; 4],
}

/// A `list<u32>` the host allocated in this memory; the receiver frees it.
#[repr(C)]
#[derive(Clone, Copy)]
struct KeyList {
    ptr: *mut u32,
    len: usize,
}

impl Waited {
    const fn new() -> Self {
        Waited { tag: u8::MAX, payload: Payload { few: FewKeys { count: 0, keys: [0; 4] } } }
    }

    /// The answer's keys, `None` if it has none (`unsupported`, or a tag
    /// this file does not know).
    fn keys(&self) -> Option<(*const u32, usize)> {
        // SAFETY: the tag says which field the host wrote.
        unsafe {
            match self.tag {
                WAITED_FEW => Some((
                    self.payload.few.keys.as_ptr(),
                    (self.payload.few.count as usize).min(self.payload.few.keys.len()),
                )),
                WAITED_MANY | WAITED_DROPPED => Some((self.payload.list.ptr, self.payload.list.len)),
                _ => None,
            }
        }
    }
}

impl Drop for Waited {
    fn drop(&mut self) {
        if let WAITED_MANY | WAITED_DROPPED = self.tag {
            // SAFETY: the host lowered the list into this memory.
            unsafe { libc::free_list(self.payload.list.ptr, self.payload.list.len) };
        }
    }
}

/// `deadline`'s cases.
const DEADLINE_NONE: i32 = 0;
const DEADLINE_FOREVER: i32 = 1;
const DEADLINE_TIMEOUT: i32 = 2;

/// `waited-in-place`'s cases.
const WAITED_FEW: u8 = 0;
const WAITED_MANY: u8 = 1;
const WAITED_DROPPED: u8 = 2;

#[link(wasm_import_module = "tg:plan/poll-set@0.1.0")]
unsafe extern "C" {
    /// `wait-in-place: func(unwatch: list<u32>, watch: list<tuple<u32,
    /// borrow<pollable>>>, deadline: deadline) -> waited-in-place`, lowered:
    /// `deadline` is its case and the nanoseconds of `timeout-ns`.
    #[link_name = "wait-in-place"]
    fn poll_set_wait(
        unwatch: *const u32,
        unwatch_len: usize,
        watch: *const Watch,
        watch_len: usize,
        deadline: i32,
        timeout_ns: i64,
        ret: *mut Waited,
    );
}

/// A growable array on wasi-libc's allocator.
struct Buf<T> {
    ptr: *mut T,
    len: usize,
    cap: usize,
}

impl<T: Copy> Buf<T> {
    const fn new() -> Self {
        Buf { ptr: ptr::null_mut(), len: 0, cap: 0 }
    }

    /// Room for `n` elements in all; false if memory ran out.
    unsafe fn reserve(&mut self, n: usize) -> bool {
        if n <= self.cap {
            return true;
        }
        let cap = if n < 16 { 16 } else { n.next_power_of_two() };
        let Some(bytes) = cap.checked_mul(size_of::<T>()) else { return false };
        // SAFETY: `ptr` is null or this buffer's allocation.
        let grown = unsafe { libc::realloc(self.ptr as *mut c_void, bytes) } as *mut T;
        if grown.is_null() {
            return false;
        }
        self.ptr = grown;
        self.cap = cap;
        true
    }

    unsafe fn push(&mut self, value: T) -> bool {
        // SAFETY: after `reserve`, `len < cap`.
        unsafe {
            if !self.reserve(self.len + 1) {
                return false;
            }
            self.ptr.add(self.len).write(value);
        }
        self.len += 1;
        true
    }

    unsafe fn get(&self, i: usize) -> T {
        // SAFETY: the caller's `i < len`.
        unsafe { *self.ptr.add(i) }
    }
}

/// The guest side of the watch set.
struct Set {
    /// The host refused a pollable: every call goes to the list `poll`.
    disabled: bool,
    /// By descriptor number.
    cache: Buf<Cached>,
    /// The `pollfd` array of the last call, as it was handed over (`revents`
    /// zero), one `u64` per entry; `array` is where it was. A call compares
    /// its array with it and looks only at the entries that differ.
    snapshot: Buf<u64>,
    array: *mut PollFd,
    /// The snapshot does not describe what is registered: compare nothing.
    stale: bool,
    /// The list `poll` took a call, and may have finished descriptors
    /// (changing what they register): register every descriptor again.
    refresh_all: bool,
    /// Entries whose `revents` this call set, to clear at the next.
    written: Buf<u32>,
    /// Descriptors to register again at the next call.
    attention: Buf<c_int>,
    /// Scratch: entries that differ from the snapshot, and descriptors that
    /// may have left the array.
    changed: Buf<u32>,
    candidates: Buf<c_int>,
    unwatch: Buf<u32>,
    watch: Buf<Watch>,
    fired: Buf<Fired>,
}

static mut SET: Set = Set {
    disabled: false,
    cache: Buf::new(),
    snapshot: Buf::new(),
    array: ptr::null_mut(),
    stale: true,
    refresh_all: false,
    written: Buf::new(),
    attention: Buf::new(),
    changed: Buf::new(),
    candidates: Buf::new(),
    unwatch: Buf::new(),
    watch: Buf::new(),
    fired: Buf::new(),
};

/// Entries compared with the snapshot per test of their differences. mio
/// hands back its whole array on every call, a thousand entries for a
/// thousand sockets, of which one or two changed: testing each entry cost a
/// branch (and wasm fuel accounting) an entry. Sixteen entries are eight
/// 128-bit compares ([`block_differs`]).
const COMPARE_BLOCK: usize = 16;

/// Whether the [`COMPARE_BLOCK`] entries at `now` differ from those at
/// `then`: straight-line 128-bit loads and XORs (the object is built with
/// `simd128`, which every engine tg-wasm runs on has), one test for all.
///
/// # Safety
/// `now` and `then` hold [`COMPARE_BLOCK`] entries each.
#[inline(always)]
unsafe fn block_differs(now: *const u64, then: *const u64) -> bool {
    use core::arch::wasm32::{v128, v128_any_true, v128_load, v128_or, v128_xor};
    // SAFETY: the caller's; `v128.load` takes any alignment.
    let d = |k: usize| unsafe {
        v128_xor(v128_load(now.add(2 * k) as *const v128), v128_load(then.add(2 * k) as *const v128))
    };
    let low = v128_or(v128_or(d(0), d(1)), v128_or(d(2), d(3)));
    let high = v128_or(v128_or(d(4), d(5)), v128_or(d(6), d(7)));
    v128_any_true(v128_or(low, high))
}

/// A `pollfd` as the snapshot keeps it, `revents` included.
unsafe fn entry_bits(pollfd: *const PollFd) -> u64 {
    // SAFETY: `struct pollfd` is 8 bytes, 4-aligned.
    unsafe { ptr::read_unaligned(pollfd as *const u64) }
}

/// The descriptor of a snapshot entry.
fn entry_fd(bits: u64) -> c_int {
    bits as u32 as c_int
}

/// Why the watch-set path gives a call to the list `poll`.
pub enum Fallback {
    /// The list `poll` takes this call and every later one.
    Always,
    /// It takes this call.
    Once,
}

/// `poll` over the watch set: `Ok(count)` or `Ok(-1)` with `errno` set, or
/// the list `poll` is to take the call.
///
/// # Safety
/// As `poll`'s.
pub unsafe fn poll(fds: *mut PollFd, nfds: usize, timeout: c_int) -> Result<c_int, Fallback> {
    // SAFETY: the plan is single-threaded (wasm32-wasip2 has no threads), and
    // `poll` does not re-enter itself.
    let set = unsafe { &mut *(&raw mut SET) };
    if set.disabled {
        return Err(Fallback::Always);
    }
    // SAFETY: as `poll`'s.
    let result = unsafe { poll_set(set, fds, nfds, timeout) };
    if let Err(Fallback::Always) = result {
        set.disabled = true;
    }
    result
}

unsafe fn poll_set(set: &mut Set, fds: *mut PollFd, nfds: usize, timeout: c_int) -> Result<c_int, Fallback> {
    let mut slots = [Slot { pollfd: ptr::null_mut(), events: 0 }; 2];
    let mut pollables: [Handle; 2] = [0; 2];
    let mut state = PollState {
        slots: slots.as_mut_ptr(),
        pollables: pollables.as_mut_ptr(),
        len: 0,
        cap: 2,
        event_count: 0,
        pollfd: fds,
    };
    // SAFETY: `fds` holds `nfds` entries; the buffers hold `len` entries;
    // cache indices are below `cache.len` once `grow_cache` said so.
    unsafe {
        // What changed since the last call: entries that differ from the
        // snapshot, with the descriptors they held as candidates for leaving.
        set.changed.len = 0;
        set.candidates.len = 0;
        let comparable = !set.stale && fds == set.array;
        if comparable {
            for i in 0..set.written.len {
                let at = set.written.get(i) as usize;
                if at < nfds {
                    (*fds.add(at)).revents = 0;
                }
            }
        }
        set.written.len = 0;
        let common = if comparable && set.snapshot.len < nfds {
            set.snapshot.len
        } else if comparable {
            nfds
        } else {
            0
        };
        let mut lost = false;
        let mut block = 0;
        while block < common {
            let end = (block + COMPARE_BLOCK).min(common);
            // Nearly every entry is as it was: one test a block, and a look
            // at each entry only in a block that differs.
            // Straight-line code: a loop would count fuel and branch per entry.
            let differ =
                end - block < COMPARE_BLOCK || block_differs(fds.add(block) as *const u64, set.snapshot.ptr.add(block));
            if differ {
                for i in block..end {
                    if entry_bits(fds.add(i)) != set.snapshot.get(i) {
                        lost |= !set.changed.push(i as u32) || !set.candidates.push(entry_fd(set.snapshot.get(i)));
                    }
                }
            }
            block = end;
        }
        for i in common..set.snapshot.len {
            lost |= !set.candidates.push(entry_fd(set.snapshot.get(i)));
        }
        for i in common..nfds {
            lost |= !set.changed.push(i as u32);
        }
        if lost || !set.snapshot.reserve(nfds) {
            return Err(fallback_after(set, Fallback::Always));
        }
        for c in 0..set.changed.len {
            let i = set.changed.get(c) as usize;
            (*fds.add(i)).revents = 0;
            set.snapshot.ptr.add(i).write(entry_bits(fds.add(i)));
        }
        set.snapshot.len = nfds;
        set.array = fds;
        // Until this call has registered what changed, the snapshot is ahead
        // of the cache.
        set.stale = true;
        for c in 0..set.changed.len {
            let i = set.changed.get(c) as usize;
            let pollfd = fds.add(i);
            let fd = (*pollfd).fd;
            if fd < 0 {
                continue;
            }
            if fd as usize >= MAX_FD || !grow_cache(set, fd as usize + 1) {
                return Err(fallback_after(set, Fallback::Always));
            }
            let cached = set.cache.ptr.add(fd as usize);
            if (*cached).pos as usize != i && placed(set, fd, (*cached).pos) {
                // The same descriptor twice: the list `poll` handles it.
                return Err(fallback_after(set, Fallback::Once));
            }
            (*cached).pos = i as u32;
            if set.refresh_all || (*cached).flags != VALID || (*cached).events != (*pollfd).events {
                register_or_fall_back(set, &mut state, fd, pollfd)?;
            }
        }
        // Descriptors finished or ready at once last time, or whose
        // pollables were dropped: their registration may have changed.
        let attention = core::mem::replace(&mut set.attention.len, 0);
        for a in 0..attention {
            let fd = set.attention.get(a);
            if (fd as usize) < set.cache.len {
                let pos = (*set.cache.ptr.add(fd as usize)).pos;
                if placed(set, fd, pos) {
                    register_or_fall_back(set, &mut state, fd, fds.add(pos as usize))?;
                } else if !set.candidates.push(fd) {
                    return Err(fallback_after(set, Fallback::Always));
                }
            }
        }
        // Descriptors no longer in the array leave the set.
        for c in 0..set.candidates.len {
            let fd = set.candidates.get(c);
            if fd < 0 || fd as usize >= set.cache.len {
                continue;
            }
            let cached = set.cache.ptr.add(fd as usize);
            if (*cached).flags & VALID == 0 || placed(set, fd, (*cached).pos) {
                continue;
            }
            for s in 0..2usize {
                if *(*cached).handles.as_ptr().add(s) != 0 && !set.unwatch.push(((fd as u32) << 1) | s as u32) {
                    return Err(fallback_after(set, Fallback::Always));
                }
            }
            *cached = EMPTY;
        }
        set.stale = false;
        set.refresh_all = false;
        // As wasi-libc's `poll`: a timeout is a timer, and what is ready at
        // once is the answer unless the timeout is zero.
        let (deadline, timeout_ns) =
            if timeout < 0 { (DEADLINE_FOREVER, 0) } else { (DEADLINE_TIMEOUT, timeout as u64 * 1_000_000) };
        if state.event_count > 0 && timeout != 0 {
            flush(set)?;
            return Ok(state.event_count);
        }
        loop {
            let mut waited = Waited::new();
            poll_set_wait(
                set.unwatch.ptr,
                set.unwatch.len,
                set.watch.ptr,
                set.watch.len,
                deadline,
                if deadline == DEADLINE_TIMEOUT { timeout_ns as i64 } else { 0 },
                &mut waited,
            );
            set.unwatch.len = 0;
            set.watch.len = 0;
            let Some((keys, len)) = waited.keys() else { return Err(Fallback::Always) };
            match waited.tag {
                WAITED_FEW | WAITED_MANY => {
                    let result = finish(set, &mut state, fds, keys, len);
                    return result.map(|()| state.event_count).map_err(|f| fallback_after(set, f));
                }
                _ => {
                    match redo_dropped(set, &mut state, fds, keys, len) {
                        Ok(()) => {}
                        Err(Some(fallback)) => return Err(fallback_after(set, fallback)),
                        Err(None) => {
                            let _ = fallback_after(set, Fallback::Once);
                            return Ok(-1);
                        }
                    }
                    if state.event_count > 0 && timeout != 0 {
                        flush(set)?;
                        return Ok(state.event_count);
                    }
                }
            }
        }
    }
}

/// Whether descriptor `fd` is at `pos` of this call's array.
unsafe fn placed(set: &Set, fd: c_int, pos: u32) -> bool {
    // SAFETY: `pos` is checked against the snapshot's length.
    (pos as usize) < set.snapshot.len && entry_fd(unsafe { set.snapshot.get(pos as usize) }) == fd
}

/// [`register`], with its failures turned into this call's answer.
unsafe fn register_or_fall_back(
    set: &mut Set,
    state: &mut PollState,
    fd: c_int,
    pollfd: *mut PollFd,
) -> Result<(), Fallback> {
    // SAFETY: as `register`'s.
    match unsafe { register(set, state, fd, pollfd) } {
        Ok(()) => Ok(()),
        // SAFETY: as `flush`'s.
        Err(Some(fallback)) => Err(unsafe { fallback_after(set, fallback) }),
        // The list `poll` fails the same way, with `errno` set.
        Err(None) => Err(unsafe { fallback_after(set, Fallback::Once) }),
    }
}

/// Room in the cache for descriptors below `n`, new entries empty.
unsafe fn grow_cache(set: &mut Set, n: usize) -> bool {
    // SAFETY: entries from `len` to `n` are written before they count.
    unsafe {
        if n <= set.cache.len {
            return true;
        }
        if !set.cache.reserve(n) {
            return false;
        }
        while set.cache.len < n {
            set.cache.ptr.add(set.cache.len).write(EMPTY);
            set.cache.len += 1;
        }
    }
    true
}

/// Registers descriptor `fd` (at `pollfd`) and queues the changes to what its
/// cache entry watches. `Err(None)`: the call fails with `errno` set;
/// `Err(Some(_))`: it goes to the list `poll`.
unsafe fn register(
    set: &mut Set,
    state: &mut PollState,
    fd: c_int,
    pollfd: *mut PollFd,
) -> Result<(), Option<Fallback>> {
    // SAFETY: as `poll_with`'s: a live table entry, its vtable's functions
    // taking its `data`; `state` holds two slots, as many as a descriptor adds.
    unsafe {
        let entry = libc::descriptor_table_get_ref(fd);
        if entry.is_null() {
            libc::fail(EBADF);
            return Err(None);
        }
        let events = (*pollfd).events;
        state.len = 0;
        state.pollfd = pollfd;
        if crate::poll::register(state, &*entry, events) < 0 {
            return Err(None);
        }
        let cached = set.cache.ptr.add(fd as usize);
        for s in 0..2usize {
            let (handle, slot_events) =
                if s < state.len { (*state.pollables.add(s), (*state.slots.add(s)).events) } else { (0, 0) };
            let old = *(*cached).handles.as_ptr().add(s);
            let key = ((fd as u32) << 1) | s as u32;
            if old != handle {
                if old != 0 && !set.unwatch.push(key) {
                    return Err(Some(Fallback::Always));
                }
                if handle != 0 && !set.watch.push(Watch { key, pollable: handle }) {
                    return Err(Some(Fallback::Always));
                }
                *(*cached).handles.as_mut_ptr().add(s) = handle;
            }
            *(*cached).slot_events.as_mut_ptr().add(s) = slot_events;
        }
        (*cached).events = events;
        (*cached).flags = VALID;
        // Ready at once (now or at an earlier registration in this call:
        // `revents` starts at zero).
        if (*pollfd).revents != 0 {
            (*cached).flags |= VOLATILE;
            let pos = pollfd.offset_from(set.array) as u32;
            if !set.attention.push(fd) || !set.written.push(pos) {
                return Err(Some(Fallback::Always));
            }
        }
    }
    Ok(())
}

/// Sends the queued changes without waiting.
unsafe fn flush(set: &mut Set) -> Result<(), Fallback> {
    if set.unwatch.len == 0 && set.watch.len == 0 {
        return Ok(());
    }
    let mut waited = Waited::new();
    // SAFETY: the buffers hold `len` entries; the watched handles are the
    // descriptors' pollables, alive during this call.
    unsafe {
        poll_set_wait(set.unwatch.ptr, set.unwatch.len, set.watch.ptr, set.watch.len, DEADLINE_NONE, 0, &mut waited);
        set.unwatch.len = 0;
        set.watch.len = 0;
        let Some((keys, len)) = waited.keys() else { return Err(Fallback::Always) };
        if waited.tag == WAITED_DROPPED {
            forget_dropped(set, keys, len);
        }
    }
    Ok(())
}

/// Sends what was queued before giving the call to the list `poll`, so the
/// host's set and the cache agree.
unsafe fn fallback_after(set: &mut Set, fallback: Fallback) -> Fallback {
    set.stale = true;
    set.refresh_all = true;
    // SAFETY: as `flush`'s.
    match unsafe { flush(set) } {
        Ok(()) => fallback,
        Err(always) => always,
    }
}

/// Marks the descriptors of dropped keys for registering again; their
/// pollables are no longer watched.
unsafe fn forget_dropped(set: &mut Set, keys: *const u32, len: usize) {
    // SAFETY: `keys` holds `len` keys; cache indices are checked.
    unsafe {
        for i in 0..len {
            let key = *keys.add(i);
            let fd = (key >> 1) as usize;
            if fd >= set.cache.len {
                continue;
            }
            let cached = set.cache.ptr.add(fd);
            *(*cached).handles.as_mut_ptr().add((key & 1) as usize) = 0;
            if (*cached).flags & VALID != 0 {
                (*cached).flags |= REFRESH;
                // Failing that, the entry is registered when its `events` change.
                let _ = set.attention.push(fd as c_int);
            }
        }
    }
}

/// Registers again the descriptors of this call whose pollables were dropped.
unsafe fn redo_dropped(
    set: &mut Set,
    state: &mut PollState,
    fds: *mut PollFd,
    keys: *const u32,
    len: usize,
) -> Result<(), Option<Fallback>> {
    // SAFETY: as `forget_dropped`'s; `pos` of an entry this call saw is in `fds`.
    unsafe {
        forget_dropped(set, keys, len);
        for i in 0..len {
            let fd = (*keys.add(i) >> 1) as usize;
            if fd >= set.cache.len {
                continue;
            }
            let cached = set.cache.ptr.add(fd);
            if (*cached).flags & REFRESH != 0 && placed(set, fd as c_int, (*cached).pos) {
                register(set, state, fd as c_int, fds.add((*cached).pos as usize))?;
            }
        }
    }
    Ok(())
}

/// Finishes the ready keys' descriptors, in `pollfd` order.
unsafe fn finish(
    set: &mut Set,
    state: &mut PollState,
    fds: *mut PollFd,
    keys: *const u32,
    len: usize,
) -> Result<(), Fallback> {
    // SAFETY: `keys` holds `len` keys; cache indices are checked; an entry
    // this call saw is a live descriptor at `pos` of `fds`.
    unsafe {
        set.fired.len = 0;
        for i in 0..len {
            let key = *keys.add(i);
            let (fd, slot) = ((key >> 1) as usize, key & 1);
            if fd >= set.cache.len {
                continue;
            }
            let cached = &*set.cache.ptr.add(fd);
            if cached.flags & VALID == 0
                || *cached.handles.as_ptr().add(slot as usize) == 0
                || !placed(set, fd as c_int, cached.pos)
            {
                continue;
            }
            let fired = Fired {
                pos: cached.pos,
                slot,
                fd: fd as c_int,
                events: *cached.slot_events.as_ptr().add(slot as usize),
            };
            if !set.fired.push(fired) {
                return Err(Fallback::Always);
            }
        }
        // Insertion sort by place: few are ready at once.
        for i in 1..set.fired.len {
            let fired = set.fired.get(i);
            let mut j = i;
            while j > 0 {
                let before = set.fired.get(j - 1);
                if before.pos < fired.pos || (before.pos == fired.pos && before.slot <= fired.slot) {
                    break;
                }
                set.fired.ptr.add(j).write(before);
                j -= 1;
            }
            set.fired.ptr.add(j).write(fired);
        }
        for i in 0..set.fired.len {
            let fired = set.fired.get(i);
            state.pollfd = fds.add(fired.pos as usize);
            // Finishing may change what the descriptor registers (a connect
            // completes): it is registered again at the next call.
            (*set.cache.ptr.add(fired.fd as usize)).flags |= REFRESH;
            if !set.attention.push(fired.fd) || !set.written.push(fired.pos) {
                return Err(Fallback::Always);
            }
            let entry = libc::descriptor_table_get_ref(fired.fd);
            if entry.is_null() {
                continue;
            }
            match (*(*entry).vtable).poll_finish {
                Some(finish) => {
                    finish((*entry).data, state as *mut PollState as *mut c_void, fired.events);
                }
                None => crate::poll::__wasilibc_poll_ready(state, fired.events),
            }
        }
    }
    Ok(())
}
