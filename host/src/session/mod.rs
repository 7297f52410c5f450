//! One `tg-wasm run`, start to finish: the run checked, its directory's
//! inputs written, its instances executed the way asked — in this process
//! (on one thread or several), several times over to check its determinism,
//! or split across worker processes — and its results written.
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
use crate::run::split::{SplitExecution, SplitSettings, run_split};
use crate::run::threads::{OneThreadBecause, ThreadPlan, plan_threads};
use crate::run::{Execution, Run, RunSpec, RunSummary};
use crate::sync::SyncSetting;
use std::path::PathBuf;
use std::time::Duration;

/// How a run's instances are executed.
#[derive(Clone, Debug)]
pub enum Mode {
    /// All of them in this process, once, on the threads [`RunOptions::threads`] allows.
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
    /// `out` is a name tg-wasm chose, not the user: if it exists, or another
    /// run takes it first, the run takes `out-2`, `out-3`, … instead
    /// ([`RunDirectory::take_new`]); [`Finished::dir`] says which.
    pub fresh_out: bool,
    /// How the instances are executed.
    pub mode: Mode,
    /// Where sync states and topics are kept.
    pub sync: SyncSetting,
    /// How many threads a run in one process may use.
    pub threads: Threads,
    /// Shown the run's progress while it executes (one process only).
    pub observer: Option<&'a dyn Observer>,
}

impl RunOptions<'_> {
    /// One process, one thread, embedded sync, no observer, results in `out`.
    pub fn new(out: impl Into<PathBuf>) -> RunOptions<'static> {
        RunOptions {
            out: out.into(),
            fresh_out: false,
            mode: Mode::OneProcess,
            sync: SyncSetting::Embedded,
            threads: Threads::ONE,
            observer: None,
        }
    }
}

/// Instances from which a run left on one thread for want of a lookahead is
/// told so as a warning: smaller runs end in a second or two whatever the
/// threads, and most have no lookahead, so telling them would be noise.
const LARGE_RUN: u32 = 1000;

/// How many threads a run in one process may use (`--threads`). Any number
/// gives the digest of one; more than one needs a lookahead, and a run
/// without one runs on one thread (see [`crate::run::threads`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Threads {
    /// How many; `None`, as many as the machine has cores available.
    pub count: Option<u32>,
    /// The longest window between them; `None`, the sync latency.
    pub lookahead: Option<Duration>,
}

impl Threads {
    /// One thread.
    pub const ONE: Threads = Threads { count: Some(1), lookahead: None };

    /// The threads `run` uses; when it cannot use what was asked, says why.
    fn plan(&self, run: &Run, sync: &SyncSetting) -> ThreadPlan {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
        match plan_threads(run, self.count.unwrap_or(cores), self.lookahead, sync) {
            Ok(plan) => plan,
            Err((OneThreadBecause::NoLookahead, plan))
                if self.count.is_none() && run.spec().instance_count() >= LARGE_RUN =>
            {
                // Left at information level, this is where a large run's
                // time goes unexplained: the headline DHT run takes twice
                // as long on one core of two.
                tracing::warn!(
                    "{} instances run on one of {cores} cores: the run has no lookahead (its sync latency is \
                     zero). --sync-latency 1ms, with links at least that slow, lets it use every core; every sync \
                     operation then takes 1 ms each way, which changes the run and its digest",
                    run.spec().instance_count()
                );
                plan
            }
            // An explicit --lookahead that cannot work is the user's own
            // setting ignored: said as a warning whatever the thread count.
            Err((why @ OneThreadBecause::Lookahead(_), plan)) if self.count.is_none() => {
                tracing::warn!("--lookahead: {why}");
                plan
            }
            Err((why, plan)) => {
                self.say(&why.to_string());
                plan
            }
        }
    }

    /// Says once why a run uses one thread: as a warning when `--threads`
    /// was given, as information when it was the machine's default (most
    /// runs have no lookahead, and need not be told so each time).
    fn say(&self, why: &str) {
        match self.count {
            Some(_) => tracing::warn!("--threads: {why}"),
            None => tracing::info!("{why}"),
        }
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
    /// The run directory the run wrote.
    pub dir: PathBuf,
}

impl RunOptions<'_> {
    /// Takes the run directory, as [`RunOptions::fresh_out`] says.
    fn take_dir(&self) -> Result<RunDirectory, Error> {
        if self.fresh_out { RunDirectory::take_new(&self.out) } else { RunDirectory::take(&self.out) }
    }
}

