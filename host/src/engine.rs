//! The wasmtime `Engine` for a run, configured for many small, deterministic instances.
//!
//! One engine serves one run. The pooling allocator is sized from the instance
//! count so that instantiation is a slot grab plus a copy-on-write mapping;
//! linear memories are reserved only up to the per-instance limit, so thousands
//! of them fit in the address space. Everything that could make a run differ
//! between machines is pinned: NaNs are canonicalized, relaxed SIMD is
//! deterministic, threads are off, and preemption uses fuel, never epochs.

use crate::component::Shape;
use crate::error::InputError;
use serde::{Deserialize, Serialize};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

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

/// The default fuel budget: about ten CPU-seconds of wasm per instance.
pub const DEFAULT_FUEL: u64 = 10_000_000_000;

/// Most elements a table of one instance may hold, in the store's limits and
/// the pooling allocator's slots alike: far more than the function tables
/// compilers emit (a few thousand entries for large Rust programs).
pub const TABLE_ELEMENTS: usize = 10_000;

/// How often a running instance yields to the executor, in fuel units. Yielding
/// keeps Ctrl-C and wall timeouts responsive during long computations; being
/// fuel-based, the yield points are the same in every run.
pub const FUEL_YIELD_INTERVAL: u64 = 10_000_000;

/// Guard pages after each linear memory. Small, because the reservation equals
/// the limit and bounds checks are explicit (about +7% CPU, measured on wasmtime 48).
const MEMORY_GUARD_BYTES: u64 = 64 << 10;

/// Fiber stack for host calls plus wasm; must exceed `max_wasm_stack`.
const ASYNC_STACK_HEADROOM: usize = 256 << 10;

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings { memory_limit: DEFAULT_MEMORY_LIMIT, fuel: DEFAULT_FUEL, max_wasm_stack: 512 << 10 }
    }
}

/// Memory mappings one instantiated plan instance costs in the pooling
/// allocator with copy-on-write images (measured: about 6), with some slack.
pub const MAPPINGS_PER_INSTANCE: u64 = 7;

/// Mappings the process needs besides instances (binary, libraries, heap, pool regions).
pub const BASE_MAPPINGS: u64 = 4_000;

/// Where Linux states the per-process mapping limit.
const MAX_MAP_COUNT_PATH: &str = "/proc/sys/vm/max_map_count";

/// Refuses, before anything is allocated, a run the kernel's mapping limit cannot hold.
///
/// At the limit every `mmap` fails, including the one a panic needs, so a run
/// that crosses it mid-way can hang instead of failing.
pub fn check_mapping_limit(instances: u32) -> Result<(), InputError> {
    let Ok(text) = std::fs::read_to_string(MAX_MAP_COUNT_PATH) else { return Ok(()) };
    let Ok(limit) = text.trim().parse::<u64>() else { return Ok(()) };
    let needed = mappings_needed(instances);
    if needed > limit {
        let max = limit.saturating_sub(BASE_MAPPINGS) / MAPPINGS_PER_INSTANCE;
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
    let per_instance = (memory_limit + MEMORY_GUARD_BYTES).saturating_mul(u64::from(memories.max(1)));
    let needed = u64::from(instances).saturating_add(2).saturating_mul(per_instance);
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

/// Memory mappings a run of `instances` needs.
pub fn mappings_needed(instances: u32) -> u64 {
    BASE_MAPPINGS + MAPPINGS_PER_INSTANCE * u64::from(instances)
}

/// The most elements a table may hold: twice the largest table a plan
/// starts with, so a plan that grows one has room, and never less than what
/// every plan got before plans were measured.
pub fn table_elements(shape: &Shape) -> usize {
    usize::try_from(shape.largest_table.saturating_mul(2)).unwrap_or(usize::MAX).max(TABLE_ELEMENTS)
}

/// Builds the engine for a run of `instances` instances (plus one for
/// `describe`) of a plan of `shape`.
pub fn build(settings: &EngineSettings, shape: &Shape, instances: u32) -> anyhow::Result<Engine> {
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
    let mut config = Config::new();
    config
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
        .memory_init_cow(true)
        .memory_reservation(settings.memory_limit)
        .memory_guard_size(MEMORY_GUARD_BYTES)
        .memory_reservation_for_growth(0)
        .consume_fuel(true)
        .cranelift_nan_canonicalization(true)
        .relaxed_simd_deterministic(true)
        // The wasm threads proposal stays off: this build of wasmtime has no `threads` feature.
        .max_wasm_stack(settings.max_wasm_stack)
        .async_stack_size(settings.max_wasm_stack + ASYNC_STACK_HEADROOM);
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
    fn mapping_estimate_grows_with_instances() {
        assert!(mappings_needed(20_000) > 65_530, "20k instances must exceed the Linux default");
        assert!(mappings_needed(5_000) < 65_530, "5k instances must fit the Linux default");
    }
}
