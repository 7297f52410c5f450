//! A worker process: claims (or is given) one shard of a split run, runs it,
//! and sends its results back through Redis.

use super::link::MailboxLink;
use super::result::{ShardResult, WorkerReport};
use crate::component::PlanComponent;
use crate::error::{Error, InputError};
use crate::run::Run;
use crate::run::record::RecordedRun;
use crate::shard::heartbeat::SILENT_LIMIT;
use crate::shard::{Heartbeat, JobBoard, JobError, MailboxPolicy, PublishedRun, ShardMailbox, ShardTicket};
use crate::sync::redis::RetryPolicy;
use anyhow::Context as _;
use netsim::shard::ShardLayout;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// What a split run publishes for its workers besides the plan: `run.json`'s
/// inputs and the settings of the split.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct SplitInputs {
    /// The tg-wasm version of the coordinator, which every worker must share
    /// ([`check_version`]).
    pub tg_wasm_version: String,
    /// `run.json`, as the run directory records it.
    pub run_json: String,
    /// The longest window, in nanoseconds.
    pub lookahead_ns: u64,
    /// Whether to keep every trace record.
    pub keep_trace: bool,
    /// The wall-time limit, in nanoseconds.
    pub wall_timeout_ns: Option<u64>,
}

/// How `tg-wasm worker` was asked to work.
pub struct WorkerSettings {
    /// The Redis server coordinating the run.
    pub url: String,
    /// The shard to run, `RUN/INDEX`; `None` claims the next one queued.
    pub join: Option<String>,
    /// How long to wait for a shard to claim.
    pub wait: Duration,
    /// Set by Ctrl-C.
    pub interrupt: Arc<AtomicBool>,
    /// Where a local worker sends its report when Redis cannot take it: the
    /// pipe to the `run` that started it (see [`super::lifeline`]).
    pub report_pipe: Option<Box<dyn std::io::Write + Send>>,
}

/// What a worker did.
#[derive(Debug)]
pub enum WorkerDone {
    /// It ran shard `index` of run `run`.
    Ran {
        /// The run key.
        run: String,
        /// The shard.
        index: u32,
        /// Whether its instances all ended `ok`.
        success: bool,
    },
    /// No shard was queued within the wait.
    NothingToDo,
}

fn parse_join(join: &str) -> Result<(String, u32), InputError> {
    let bad =
        || InputError::new(format!("--join takes RUN/INDEX (e.g. 3f2a9c1b7d4e-0123456789abcdef/2), not {join:?}"));
    let (run, index) = join.rsplit_once('/').ok_or_else(bad)?;
    Ok((run.to_string(), index.parse().map_err(|_| bad())?))
}

/// Runs one shard and sends back its results; see the module documentation.
pub fn run_worker(settings: &mut WorkerSettings) -> Result<WorkerDone, Error> {
    let redact = crate::sync::redis::redact(&settings.url);
    let mut board = JobBoard::connect(&settings.url, RetryPolicy::default())
        .map_err(|e| InputError::new(format!("--sync {redact}: {e}")))?;
    let (run, index) = match &settings.join {
        Some(join) => parse_join(join)?,
        None => match board.claim(settings.wait, Some(&settings.interrupt)).context("claiming a shard")? {
            Some(ShardTicket { run, index, .. }) => (run, index),
            None => return Ok(WorkerDone::NothingToDo),
        },
    };
    let span = tracing::info_span!("worker", run = %run, shard = index);
    let _entered = span.enter();
    // Beating from the claim on (the claim itself was the first beat), through
    // fetching a plan that may be large and compiling it, while the shard runs,
    // so that the collector can tell this worker gone from busy; the key goes
    // before the result is sent.
    let outcome = match Heartbeat::for_shard(&settings.url, &run, index) {
        Ok(_beating) => match board.fetch_run(&run) {
            Ok(published) => run_claimed(settings, &run, index, published),
            // No coordinator waits on a run that is not there: nobody to tell,
            // and a report would only leave keys behind.
            Err(e @ JobError::NotFound { .. }) => return Err(InputError::new(e.to_string()).into()),
            // Anything else (a run this version cannot read) is reported, so the run ends saying why.
            Err(e) => Err(Error::from(anyhow::Error::from(e).context("fetching the run"))),
        },
        Err(e) => Err(Error::from(anyhow::Error::from(e).context("starting the shard's heartbeat"))),
    };
    let report = match outcome {
        Ok(result) => WorkerReport::Ran(Box::new(result)),
        Err(e) => {
            let bad_input = e.is_input();
            let error = format!("{e:#}");
            // The other shards wait on this one: tell them it is gone.
            let _ = board.abort(&run, &format!("worker {index} failed: {error}"));
            WorkerReport::Failed { shard: index, error, bad_input }
        }
    };
    let success = match &report {
        WorkerReport::Ran(r) => {
            let e = &r.execution;
            e.end == netsim::RunEnd::Completed && e.outcomes.iter().all(|o| o.outcome == crate::run::Outcome::Ok)
        }
        WorkerReport::Failed { .. } => false,
    };
    let bytes = serde_json::to_vec(&report).context("encoding the shard's results")?;
    if let Err(lost) = board.push_result(&run, index, &bytes) {
        let Some(pipe) = settings.report_pipe.as_mut() else {
            return Err(anyhow::Error::from(lost).context("sending the shard's results").into());
        };
        tracing::warn!("sending the shard's results on the coordinator's pipe, as Redis cannot take them: {lost}");
        super::lifeline::send_report(pipe, &bytes).context("sending the shard's results on the coordinator's pipe")?;
    }
    if let WorkerReport::Failed { error, bad_input, .. } = report {
        return Err(if bad_input { InputError::new(error).into() } else { anyhow::anyhow!(error).into() });
    }
    Ok(WorkerDone::Ran { run, index, success })
}

