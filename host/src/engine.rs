//! The wasmtime `Engine` for a run, configured for many small, deterministic instances.
//!
//! One engine serves one run. The pooling allocator is sized from the instance
//! count so that instantiation is a slot grab plus the plan's memory image
//! (copied when small, mapped copy-on-write when large: [`copies_image`]),
//! and a slot an instance leaves is reset in place for the next one.
//! Linear memories are laid out as [`MemoryLayout`] says: guarded (4 GiB
//! reservations, no bounds checks in compiled code) while the run's
//! reservations fit in the address space, compact (reserved only up to the
//! per-instance limit, with explicit bounds checks) for the largest runs.
//! Both behave alike: the layout changes speed, never what a plan sees, so it
//! is not part of a run's record. Everything that could make a run differ
//! between machines is pinned: NaNs are canonicalized, relaxed SIMD is
//! deterministic, threads are off, and preemption uses fuel, never epochs.

use crate::component::Shape;
use crate::error::{Error, InputError};
use serde::{Deserialize, Serialize};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Engine settings that can change what a run does; recorded with each run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineSettings {
    /// Largest linear memory of one instance, in bytes.
    pub memory_limit: u64,
    /// Fuel (roughly, wasm instructions) one instance may burn before it is
    /// stopped as runaway. Fuel is deterministic, unlike epochs or wall time.
    pub fuel: u64,
    /// Largest wasm stack, in bytes.
    pub max_wasm_stack: usize,
}

/// The default per-instance memory limit: 128 MiB, room for real protocol
/// stacks while keeping 20,000 reservations within a few TiB of address space.
pub const DEFAULT_MEMORY_LIMIT: u64 = 128 << 20;

/// The default fuel budget. A tight loop burns it in about half a CPU-second
/// (`plans/hostile`'s `spin`), so a runaway instance is stopped quickly; a
/// rust-libp2p node needs up to 7.5 × 10^9 in a 100-node network; every node
/// of a 200-node one fits, but half of a 300-node one need more, and there
/// `--fuel` must be raised.
pub const DEFAULT_FUEL: u64 = 10_000_000_000;

/// Most elements a table of one instance may hold, in the store's limits and
/// the pooling allocator's slots alike: far more than the function tables
/// compilers emit (a few thousand entries for large Rust programs).
pub const TABLE_ELEMENTS: usize = 10_000;

/// How often a running instance yields to the executor, in fuel units. Yielding
/// keeps Ctrl-C and wall timeouts responsive during long computations; being
/// fuel-based, the yield points are the same in every run.
pub const FUEL_YIELD_INTERVAL: u64 = 10_000_000;

/// Guard pages after each compact linear memory. Small, because the
/// reservation equals the limit and bounds checks are explicit.
const COMPACT_GUARD_BYTES: u64 = 64 << 10;

/// A guarded memory's reservation: all of wasm32's 4 GiB address space, so
/// that no 32-bit index can leave it and compiled code checks no bounds.
const GUARDED_RESERVATION_BYTES: u64 = 4 << 30;

/// Guard pages after each guarded memory: covers the static offsets of loads
/// and stores (wasmtime's default on 64-bit hosts).
const GUARDED_GUARD_BYTES: u64 = 32 << 20;

/// How each instance's linear memories sit in the address space.
///
/// Explicit bounds checks cost wasm-heavy plans real time: 17% of the CPU of
/// a 30-node rust-libp2p run (noise handshakes), against about 7% on lighter
/// plans (wasmtime 48, measured side by side). But a guarded memory reserves
/// 4 GiB, so 64 TiB of address space holds about 16,000 of them: larger runs
/// take the compact layout, which reserves only the limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryLayout {
    /// 4 GiB reservation and a 32 MiB guard: no bounds checks.
    Guarded,
    /// Reservation equal to the memory limit, a 64 KiB guard, explicit bounds checks.
    Compact,
}

impl MemoryLayout {
    /// The fastest layout whose reservations for `instances` instances of
    /// `memories` linear memories each fit in [`MAX_RESERVATION_BYTES`].
    pub fn for_run(instances: u32, memories: u32, memory_limit: u64) -> MemoryLayout {
        if reservation_needed(MemoryLayout::Guarded, instances, memories, memory_limit) <= MAX_RESERVATION_BYTES {
            MemoryLayout::Guarded
        } else {
            MemoryLayout::Compact
        }
    }

