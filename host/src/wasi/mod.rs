//! The WASI a plan sees: standard interfaces, virtualized where they would let
//! the host's state leak into a run.
//!
//! Clocks ([`clocks`]) run on virtual time, randomness ([`random`]) comes from
//! the run's seed, and stdout/stderr ([`output`]) are captured per instance and
//! traced. `wasi:io` ([`io`]) is the host's own, so that a poll over many
//! sockets costs what checking them costs. `wasi:cli/environment`
//! ([`environment`]) is derived from the instance's place when asked. The
//! rest of WASI (cli, filesystem with no preopened directory) comes from
//! wasmtime-wasi, added interface by interface so that nothing with
//! real-world effects — its real clocks, sleeps and OS sockets — is linked.

pub mod clocks;
pub mod environment;
pub mod io;
pub mod output;
pub mod random;
pub mod sockets;

use crate::instance::InstanceState;
use wasmtime::component::Linker;
use wasmtime_wasi::cli::WasiCli;
use wasmtime_wasi::filesystem::WasiFilesystem;
use wasmtime_wasi::p2::bindings::{cli, filesystem};
use wasmtime_wasi::random::WasiRandom;

/// Adds every WASI 0.2 interface a plan may import to `linker`.
pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> anyhow::Result<()> {
    io::add_to_linker(linker)?;

    clocks::add_to_linker(linker)?;

    use wasmtime_wasi::p2::bindings::random as wr;
    wr::random::add_to_linker::<InstanceState, WasiRandom>(linker, |s| s.wasi_mut().random())?;
    wr::insecure::add_to_linker::<InstanceState, WasiRandom>(linker, |s| s.wasi_mut().random())?;
    wr::insecure_seed::add_to_linker::<InstanceState, WasiRandom>(linker, |s| s.wasi_mut().random())?;

    use wasmtime_wasi::cli::WasiCliView;
    cli::exit::add_to_linker::<InstanceState, WasiCli>(linker, InstanceState::cli)?;
    environment::add_to_linker(linker)?;
    cli::stdin::add_to_linker::<InstanceState, WasiCli>(linker, InstanceState::cli)?;
    cli::stdout::add_to_linker::<InstanceState, WasiCli>(linker, InstanceState::cli)?;
    cli::stderr::add_to_linker::<InstanceState, WasiCli>(linker, InstanceState::cli)?;
    cli::terminal_input::add_to_linker::<InstanceState, WasiCli>(linker, InstanceState::cli)?;
    cli::terminal_output::add_to_linker::<InstanceState, WasiCli>(linker, InstanceState::cli)?;
    cli::terminal_stdin::add_to_linker::<InstanceState, WasiCli>(linker, InstanceState::cli)?;
    cli::terminal_stdout::add_to_linker::<InstanceState, WasiCli>(linker, InstanceState::cli)?;
    cli::terminal_stderr::add_to_linker::<InstanceState, WasiCli>(linker, InstanceState::cli)?;

    use wasmtime_wasi::filesystem::WasiFilesystemView;
    filesystem::types::add_to_linker::<InstanceState, WasiFilesystem>(linker, InstanceState::filesystem)?;
    filesystem::preopens::add_to_linker::<InstanceState, WasiFilesystem>(linker, InstanceState::filesystem)?;

    sockets::add_to_linker(linker)?;
    Ok(())
}