/// Refuses a run published by another tg-wasm version. Versions may
/// simulate differently (a digest changes only with the version) and frame
/// their exchanges differently, so a mixed run would give a wrong digest or
/// fail mid-run with a decoding error; a worker left behind by an upgrade
/// says so instead. Read before the rest of the inputs, whose form may be
/// what changed.
fn check_version(run: &str, spec_json: &[u8]) -> Result<(), InputError> {
    #[derive(serde::Deserialize)]
    struct PublishedBy {
        tg_wasm_version: Option<String>,
    }
    let ours = env!("CARGO_PKG_VERSION");
    let theirs = serde_json::from_slice::<PublishedBy>(spec_json).ok().and_then(|p| p.tg_wasm_version);
    match theirs {
        Some(v) if v == ours => Ok(()),
        theirs => Err(InputError::new(format!(
            "run {run} was published by tg-wasm {}, and this worker is tg-wasm {ours}: the coordinator and every \
             worker of a split run must be the same version; run workers of the coordinator's",
            theirs.as_deref().unwrap_or("older than 0.8.0")
        ))),
    }
}

fn run_claimed(
    settings: &WorkerSettings,
    run: &str,
    index: u32,
    published: PublishedRun,
) -> Result<ShardResult, Error> {
    check_version(run, &published.spec_json)?;
    let inputs: SplitInputs = serde_json::from_slice(&published.spec_json).context("reading the run's inputs")?;
    let recorded = RecordedRun::parse(&inputs.run_json).context("reading the run's run.json")?;
    let component = PlanComponent::from_bytes(PathBuf::from(format!("{run}/plan.wasm")), published.plan_wasm)?;
    let mut spec = recorded.spec(component, Vec::new());
    spec.keep_trace = inputs.keep_trace;
    spec.wall_timeout = inputs.wall_timeout_ns.map(Duration::from_nanos);
    spec.interrupt = Some(settings.interrupt.clone());
    let layout =
        ShardLayout::new(index, published.count, spec.instance_count()).map_err(|e| InputError::new(e.to_string()))?;
    let wall_timeout = spec.wall_timeout;
    let shard = Run::prepare(spec, layout.nodes().len() as u32)?;
    // A coordinator whose heartbeat stops will collect nothing: stop too.
    let mut policy = MailboxPolicy { coordinator_silence: Some(SILENT_LIMIT), ..MailboxPolicy::default() };
    if let Some(wall) = wall_timeout {
        // A peer silent past the run's own limit is gone.
        policy.peer_timeout = policy.peer_timeout.min(wall + Duration::from_secs(30));
    }
    let mut mailbox = ShardMailbox::connect(&settings.url, run, index, published.count, policy)
        .context("opening the shard's mailbox")?;
    mailbox.set_interrupt(settings.interrupt.clone());
    let mut link = MailboxLink::new(mailbox);
    let lookahead = Duration::from_nanos(inputs.lookahead_ns);
    let execution = shard.execute_shard(layout, lookahead, &mut link)?;
    Ok(ShardResult::of(execution, layout))
}
