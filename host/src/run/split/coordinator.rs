//! The process that splits a run: publishes it, starts the local workers,
//! and collects and merges their results (through Redis, or on the local
//! workers' pipes when Redis is lost).

use super::result::{ShardResult, WorkerReport, merge};
use super::worker::SplitInputs;
use crate::error::{Error, InputError};
use crate::run::{Execution, Run, RunSpec};
use crate::shard::{Heartbeat, JobBoard, JobError};
use crate::sync::redis::{RetryPolicy, nonce, redact};
use anyhow::Context as _;
use netsim::shard::ShardLayout;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How a run is split.
#[derive(Clone, Debug)]
pub struct SplitSettings {
    /// The Redis server that carries the run (`--sync`).
    pub url: String,
    /// How many shards, one per worker (`--workers`).
    pub workers: u32,
    /// How many of those this process starts (`--local-workers`); the others
    /// are left queued for `tg-wasm worker` on other machines.
    pub local_workers: u32,
    /// The longest window (`--lookahead`); the sync latency if `None`.
    pub lookahead: Option<Duration>,
    /// The `tg-wasm` binary local workers run.
    pub worker_exe: PathBuf,
}

/// The most worker processes one `run --workers` starts on this machine.
/// Each is a tg-wasm process with its own engine and compiled component,
/// about 23 MB before its first instance, so `--workers 5000` started here
/// would want over 100 GB; workers past the cores only add windows to trade.
/// More workers join from other machines (`tg-wasm worker`).
pub const MAX_LOCAL_WORKERS: u32 = 256;

/// How long after Ctrl-C the workers' reports are waited for.
const INTERRUPT_GRACE: Duration = Duration::from_secs(10);

/// How long, once Redis is lost, the local workers get to give up on it and
/// send their reports on their pipes instead: each first finishes the window
/// it is in (seconds, for a large shard) and then exhausts its own retries,
/// about 2 s for the window's exchange and 2 s more for its report. A worker
/// that is not done by then is not waited for; Ctrl-C ends the wait sooner.
const LOST_REDIS_GRACE: Duration = Duration::from_secs(60);

/// Worker exit codes that mean it sent its report before exiting (see `tg-wasm worker --help`).
const REPORTED_EXIT_CODES: [i32; 5] = [0, 1, 2, 3, 130];

/// Local workers, stopped and the run's keys deleted however the run ends.
struct Workers<'a> {
    board: &'a mut JobBoard,
    run: String,
    children: Vec<Child>,
    /// The write end of each local worker's pipe (see [`super::lifeline`]):
    /// open while the run lasts, closed by the kernel if this process dies.
    lifelines: Vec<ChildStdin>,
    /// Everything each local worker wrote to its standard output: nothing,
    /// unless Redis could not take its report.
    outputs: Vec<JoinHandle<Vec<u8>>>,
}

/// Why the coordinator stops waiting for the workers' results.
#[derive(Debug, thiserror::Error)]
enum Stop {
    /// A local worker exited without reporting.
    #[error("worker {index} ended ({status}) without sending its results")]
    WorkerGone { index: usize, status: std::process::ExitStatus },
    /// Ctrl-C, and the workers' reports did not come in time.
    #[error("interrupted, and not every worker reported within {0:?}")]
    Interrupted(Duration),
    /// Ctrl-C while shards still waited for a worker: a run missing a shard
    /// cannot be merged, so the others' reports are not waited for.
    #[error(
        "interrupted while {unclaimed} of {workers} shards still waited for a `tg-wasm worker` to claim them; \
         the run has no results"
    )]
    Unclaimed { unclaimed: u64, workers: u32 },
}

