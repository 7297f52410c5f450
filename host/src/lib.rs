//! tg-wasm: Testground-style test plans as thousands of deterministic
//! WebAssembly instances in one process.
//!
//! The binary is a thin layer over this library. A reader should start at
//! [`session::run`], which is one `tg-wasm run` from start to finish, and go
//! down from there. The modules form layers; each imports only from the
//! layers below it (`tests/layers.rs` keeps it so):
//!
//! 1. **Sessions and replays** — [`session`]: the ways to run (one process,
//!    `--check-determinism`, `--workers`); [`replay`]: re-running a run
//!    directory, `tg-wasm diff`; [`composition`]: a run's inputs from a
//!    composition file, Testground's or tg-wasm's; [`testground`]: what
//!    Testground's flags and fields mean here.
//! 2. **Outputs** — [`outputs`]: the run directory, written in one place.
//! 3. **Report** — [`report`]: what people read — `report.html`, JUnit XML,
//!    the progress line.
//! 4. **Run** — [`run`]: one run from checked inputs ([`run::RunSpec`],
//!    [`run::Run`]) to what its instances did ([`run::Execution`],
//!    [`run::RunSummary`]), in one process or split across workers.
//! 5. **The plan's world** — [`instance`] (what an instance's `Store` holds),
//!    [`wasi`] (the WASI a plan sees: virtual clocks, seeded randomness,
//!    captured output, sockets on the simulated network) and [`plan`] (the
//!    host side of `tg:plan`), with [`bindings`]; [`engine`], [`component`],
//!    [`manifest`], [`params`], [`builder`], [`scaffold`] (`tg-wasm new`); [`sync`] (where
//!    sync states and topics are kept: embedded, or Redis) and [`shard`] (the
//!    Redis transport of split runs).
//! 6. **Models** — [`metrics`]: what plans record, and its aggregation;
//!    [`divergence`]: where two traces part; [`limits`]: what a plan may make
//!    the host hold.
//! 7. **Foundations** — [`error`] (typed errors and exit codes), [`files`]
//!    (atomic writes), [`text`] (numbers, escaping, one-line errors).
//!
//! The simulation itself — clock, executor, sync service, network, trace —
//! is the `netsim` crate, which knows nothing of wasm.

pub mod bindings;
pub mod builder;
pub mod component;
pub mod composition;
pub mod divergence;
pub mod engine;
pub mod error;
pub mod files;
pub mod instance;
pub mod limits;
pub mod manifest;
pub mod metrics;
pub mod outputs;
pub mod params;
pub mod plan;
pub mod replay;
pub mod report;
pub mod run;
pub mod scaffold;
pub mod session;
pub mod shard;
pub mod sync;
pub mod testground;
pub mod text;
pub mod wasi;
