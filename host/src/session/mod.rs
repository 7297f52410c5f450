//! One `tg-wasm run`, start to finish: the run checked, its directory's
//! inputs written, its instances executed the way asked — in this process,
//! several times over to check its determinism, or split across worker
//! processes — and its results written.
//!
//! This is where the ways to run are chosen ([`Mode`]); each step is a layer
//! below's: checking and executing are [`crate::run`]'s, writing the run
//! directory [`crate::outputs`]'. The command line and replays call [`run`]
//! and render what it returns; nothing here prints.

pub mod determinism;

pub use determinism::{DEFAULT_RUNS, DeterminismCheck};

use crate::error::{Error, InputError};
use crate::outputs::{self, RunDirectory};
use crate::run::observe::Observer;
use crate::run::split::{SplitSettings, run_split};
use crate::run::{Execution, Run, RunSpec, RunSummary};
use crate::sync::SyncSetting;
use std::path::PathBuf;

/// How a run's instances are executed.
#[derive(Clone, Debug)]
pub enum Mode {
    /// All of them in this process, once.
    OneProcess,
    /// All of them in this process, `runs` times (at least 2), failing the
    /// check if the trace digests differ (`--check-determinism`).
    CheckDeterminism { runs: u32 },
    /// Split across worker processes coordinated through Redis (`--workers`).
    Workers(SplitSettings),
}

/// How to run, and where the results go.
pub struct RunOptions<'a> {
    /// The run directory.
    pub out: PathBuf,
    /// How the instances are executed.
    pub mode: Mode,
    /// Where sync states and topics are kept.
    pub sync: SyncSetting,
    /// Shown the run's progress while it executes (one process only).
    pub observer: Option<&'a dyn Observer>,
}

impl RunOptions<'_> {
    /// One process, embedded sync, no observer, results in `out`.
    pub fn new(out: impl Into<PathBuf>) -> RunOptions<'static> {
        RunOptions { out: out.into(), mode: Mode::OneProcess, sync: SyncSetting::Embedded, observer: None }
    }
}

/// What a finished run produced.
pub struct Finished {
    /// Outcomes per group, metrics, digest.
    pub summary: RunSummary,
    /// Everything the instances did (of the first run, when checking determinism).
    pub execution: Execution,
    /// The determinism check, in that mode.
    pub determinism: Option<DeterminismCheck>,
}

/// Runs `spec` as `options` say and writes its run directory, which it holds
/// for itself meanwhile ([`RunDirectory`]). Every input error is found
/// before anything is written; a run that starts always returns its summary,
/// however its instances end, and writes its results — where an output could
/// not be written, the summary says `incomplete` and why.
pub fn run(spec: RunSpec, options: &RunOptions<'_>) -> Result<Finished, Error> {
    match &options.mode {
        Mode::OneProcess => {
            let n = spec.instance_count();
            let run = Run::prepare(spec, n)?;
            let dir = RunDirectory::take(&options.out)?;
            outputs::write_inputs(dir.path(), run.spec())?;
            let execution = run.execute(options.observer, &options.sync)?;
            let mut summary = run.summarize(&execution);
            outputs::write_results(dir.path(), &mut summary, &execution);
            Ok(Finished { summary, execution, determinism: None })
        }
        Mode::CheckDeterminism { runs } => {
            if options.sync != SyncSetting::Embedded {
                return Err(
                    InputError::new("--check-determinism runs with the embedded sync service; drop --sync").into()
                );
            }
            let (summary, execution, check) = determinism::check(spec, &options.out, *runs)?;
            Ok(Finished { summary, execution, determinism: Some(check) })
        }
        Mode::Workers(settings) => {
            if !matches!(options.sync, SyncSetting::Redis(_)) {
                return Err(InputError::new(
                    "--workers needs a Redis server to coordinate them: add --sync redis://HOST:PORT (e.g. a local redis-server)",
                )
                .into());
            }
            settings.check(&spec)?;
            // The coordinator hosts no instance: its engine only describes the plan.
            let run = Run::prepare(spec, 0)?;
            let dir = RunDirectory::take(&options.out)?;
            outputs::write_inputs(dir.path(), run.spec())?;
            let execution = run_split(&run, settings)?;
            let mut summary = run.summarize(&execution);
            outputs::write_results(dir.path(), &mut summary, &execution);
            Ok(Finished { summary, execution, determinism: None })
        }
    }
}