impl Workers<'_> {
    /// Why a worker is gone without a report, if one is.
    fn check(children: &mut [Child]) -> Result<(), Stop> {
        for (index, child) in children.iter_mut().enumerate() {
            if let Ok(Some(status)) = child.try_wait()
                && !status.code().is_some_and(|c| REPORTED_EXIT_CODES.contains(&c))
            {
                return Err(Stop::WorkerGone { index, status });
            }
        }
        Ok(())
    }

    /// After Redis was lost: waits (within [`LOST_REDIS_GRACE`], or until
    /// `interrupt`) for the local workers to exit and puts the reports they
    /// sent on their pipes into `frames`; returns the shards still missing.
    fn reports_from_pipes(&mut self, frames: &mut [Option<Vec<u8>>], interrupt: Option<&AtomicBool>) -> Vec<usize> {
        tracing::warn!(
            "Redis is lost: waiting up to {}s for the local workers to send their results on their pipes",
            LOST_REDIS_GRACE.as_secs()
        );
        let started = Instant::now();
        let mut exited = vec![false; self.children.len()];
        while started.elapsed() < LOST_REDIS_GRACE && !interrupt.is_some_and(|f| f.load(Ordering::Relaxed)) {
            for (child, exited) in self.children.iter_mut().zip(&mut exited) {
                *exited |= !matches!(child.try_wait(), Ok(None));
            }
            if exited.iter().all(|&e| e) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let outputs = std::mem::take(&mut self.outputs);
        for ((output, exited), frame) in outputs.into_iter().zip(exited).zip(frames.iter_mut()) {
            // A worker still running may yet write: its pipe is not read to an end that will not come.
            if frame.is_none()
                && exited
                && let Ok(bytes) = output.join()
            {
                *frame = super::lifeline::read_report(&bytes).map(<[u8]>::to_vec);
            }
        }
        (0..frames.len()).filter(|&i| frames[i].is_none()).collect()
    }
}

impl Drop for Workers<'_> {
    fn drop(&mut self) {
        for child in &mut self.children {
            // A worker still running here lost its run: it has nothing left to say.
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
        if let Err(e) = self.board.cleanup(&self.run) {
            tracing::warn!("could not delete the run's keys (they expire within 24 h): {e}");
        }
    }
}

impl SplitSettings {
    /// Checks the settings against the run of `spec` before anything starts;
    /// returns the lookahead the run will use.
    pub fn check(&self, spec: &RunSpec) -> Result<Duration, Error> {
        let n = spec.instance_count();
        if self.workers == 0 {
            return Err(InputError::new("--workers must be at least 1").into());
        }
        ShardLayout::new(0, self.workers, n).map_err(|e| InputError::new(e.to_string()))?;
        if self.local_workers > self.workers {
            return Err(InputError::new(format!(
                "--local-workers {} is more than --workers {}",
                self.local_workers, self.workers
            ))
            .into());
        }
        if self.local_workers > MAX_LOCAL_WORKERS {
            return Err(InputError::new(format!(
                "--workers {} would start {} worker processes on this machine, and at most {MAX_LOCAL_WORKERS} \
                 start on one (each is a tg-wasm process of its own): give --local-workers K for the ones to start \
                 here, and start the others elsewhere with `tg-wasm worker --sync URL`",
                self.workers, self.local_workers
            ))
            .into());
        }
        if let Some(why) = spec.network.split_refusal() {
            return Err(InputError::new(why).into());
        }
        // Workers receive one component; sending each group's is not built.
        if let Some(group) = spec.groups.iter().find(|g| g.component.is_some()) {
            return Err(InputError::new(format!(
                "group {:?} runs its own component, which a split run cannot do yet: run it in one process",
                group.id
            ))
            .into());
        }
        Ok(super::lookahead(spec.sync_latency, self.lookahead)?)
    }
}

