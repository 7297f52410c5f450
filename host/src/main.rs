//! The `tg-wasm` command: parses arguments ([`cli`]) and calls the library.
//!
//! Exit codes: 0 the run succeeded, 1 the run failed (some instance was not
//! `ok`), 2 bad input (the message says what to fix), 3 tg-wasm itself failed,
//! 130 interrupted by Ctrl-C. A library error carries its own code
//! ([`tg_wasm::error::Error::exit_code`]).

mod cli;

use anyhow::Context as _;
use clap::Parser as _;
use cli::{Cli, Command, RunArgs, WorkerArgs};
use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tg_wasm::engine::EngineSettings;
use tg_wasm::error::{Error, InputError};
use tg_wasm::limits::HostLimits;
use tg_wasm::report::progress::TerminalProgress;
use tg_wasm::run::observe::Observer;
use tg_wasm::run::split::{SplitSettings, WorkerSettings, lifeline};
use tg_wasm::run::{GroupRequest, NetworkSpec, RunSpec, ScheduledFault};
use tg_wasm::session::{self, Mode, RunOptions, Threads};
use tg_wasm::{builder, component, composition, outputs, params};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            // One line, like every other bad-input error; clap's own rendering spans several.
            let text = e.render().to_string();
            let first: Vec<&str> = text.lines().map(str::trim).take_while(|l| !l.is_empty()).collect();
            eprintln!("{} (see `tg-wasm --help`)", first.join(" "));
            return ExitCode::from(2);
        }
    };
    let filter = match cli.verbose {
        0 => "warn",
        1 => "warn,tg_wasm=debug",
        _ => "debug,cranelift_codegen=info,wasmtime_cranelift=info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| filter.into()))
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never into a file or a CI log.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn dispatch(command: Command) -> Result<ExitCode, Error> {
    match command {
        Command::Run(args) => run(args),
        Command::Worker(args) => worker(args),
        Command::Build { dir } => {
            println!("{}", builder::build(&dir)?.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Describe { plan } => {
            let component = component::load(&builder::resolve_plan(&plan)?)?;
            let prepared = tg_wasm::run::prepare(&component, &EngineSettings::default(), 1)?;
            print!("{}", prepared.components[0].render());
            Ok(ExitCode::SUCCESS)
        }
        Command::Report { run_dir } => {
            println!("{}", outputs::regenerate_report(&run_dir)?.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Replay { run_dir } => {
            let replay = tg_wasm::replay::replay(&run_dir, None)?;
            print!("{}", replay.render());
            Ok(if replay.reproduced() { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Diff { a, b } => {
            let diff = tg_wasm::replay::diff_runs(&a, &b)?;
            print!("{}", diff.render());
            Ok(if diff.identical() { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
    }
}

/// What the run is made of: from a composition file, or from PLAN and --instances.
struct RunShape {
    plan: PathBuf,
    case: Option<String>,
    seed: Option<u64>,
    global_params: BTreeMap<String, String>,
    groups: Vec<GroupRequest>,
    /// The component path of each group that names its own.
    group_plans: Vec<Option<PathBuf>>,
    faults: Vec<ScheduledFault>,
    network: NetworkSpec,
}

fn shape(args: &RunArgs) -> Result<RunShape, Error> {
    if let Some(file) = &args.composition {
        let c = composition::load(file)?;
        return Ok(RunShape {
            plan: c.plan,
            case: Some(c.case),
            seed: c.seed,
            global_params: c.global_params,
            groups: c.groups,
            group_plans: c.group_plans,
            faults: c.faults,
            network: c.network,
        });
    }
    let instances = args.instances.unwrap_or(1);
    if instances == 0 {
        return Err(InputError::new("--instances must be at least 1").into());
    }
    Ok(RunShape {
        // clap requires PLAN when there is no composition.
        plan: args.plan.clone().unwrap_or_default(),
        case: None,
        seed: None,
        global_params: BTreeMap::new(),
        groups: vec![GroupRequest::new("single", instances)],
        group_plans: Vec::new(),
        faults: Vec::new(),
        network: NetworkSpec::default(),
    })
}

fn run(args: RunArgs) -> Result<ExitCode, Error> {
    let mut shape = shape(&args)?;
    for p in &args.params {
        let (name, value) = params::parse_assignment(p)?;
        shape.global_params.insert(name, value);
    }
    let component = component::load(&builder::resolve_plan(&shape.plan)?)?;
    // Groups naming one plan share one build and one load.
    let mut loaded: Vec<(&PathBuf, component::PlanComponent)> = Vec::new();
    for (group, plan) in shape.groups.iter_mut().zip(&shape.group_plans) {
        let Some(plan) = plan else { continue };
        if let Some((_, same)) = loaded.iter().find(|(p, _)| *p == plan) {
            group.component = Some(same.clone());
            continue;
        }
        let component = component::load(&builder::resolve_plan(plan)?)?;
        group.component = Some(component.clone());
        loaded.push((plan, component));
    }
    let engine = EngineSettings { memory_limit: args.memory_limit, fuel: args.fuel, ..EngineSettings::default() };
    let test_case = match args.testcase.clone().or(shape.case) {
        Some(c) => c,
        None => first_case(&component, &engine)?,
    };
    let interrupt = Arc::new(AtomicBool::new(false));
    let flag = interrupt.clone();
    // A second Ctrl-C while results are being written falls back to the default (exit).
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
    let spec = RunSpec {
        component,
        test_case,
        groups: shape.groups,
        global_params: shape.global_params,
        seed: args.seed.or(shape.seed).unwrap_or(0),
        engine,
        sync_latency: args.sync_latency,
        virtual_timeout: args.virtual_timeout,
        wall_timeout: args.timeout,
        keep_trace: args.trace,
        interrupt: Some(interrupt.clone()),
        faults: shape.faults,
        network: NetworkSpec { ipv6: shape.network.ipv6 || args.ipv6, ..shape.network },
        limits: HostLimits {
            topic_bytes: args.max_topic_bytes,
            sync_names: args.max_sync_names,
            sockets: args.max_sockets,
            message_bytes: args.max_message_bytes,
        },
    };
    let out = args.out.clone().unwrap_or_else(|| outputs::default_dir(&spec));
    let mode = match (args.workers, args.check_determinism) {
        (Some(workers), _) => Mode::Workers(SplitSettings {
            url: match &args.sync {
                tg_wasm::sync::SyncSetting::Redis(url) => url.clone(),
                tg_wasm::sync::SyncSetting::Embedded => String::new(),
            },
            workers,
            local_workers: args.local_workers.unwrap_or(workers),
            lookahead: args.lookahead,
            worker_exe: std::env::current_exe().context("finding the tg-wasm binary to start workers")?,
        }),
        (None, Some(runs)) => Mode::CheckDeterminism { runs },
        (None, None) => Mode::OneProcess,
    };
    // A live progress line only where someone watches: stderr on a terminal, in one process.
    let progress = (matches!(mode, Mode::OneProcess) && std::io::stderr().is_terminal())
        .then(|| TerminalProgress::new(Box::new(std::io::stderr())));
    let split = matches!(mode, Mode::Workers(_));
    let options = RunOptions {
        out: out.clone(),
        mode,
        sync: args.sync.clone(),
        threads: Threads { count: args.threads, lookahead: args.lookahead },
        observer: progress.as_ref().map(|p| p as &dyn Observer),
    };
    let finished = match session::run(spec, &options) {
        Ok(finished) => finished,
        Err(e) if split && interrupt.load(Ordering::SeqCst) => {
            // The workers stop at their next window; their results are not waited for.
            eprintln!("interrupted: {e}");
            return Ok(ExitCode::from(130));
        }
        Err(e) => return Err(e),
    };
    finish_run(&args, &out, &finished, &interrupt)
}

/// Prints the summary, then writes the JUnit file, and decides the exit
/// code: the outcome is printed whatever fails after the run.
fn finish_run(
    args: &RunArgs,
    out: &Path,
    finished: &session::Finished,
    interrupt: &AtomicBool,
) -> Result<ExitCode, Error> {
    let summary = &finished.summary;
    if args.json {
        println!("{}", serde_json::to_string_pretty(summary).context("encoding the summary")?);
    } else {
        print!("{}", summary.render());
        println!("run directory: {}", out.display());
    }
    if let Some(check) = &finished.determinism {
        // On stderr with --json, so stdout stays one JSON document.
        if args.json {
            eprint!("{}", check.render());
        } else {
            print!("{}", check.render());
        }
    }
    let junit = args.junit.as_ref().map(|file| outputs::write_junit(file, summary)).transpose();
    if let Some(why) = &summary.incomplete {
        eprintln!("error: the run directory {} is incomplete: {why}", out.display());
        return Ok(ExitCode::from(3));
    }
    if let Err(e) = junit {
        eprintln!("error: {e:#}");
        return Ok(ExitCode::from(3));
    }
    Ok(if interrupt.load(Ordering::SeqCst) {
        ExitCode::from(130)
    } else if finished.determinism.as_ref().is_some_and(|c| !c.deterministic()) {
        ExitCode::from(1)
    } else if summary.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// A local worker whose coordinator is gone exits with this, as with any failure of its own.
const EXIT_ORPHANED: i32 = 3;

fn worker(args: WorkerArgs) -> Result<ExitCode, Error> {
    tg_wasm::sync::SyncSetting::parse(&args.sync)?;
    let interrupt = Arc::new(AtomicBool::new(false));
    let flag = interrupt.clone();
    let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
    if args.lifeline
        && let Some(join) = &args.join
    {
        let (url, join) = (args.sync.clone(), join.clone());
        lifeline::watch(std::io::stdin(), interrupt.clone(), move || {
            // Nobody will collect this shard's results: tell the shards elsewhere, and go.
            let (run, shard) = join.rsplit_once('/').unwrap_or((&join, "?"));
            tracing::warn!("the coordinating `tg-wasm run` is gone: stopping");
            lifeline::abort_orphaned(&url, run, shard);
            std::process::exit(EXIT_ORPHANED);
        });
    }
    let settings = WorkerSettings { url: args.sync, join: args.join, wait: args.wait, interrupt };
    Ok(match tg_wasm::run::split::run_worker(&settings)? {
        tg_wasm::run::split::worker::WorkerDone::Ran { success: true, .. } => ExitCode::SUCCESS,
        tg_wasm::run::split::worker::WorkerDone::Ran { success: false, .. } => ExitCode::from(1),
        tg_wasm::run::split::worker::WorkerDone::NothingToDo => {
            eprintln!("no shard was queued within {:?}", args.wait);
            ExitCode::from(4)
        }
    })
}

fn first_case(component: &component::PlanComponent, engine: &EngineSettings) -> Result<String, Error> {
    let prepared = tg_wasm::run::prepare(component, engine, 1)?;
    if prepared.components[0].entry.is_program() {
        return Ok(tg_wasm::run::prepare::PROGRAM_DEFAULT_CASE.to_string());
    }
    prepared
        .manifest
        .test_cases
        .first()
        .map(|c| c.name.clone())
        .ok_or_else(|| Error::input("the plan declares no test case"))
}
