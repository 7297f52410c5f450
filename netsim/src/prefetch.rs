//! Hints to the CPU to fetch memory ahead of use, where the simulation knows
//! what it will touch next and the hardware cannot guess it: the slot of the
//! next event, a received datagram's allocation before it is freed. Nothing
//! here changes what a program computes, only when memory arrives.

/// Asks the CPU to bring `value` into its caches ahead of a read; a hint only.
#[inline(always)]
pub(crate) fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    prefetch_lines::<T, { std::arch::x86_64::_MM_HINT_T0 }>(value);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// Asks the CPU to bring `value` into its caches ahead of a write; a hint only.
#[inline(always)]
pub(crate) fn prefetch_write<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    prefetch_lines::<T, { std::arch::x86_64::_MM_HINT_ET0 }>(value);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}

/// Prefetches the cache lines `value` spans (at most four) with `HINT`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn prefetch_lines<T, const HINT: i32>(value: &T) {
    let start = (value as *const T).cast::<i8>();
    let first = start as usize / 64;
    let last = (start as usize + std::mem::size_of::<T>().max(1) - 1) / 64;
    for line in 0..=(last - first).min(3) {
        // SAFETY: a prefetch reads and writes nothing and cannot fault,
        // whatever the address; `sse` is in every x86_64 target's baseline
        // (and a CPU without `prfchw` takes the write hint as a read hint).
        unsafe { std::arch::x86_64::_mm_prefetch::<HINT>(start.wrapping_add(line * 64)) };
    }
}

/// Asks the CPU to bring the start of the heap block `data` is in, with the
/// allocator's header before it, and its end, where the next block's header
/// is, into its caches ahead of a write: a received payload that is about to
/// be handed out and freed (freeing reads both headers), whose block has not
/// been touched since it was sent.
#[inline(always)]
pub(crate) fn prefetch_allocation(data: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    {
        let header = data.as_ptr().wrapping_sub(16).cast::<i8>();
        let end = data.as_ptr().wrapping_add(data.len()).cast::<i8>();
        for line in [header, header.wrapping_add(16), end] {
            // SAFETY: as in `prefetch_lines`: a hint, which cannot fault.
            unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_ET0 }>(line) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = data;
}