/// Asks every worker of run `key` to stop at its next window: local ones on
/// their pipe (heard at once, even mid-window), all of them through Redis;
/// withdraws the shards no worker has claimed and returns how many there were.
fn forward_stop(url: &str, key: &str, lifelines: &mut [ChildStdin]) -> u64 {
    tracing::warn!("interrupted: asking the workers to stop and send what they have");
    for pipe in lifelines.iter_mut() {
        // A worker that already exited cannot be told, and needs not be.
        let _ = pipe.write_all(&[super::lifeline::STOP]).and_then(|()| pipe.flush());
    }
    match JobBoard::connect(url, RetryPolicy::default()) {
        Ok(mut board) => {
            if let Err(e) = board.request_stop(key) {
                tracing::warn!("could not ask the workers elsewhere to stop: {e}");
            }
            board.unqueue(key).unwrap_or_else(|e| {
                tracing::warn!("could not withdraw the shards no worker claimed: {e}");
                0
            })
        }
        Err(e) => {
            tracing::warn!("could not ask the workers elsewhere to stop: {e}");
            0
        }
    }
}

/// What a split run gives back: the merged execution, and which shards'
/// results it lacks, if any.
pub struct SplitExecution {
    /// Every shard's results merged: the one process's, digest included,
    /// when none is lost; otherwise the lost shards' instances stand as
    /// [`ShardResult::lost`] has them.
    pub execution: Execution,
    /// Why some shards' results are missing (one line), if they are: the run
    /// directory then holds everything else and says it is incomplete.
    pub lost: Option<String>,
}