/// Runs `spec` as `options` say and writes its run directory, which it holds
/// for itself meanwhile ([`RunDirectory`]). A run refused as bad input leaves
/// no run directory: most refusals come before anything is written, and one
/// found only as the run starts (a Redis server that cannot be reached)
/// removes what was. A run that starts always returns its summary,
/// however its instances end, and writes its results — where an output could
/// not be written, the summary says `incomplete` and why.
pub fn run(spec: RunSpec, options: &RunOptions<'_>) -> Result<Finished, Error> {
    match &options.mode {
        Mode::OneProcess => {
            let n = spec.instance_count();
            let run = Run::prepare(spec, n)?;
            let threads = options.threads.plan(&run, &options.sync);
            options.sync.check()?;
            let dir = options.take_dir()?;
            outputs::write_inputs(dir.path(), run.spec())?;
            let ((execution, _), dir) =
                unless_refused(execute_in_process(&run, threads, options.observer, options), dir)?;
            let mut summary = run.summarize(&execution);
            outputs::write_results(dir.path(), &mut summary, &execution);
            Ok(Finished { summary, execution, determinism: None, dir: dir.path().to_path_buf() })
        }
        Mode::CheckDeterminism { runs } => {
            if options.sync != SyncSetting::Embedded {
                return Err(
                    InputError::new("--check-determinism runs with the embedded sync service; drop --sync").into()
                );
            }
            // Every run on the threads the first ended up on: the check is of
            // the run as it runs without it, and says only once why it uses one.
            let mut threads = None;
            let execute = |run: &Run| {
                let plan = threads.unwrap_or_else(|| options.threads.plan(run, &options.sync));
                let (execution, used) = execute_in_process(run, plan, None, options)?;
                threads = Some(used);
                Ok(execution)
            };
            let (summary, execution, check, dir) = determinism::check(spec, || options.take_dir(), *runs, execute)?;
            Ok(Finished { summary, execution, determinism: Some(check), dir })
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
            options.sync.check()?;
            let dir = options.take_dir()?;
            outputs::write_inputs(dir.path(), run.spec())?;
            let (SplitExecution { execution, lost }, dir) = unless_refused(run_split(&run, settings), dir)?;
            let mut summary = run.summarize(&execution);
            // Whatever came is written; the summary says what did not.
            summary.partial_digest = lost.is_some();
            summary.incomplete = lost;
            outputs::write_results(dir.path(), &mut summary, &execution);
            Ok(Finished { summary, execution, determinism: None, dir: dir.path().to_path_buf() })
        }
    }
}

/// `result` with the run directory to write it into; a refusal (bad input
/// found only as the run starts: a Redis server that cannot be reached, a
/// database it does not have) abandons the directory instead, so that where
/// no run happened nothing looks like one.
fn unless_refused<T>(result: Result<T, Error>, dir: RunDirectory) -> Result<(T, RunDirectory), Error> {
    match result {
        Ok(value) => Ok((value, dir)),
        Err(e) if e.is_input() => {
            dir.abandon();
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// Executes `run` in this process on `plan`'s threads; a threaded run that
/// cannot go on split (a packet faster than the lookahead) runs again on one,
/// saying why. Returns the execution and the threads it ended up on.
fn execute_in_process(
    run: &Run,
    plan: ThreadPlan,
    observer: Option<&dyn Observer>,
    options: &RunOptions<'_>,
) -> Result<(Execution, ThreadPlan), Error> {
    if plan.threads == 1 {
        return Ok((run.execute(observer, &options.sync)?, plan));
    }
    let mut used = plan;
    let execution = run.execute_on_threads(plan, observer, |why| {
        options.threads.say(&format!("{why}; running it again on one thread"));
        used = ThreadPlan::ONE;
    })?;
    Ok((execution, used))
}