    /// Address space one linear memory takes: its reservation and a guard on
    /// either side (wasmtime's `guard_before_linear_memory` is on).
    fn bytes_per_memory(self, memory_limit: u64) -> u64 {
        match self {
            MemoryLayout::Guarded => GUARDED_RESERVATION_BYTES.max(memory_limit) + 2 * GUARDED_GUARD_BYTES,
            MemoryLayout::Compact => memory_limit + 2 * COMPACT_GUARD_BYTES,
        }
    }
}

/// Address space a run's pool reserves for linear memories in `layout`: one
/// slot per instance plus two (the describe call and slack), as [`build`] sizes it.
fn reservation_needed(layout: MemoryLayout, instances: u32, memories: u32, memory_limit: u64) -> u64 {
    let per_instance = layout.bytes_per_memory(memory_limit).saturating_mul(u64::from(memories.max(1)));
    u64::from(instances).saturating_add(2).saturating_mul(per_instance)
}

/// Dirty bytes of a linear memory rewritten in place, not decommitted, when
/// its instance ends: a small plan's whole working set (`placebo` dirties
/// 16 KiB), so a slot's next instance starts without page faults. More
/// is decommitted as before. A free slot keeps at most this much resident.
const MEMORY_KEEP_RESIDENT: usize = 256 << 10;

/// The same for a table: 8192 elements, more than most plans' tables hold.
const TABLE_KEEP_RESIDENT: usize = 64 << 10;

/// Fiber stack for host calls plus wasm; must exceed `max_wasm_stack`.
const ASYNC_STACK_HEADROOM: usize = 256 << 10;

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings { memory_limit: DEFAULT_MEMORY_LIMIT, fuel: DEFAULT_FUEL, max_wasm_stack: 512 << 10 }
    }
}

/// The largest memory image copied into each instance as it is created;
/// larger ones are mapped copy-on-write.
///
/// A copy-on-write image costs an instance a mapping of its own and, for
/// every image page it writes, a fault that copies the page and, once two
/// threads share the process, flushes the other core's TLB. Copying a small
/// image costs less: the 5000-instance DHT (a 25 KB image) ran 3% faster on
/// one thread and 12% faster on two (`--bench dht`), with a third fewer
/// mappings. What copying gives up is sharing the pages an instance only
/// reads, which matters for large images: a Python plan's interpreter
/// snapshot is 12 MB, a Rust plan's image 12–170 KB.
pub const COPIED_IMAGE_MAX: u64 = 64 << 10;

/// Whether instances of a plan of `shape` start from a copy of its memory
/// image rather than a copy-on-write mapping of it (see [`COPIED_IMAGE_MAX`]).
pub fn copies_image(shape: &Shape) -> bool {
    shape.largest_image <= COPIED_IMAGE_MAX
}

/// Memory mappings one instantiated instance of a plan of `shape` costs in
/// the pooling allocator, with some slack: measured, about 4 with a copied
/// image and 6 with a copy-on-write one.
pub fn mappings_per_instance(shape: &Shape) -> u64 {
    if copies_image(shape) { 5 } else { 7 }
}

/// Mappings the process needs besides instances (binary, libraries, heap, pool regions).
pub const BASE_MAPPINGS: u64 = 4_000;

/// Where Linux states the per-process mapping limit.
const MAX_MAP_COUNT_PATH: &str = "/proc/sys/vm/max_map_count";

/// Refuses, before anything is allocated, a run the kernel's mapping limit cannot hold.
///
/// At the limit every `mmap` fails, including the one a panic needs, so a run
/// that crosses it mid-way can hang instead of failing.
pub fn check_mapping_limit(instances: u32, shape: &Shape) -> Result<(), InputError> {
    let Ok(text) = std::fs::read_to_string(MAX_MAP_COUNT_PATH) else { return Ok(()) };
    let Ok(limit) = text.trim().parse::<u64>() else { return Ok(()) };
    let needed = mappings_needed(instances, shape);
    if needed > limit {
        let max = limit.saturating_sub(BASE_MAPPINGS) / mappings_per_instance(shape);
        return Err(InputError::new(format!(
            "{instances} instances need about {needed} memory mappings but vm.max_map_count is {limit} \
             (enough for about {max}); raise it with `sudo sysctl -w vm.max_map_count={}`, split the run across \
             processes with `--workers {}` (see `tg-wasm run --help`), or use fewer instances",
            needed.next_power_of_two().max(262_144),
            u64::from(instances).div_ceil(max.max(1)).max(2)
        )));
    }
    Ok(())
}