/// Runs `run` split across `settings.workers` worker processes coordinated
/// through Redis, and merges their results.
pub fn run_split(run: &Run, settings: &SplitSettings) -> Result<SplitExecution, Error> {
    let spec = run.spec();
    let lookahead = settings.check(spec)?;
    let inputs = SplitInputs {
        tg_wasm_version: env!("CARGO_PKG_VERSION").to_string(),
        run_json: String::from_utf8(spec.record_json()?).context("run.json is UTF-8")?,
        lookahead_ns: u64::try_from(lookahead.as_nanos()).unwrap_or(u64::MAX),
        keep_trace: spec.keep_trace,
        wall_timeout_ns: spec.wall_timeout.map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
    };
    let key = format!("{}-{}", spec.test_run_id(), nonce());
    let mut board = JobBoard::connect(&settings.url, RetryPolicy::default())
        .map_err(|e| InputError::new(format!("--sync {}: {e}", redact(&settings.url))))?;
    let queued = settings.local_workers < settings.workers;
    board
        .publish_run(
            &key,
            settings.workers,
            &serde_json::to_vec(&inputs)?,
            &spec.component.bytes,
            settings.local_workers,
        )
        .context("publishing the run for its workers")?;
    if queued {
        tracing::warn!(
            "run {key}: {} of {} shards wait for `tg-wasm worker --sync {}` to claim them",
            settings.workers - settings.local_workers,
            settings.workers,
            redact(&settings.url)
        );
    }
    let mut workers = Workers {
        board: &mut board,
        run: key.clone(),
        children: Vec::new(),
        lifelines: Vec::new(),
        outputs: Vec::new(),
    };
    // Beats while the run is collected, so that workers elsewhere stop if this
    // process vanishes. Declared after `workers` so that it stops first: no
    // beat comes after the run's keys are deleted.
    let beating = Heartbeat::for_coordinator(&settings.url, &key).context("starting the run's heartbeat")?;
    for index in 0..settings.local_workers {
        let mut child = Command::new(&settings.worker_exe)
            .args(["worker", "--sync", &settings.url, "--join", &format!("{key}/{index}"), "--lifeline"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting worker {index} ({})", settings.worker_exe.display()))?;
        workers.lifelines.extend(child.stdin.take());
        workers.outputs.extend(child.stdout.take().map(super::lifeline::drain));
        workers.children.push(child);
    }
    // A run with a wall-time limit ends within it; a minute more covers writing the results.
    let timeout = spec.wall_timeout.map_or(Duration::from_secs(30 * 24 * 3600), |w| w + Duration::from_secs(60));
    let (children, lifelines) = (&mut workers.children, &mut workers.lifelines);
    let interrupt = spec.interrupt.clone();
    let mut interrupted_at = None;
    let mut unclaimed = 0;
    let mut reminder = queued.then(|| super::unclaimed::Unclaimed::new(&settings.url, &key, Instant::now()));
    // A signal to this process alone (a supervisor's SIGINT or SIGTERM) is
    // forwarded: the workers stop at their next window and report, so the run
    // directory gets what happened until then. A terminal's Ctrl-C reaches them
    // directly too; hearing it twice changes nothing.
    let mut frames = vec![None; settings.workers as usize];
    let collected = workers.board.collect_results(&key, &mut frames, timeout, None, || {
        Workers::check(children)?;
        if let Some(reminder) = &mut reminder {
            reminder.check(Instant::now());
        }
        if interrupt.as_deref().is_some_and(|f| f.load(Ordering::Relaxed)) {
            let since = *interrupted_at.get_or_insert_with(|| {
                unclaimed = forward_stop(&settings.url, &key, lifelines);
                Instant::now()
            });
            if unclaimed > 0 {
                return Err(Stop::Unclaimed { unclaimed, workers: settings.workers }.into());
            }
            if since.elapsed() > INTERRUPT_GRACE {
                return Err(Stop::Interrupted(INTERRUPT_GRACE).into());
            }
        }
        Ok(())
    });
    let mut lost = None;
    match collected {
        Ok(()) => {}
        // The shards' reports travel through Redis; a local worker that could
        // not send its own there sent it on its pipe instead.
        Err(gone @ (JobError::Lost(_) | JobError::KeysLost { .. })) => {
            let missing = workers.reports_from_pipes(&mut frames, spec.interrupt.as_deref());
            if missing.len() == frames.len() {
                return Err(anyhow::Error::from(gone)
                    .context("collecting the workers' results (none sent them on a pipe either)")
                    .into());
            }
            if missing.is_empty() {
                tracing::warn!("the workers sent their results on their pipes, as Redis could not carry them: {gone}");
            } else {
                // What the others sent is kept: their instances' outcomes and
                // output are what is left to learn from the run.
                let why = format!(
                    "the results of shard(s) {missing:?} were lost with Redis: their workers had no other way to \
                     send them ({})",
                    crate::text::one_line(&gone)
                );
                tracing::warn!("{why}; writing the other shards' results");
                lost = Some(why);
            }
        }
        Err(e) => return Err(anyhow::Error::from(e).context("collecting the workers' results").into()),
    }
    let mut results: Vec<Option<ShardResult>> = Vec::with_capacity(frames.len());
    for (index, frame) in frames.into_iter().enumerate() {
        let Some(frame) = frame else {
            results.push(None);
            continue;
        };
        let report: WorkerReport =
            serde_json::from_slice(&frame).with_context(|| format!("reading worker {index}'s results"))?;
        match report {
            WorkerReport::Ran(result) => results.push(Some(*result)),
            WorkerReport::Failed { shard, error, bad_input } => {
                let message = format!("worker {shard}: {error}");
                return Err(if bad_input { InputError::new(message).into() } else { anyhow::anyhow!(message).into() });
            }
        }
    }
    drop(beating);
    drop(workers);
    // The run ended when the last shard heard from did.
    let ended = results.iter().flatten().map(|r| r.execution.virtual_time).max().unwrap_or_default();
    let instances = spec.instance_count();
    let results = results
        .into_iter()
        .enumerate()
        .map(|(index, result)| {
            result.unwrap_or_else(|| {
                let layout = ShardLayout::new(index as u32, settings.workers, instances).expect("a shard of the run");
                ShardResult::lost(layout, ended, lost.as_deref().unwrap_or("its results were lost"))
            })
        })
        .collect();
    Ok(SplitExecution { execution: merge(run.placements().to_vec(), results), lost })
}
