//! tg-wasm: Testground-style test plans as thousands of deterministic
//! WebAssembly instances in one process.
//!
//! The binary is a thin layer over this library. A reader should start at
//! [`run`]; the rest, by what it owns:
//!
//! - [`run`]: one run from inputs ([`run::RunSpec`]) to outputs ([`run::RunSummary`], the run directory).
//! - [`sync`]: where sync states and topics are kept — embedded, or a Redis server (`--sync`).
//! - [`replay`]: reproducing runs — `replay` of a run directory, `--check-determinism`, trace `diff`.
//! - [`engine`]: the wasmtime `Engine`, pooled and pinned for determinism; the mapping-limit check.
//! - [`component`]: reading plan components and compiling them through the on-disk cache.
//! - [`builder`]: building a plan crate into a component.
//! - [`composition`]: Testground-style composition files with groups.
//! - [`instance`]: what one instance's `Store` holds, and what outlives it.
//! - [`wasi`]: the WASI a plan sees — virtual clocks, seeded randomness, captured output,
//!   sockets on the simulated network.
//! - [`report`]: metric aggregates, `metrics.jsonl`, `report.html`, JUnit XML, live progress.
//! - [`plan`]: the host side of `tg:plan` (runenv, sync, metrics); [`bindings`] holds the generated code.
//! - [`manifest`] and [`params`]: what a plan declares, and checking a run's parameters against it.
//! - [`error`]: [`error::InputError`], bad input the user can fix (exit code 2).
//!
//! The simulation itself — clock, executor, sync service, trace — is the `netsim` crate.

pub mod bindings;
pub mod builder;
pub mod component;
pub mod composition;
pub mod engine;
pub mod error;
pub mod files;
pub mod instance;
pub mod manifest;
pub mod metrics;
pub mod params;
pub mod plan;
pub mod replay;
pub mod report;
pub mod run;
pub mod shard;
pub mod sync;
pub mod text;
pub mod wasi;