/// Address space the pool may reserve for linear memories. x86-64 user space
/// is 128 TiB; half of it leaves room for stacks, tables, the heap and libraries.
pub const MAX_RESERVATION_BYTES: u64 = 64 << 40;

/// Refuses a run whose memory reservations cannot fit in the address space:
/// `memories` linear memories per instance, each reserving `memory_limit`.
pub fn check_address_space(instances: u32, memories: u32, memory_limit: u64) -> Result<(), InputError> {
    let per_instance = MemoryLayout::Compact.bytes_per_memory(memory_limit).saturating_mul(u64::from(memories.max(1)));
    let needed = reservation_needed(MemoryLayout::Compact, instances, memories, memory_limit);
    if needed > MAX_RESERVATION_BYTES {
        let fits = MAX_RESERVATION_BYTES / per_instance;
        return Err(InputError::new(format!(
            "{instances} instances with a {} MiB memory limit need {} TiB of address space; \
             one process can hold about {fits} at this limit (lower --memory-limit or run fewer instances)",
            memory_limit >> 20,
            needed >> 40
        )));
    }
    Ok(())
}

/// Memory mappings a run of `instances` instances of a plan of `shape` needs.
pub fn mappings_needed(instances: u32, shape: &Shape) -> u64 {
    BASE_MAPPINGS + mappings_per_instance(shape) * u64::from(instances)
}

/// The most elements a table may hold: twice the largest table a plan
/// starts with, so a plan that grows one has room, and never less than what
/// every plan got before plans were measured.
pub fn table_elements(shape: &Shape) -> usize {
    usize::try_from(shape.largest_table.saturating_mul(2)).unwrap_or(usize::MAX).max(TABLE_ELEMENTS)
}

/// Set (to anything) to write `/tmp/perf-<pid>.map`, so that `perf report`
/// names the plan's own functions.
pub const PERFMAP_VAR: &str = "TG_WASM_PERFMAP";

/// Builds the engine for a run of `instances` instances (plus one for
/// `describe`) of a plan of `shape`.
///
/// When the process may not reserve the guarded layout's address space (a
/// `ulimit -v`, a memory checker such as valgrind), the run takes the compact
/// layout instead: slower compiled code, the same run.
pub fn build(settings: &EngineSettings, shape: &Shape, instances: u32) -> Result<Engine, Error> {
    let layout = MemoryLayout::for_run(instances, shape.memories, settings.memory_limit);
    match build_with(settings, shape, instances, layout) {
        Err(guarded) if layout == MemoryLayout::Guarded => {
            tracing::debug!("guarded memory layout refused ({guarded:#}); taking the compact layout");
            build_with(settings, shape, instances, MemoryLayout::Compact).map_err(|compact| {
                Error::input(format!(
                    "{instances} instances with a {} MiB memory limit need more address space than this \
                     process may reserve ({}; is `ulimit -v` set?): lower --memory-limit or run fewer instances",
                    settings.memory_limit >> 20,
                    compact.root_cause()
                ))
            })
        }
        other => other.map_err(Error::from),
    }
}

fn build_with(
    settings: &EngineSettings,
    shape: &Shape,
    instances: u32,
    layout: MemoryLayout,
) -> anyhow::Result<Engine> {
    let slots = instances + 2;
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(slots)
        .total_core_instances(slots * shape.core_instances)
        .total_memories(slots * shape.memories)
        .total_tables(slots * shape.tables)
        .total_stacks(slots)
        .max_memories_per_component(shape.memories)
        .max_tables_per_component(shape.tables)
        .max_core_instances_per_component(shape.core_instances)
        .max_memory_size(settings.memory_limit as usize)
        .table_elements(table_elements(shape));
    // A slot an instance leaves is reset by rewriting the pages it dirtied
    // (found with PAGEMAP_SCAN, Linux 6.7+) instead of `madvise`, so the next
    // instance in it takes no page faults: instantiate+run+drop of `placebo
    // ok` fell from about 33 to 16 µs (`--bench instances`). Without the scan,
    // wasmtime would rewrite the first bytes of every slot whether dirtied or
    // not, making them resident: there, slots are reset with `madvise` as before.
    if PoolingAllocationConfig::is_pagemap_scan_available() {
        pool.linear_memory_keep_resident(MEMORY_KEEP_RESIDENT)
            .table_keep_resident(TABLE_KEEP_RESIDENT)
            .pagemap_scan(Enabled::Yes);
    }
    let (reservation, guard) = match layout {
        MemoryLayout::Guarded => (GUARDED_RESERVATION_BYTES.max(settings.memory_limit), GUARDED_GUARD_BYTES),
        MemoryLayout::Compact => (settings.memory_limit, COMPACT_GUARD_BYTES),
    };
    let mut config = Config::new();
    config
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .memory_init_cow(!copies_image(shape))
        .memory_reservation(reservation)
        .memory_guard_size(guard)
        .memory_reservation_for_growth(0)
        .consume_fuel(true)
        .cranelift_nan_canonicalization(true)
        .relaxed_simd_deterministic(true)
        // 64×64→128-bit multiplies in one instruction: a plan built with
        // `+wide-arithmetic` (plans/libp2p-kad, the libp2p template) runs
        // curve25519's 64-bit field arithmetic at native speed. Integer-only,
        // so as deterministic as the rest.
        .wasm_wide_arithmetic(true)
        // The wasm threads proposal stays off: this build of wasmtime has no `threads` feature.
        .max_wasm_stack(settings.max_wasm_stack)
        .async_stack_size(settings.max_wasm_stack + ASYNC_STACK_HEADROOM);
    // Guest functions are JIT code that `perf` cannot name without a map;
    // profiling a plan is a developer's task, so an environment variable
    // (documented in the README's benchmarks) asks for one, not a flag.
    if std::env::var_os(PERFMAP_VAR).is_some() {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    Ok(Engine::new(&config)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_space_check_refuses_absurd_runs() {
        assert!(check_address_space(20_000, 1, DEFAULT_MEMORY_LIMIT).is_ok());
        assert!(check_address_space(20_000, 40, DEFAULT_MEMORY_LIMIT).is_err(), "each memory reserves its limit");
        let err = check_address_space(4_000_000_000, 1, DEFAULT_MEMORY_LIMIT).unwrap_err().message().to_string();
        assert!(err.contains("lower --memory-limit"), "{err}");
    }

    #[test]
    fn runs_take_the_guarded_layout_while_it_fits() {
        assert_eq!(MemoryLayout::for_run(5_000, 1, DEFAULT_MEMORY_LIMIT), MemoryLayout::Guarded);
        assert_eq!(MemoryLayout::for_run(10_000, 1, DEFAULT_MEMORY_LIMIT), MemoryLayout::Guarded);
        assert_eq!(MemoryLayout::for_run(20_000, 1, DEFAULT_MEMORY_LIMIT), MemoryLayout::Compact);
        assert_eq!(MemoryLayout::for_run(5_000, 4, DEFAULT_MEMORY_LIMIT), MemoryLayout::Compact);
        let guarded = reservation_needed(MemoryLayout::Guarded, 16_000, 1, DEFAULT_MEMORY_LIMIT);
        assert!(guarded <= MAX_RESERVATION_BYTES, "{guarded}");
    }

    #[test]
    fn a_memory_limit_above_4_gib_is_reserved_whole() {
        let limit = 8u64 << 30;
        assert!(MemoryLayout::Guarded.bytes_per_memory(limit) > limit);
    }

    #[test]
    fn mapping_estimate_grows_with_instances() {
        let rust = Shape { largest_image: 25_104, ..Shape::FLOOR };
        assert!(mappings_needed(20_000, &rust) > 65_530, "20k instances must exceed the Linux default");
        assert!(mappings_needed(12_000, &rust) < 65_530, "12k instances must fit the Linux default");
        let python = Shape { largest_image: 12_272_719, ..Shape::FLOOR };
        assert!(copies_image(&rust) && !copies_image(&python));
        assert!(mappings_needed(12_000, &python) > 65_530, "copy-on-write images cost a mapping more");
    }
}
