//! The `tg-wasm` command: parses arguments and calls the library.
//!
//! Exit codes: 0 the run succeeded, 1 the run failed (some instance was not
//! `ok`), 2 bad input (the message says what to fix), 3 tg-wasm itself failed,
//! 130 interrupted by Ctrl-C.

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tg_wasm::engine::{self, EngineSettings};
use tg_wasm::error::InputError;
use tg_wasm::run::{GroupRequest, RunSpec, directory};
use tg_wasm::{builder, component, composition, params};

/// Run Testground-style test plans as thousands of deterministic WebAssembly
/// instances in one process, on virtual time.
#[derive(Parser)]
#[command(name = "tg-wasm", version, about, long_about = None)]
struct Cli {
    /// More diagnostics on stderr (-v: plan output and messages; -vv: host internals).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

// The command is parsed once per process: the size of its largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run a plan as N instances and report outcomes per group.
    ///
    /// Example: tg-wasm run plans/example --testcase sync --instances 1000
    Run(RunArgs),
    /// Build a plan directory into a component (writes <dir>/../<name>.wasm).
    Build {
        /// The plan crate's directory, e.g. plans/placebo.
        dir: PathBuf,
    },
    /// Print a plan's test cases and parameters.
    Describe {
        /// A plan component (.wasm) or plan directory.
        plan: PathBuf,
    },
    /// Regenerate <run-dir>/report.html from the run directory's files.
    ///
    /// Example: tg-wasm report runs/2026-11-25T120000-example-sync
    Report {
        /// The run directory (holds summary.json, metrics.jsonl, states.jsonl).
        run_dir: PathBuf,
    },
    /// Re-run a recorded run from its directory and check that it gives the recorded trace digest.
    ///
    /// Exit 0: reproduced; 1: the digests differ (the first divergent event is shown);
    /// 2: the plan component is not the recorded one, or DIR is not a run directory.
    ///
    /// Example: tg-wasm replay runs/2026-11-25T120000-example-sync
    Replay {
        /// The run directory (holds run.json).
        run_dir: PathBuf,
    },
    /// Run one shard of a run split with `run --workers N --local-workers K` on another machine.
    ///
    /// Claims the next queued shard from the Redis server, runs it, and sends its results back to
    /// the `run` command, which writes the run directory. Exit 0: the shard ran and its instances
    /// all ended ok; 1: it ran, some did not; 2: bad input; 3: the worker failed (in every case
    /// but a lost Redis server, after telling the run why); 4: no shard was queued within --wait.
    ///
    /// Example: tg-wasm worker --sync redis://redis.testground:6379/0
    Worker(WorkerArgs),
    /// Show the first event where the traces of two runs (made with --trace) differ.
    ///
    /// Exit 0: identical; 1: they differ; 2: a run has no trace.
    Diff {
        /// The first run directory.
        a: PathBuf,
        /// The second run directory.
        b: PathBuf,
    },
}

#[derive(Args)]
struct RunArgs {
    /// A plan component (.wasm) or a plan directory (built first).
    #[arg(required_unless_present = "composition")]
    plan: Option<PathBuf>,
    /// A Testground-style composition file with [global] and [[groups]] (instead of PLAN).
    #[arg(short = 'c', long, conflicts_with_all = ["plan", "instances"])]
    composition: Option<PathBuf>,
    /// Test case to run [default: the composition's, else the plan's first test case].
    #[arg(short = 't', long)]
    testcase: Option<String>,
    /// Number of instances [default: 1].
    #[arg(short = 'i', long)]
    instances: Option<u32>,
    /// A test parameter, name=value (repeatable). `tg-wasm describe` lists them.
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
    /// Seed for every random choice of the run; the same seed replays the same run
    /// [default: the composition's, else 0].
    #[arg(short, long)]
    seed: Option<u64>,
    /// Run directory [default: runs/<timestamp>-<plan>-<case>].
    #[arg(short, long)]
    out: Option<PathBuf>,
    /// Keep the full event trace in <out>/trace.jsonl, not only its digest.
    #[arg(long)]
    trace: bool,
    /// Give every instance an IPv6 address too (fd00:: and its IPv4 address), so
    /// `instance-N` resolves to both; a composition says `[network] ipv6 = true`.
    /// IPv6 sockets (and `[::]` listeners, which take IPv4 too) work either way.
    #[arg(long)]
    ipv6: bool,
    /// Print the summary as JSON on stdout instead of the table (schema: docs/summary-schema.md).
    #[arg(long)]
    json: bool,
    /// Also write the outcomes as JUnit XML to FILE, a test case per group, for CI reporters.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Largest linear memory per instance (e.g. 64MiB).
    #[arg(long, default_value = "128MiB", value_parser = parse_size)]
    memory_limit: u64,
    /// CPU budget per instance, in fuel units (about one per wasm instruction).
    #[arg(long, default_value_t = engine::DEFAULT_FUEL)]
    fuel: u64,
    /// One-way latency between instances and the sync service (e.g. 1ms).
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    sync_latency: Duration,
    /// Where sync states and topics are kept: `embedded` (in this process) or a Redis server,
    /// redis://HOST:PORT[/DB]. Either gives the same run and digest.
    #[arg(long, value_name = "BACKEND", default_value = "embedded", value_parser = tg_wasm::sync::SyncSetting::parse)]
    sync: tg_wasm::sync::SyncSetting,
    /// End the run when virtual time passes this (e.g. 10m).
    #[arg(long, value_parser = parse_duration)]
    virtual_timeout: Option<Duration>,
    /// End the run when it has taken this long in real time (e.g. 5m).
    #[arg(long, value_parser = parse_duration)]
    timeout: Option<Duration>,
    /// Run N times [default N: 2] and fail if the trace digests differ, showing the first divergent event.
    #[arg(long, value_name = "N", num_args = 0..=1, require_equals = true, default_missing_value = "2")]
    check_determinism: Option<u32>,
    /// Split the run across N worker processes, each hosting a share of the instances, coordinated
    /// through the Redis server of --sync. Gives the same digest as one process. Needs a sync
    /// latency above zero (e.g. --sync-latency 1ms): the workers advance in windows no longer than it.
    #[arg(long, value_name = "N", conflicts_with = "check_determinism")]
    workers: Option<u32>,
    /// How many of the --workers this command starts itself [default: all]; the others must be
    /// joined by `tg-wasm worker --sync URL` on other machines.
    #[arg(long, value_name = "K", requires = "workers")]
    local_workers: Option<u32>,
    /// The longest time window of a split run [default: the sync latency]. Every packet between
    /// instances on different workers must take at least this long (its link's latency), or the
    /// run stops with an error naming the packet.
    #[arg(long, value_parser = parse_duration, requires = "workers")]
    lookahead: Option<Duration>,
}

#[derive(Args)]
struct WorkerArgs {
    /// The Redis server the run was published on: redis://HOST:PORT[/DB].
    #[arg(long, value_name = "URL")]
    sync: String,
    /// Run this shard, RUN/INDEX, instead of claiming the next queued one (what `run --workers` uses).
    #[arg(long, value_name = "RUN/INDEX")]
    join: Option<String>,
    /// How long to wait for a shard to be queued before exiting.
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    wait: Duration,
}

fn parse_size(s: &str) -> Result<u64, String> {
    params::parse_size(s).ok_or_else(|| format!("{s:?} is not a size (e.g. 64MiB, 1GB)"))
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    params::parse_duration(s).ok_or_else(|| format!("{s:?} is not a duration (e.g. 250ms, 1.5s, 10m)"))
}

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
        .init();
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) if e.downcast_ref::<InputError>().is_some() => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(3)
        }
    }
}

fn dispatch(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run(args) => run(args),
        Command::Worker(args) => worker(args),
        Command::Build { dir } => {
            let out = builder::build(&dir)?;
            println!("{}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Describe { plan } => {
            let path = builder::resolve_plan(&plan)?;
            let component = component::load(&path)?;
            let prepared = tg_wasm::run::prepare(&component, &EngineSettings::default(), 1)?;
            print!("{}", prepared.manifest.render());
            Ok(ExitCode::SUCCESS)
        }
        Command::Report { run_dir } => {
            println!("{}", tg_wasm::report::regenerate(&run_dir)?.display());
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
    faults: Vec<tg_wasm::run::ScheduledFault>,
    network: tg_wasm::run::NetworkSpec,
}

fn shape(args: &RunArgs) -> anyhow::Result<RunShape> {
    if let Some(file) = &args.composition {
        let c = composition::load(file)?;
        return Ok(RunShape {
            plan: c.plan,
            case: Some(c.case),
            seed: c.seed,
            global_params: c.global_params,
            groups: c.groups,
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
        groups: vec![GroupRequest { id: "single".into(), instances, params: BTreeMap::new() }],
        faults: Vec::new(),
        network: tg_wasm::run::NetworkSpec::default(),
    })
}

fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let mut shape = shape(&args)?;
    for p in &args.params {
        let (name, value) = params::parse_assignment(p)?;
        shape.global_params.insert(name, value);
    }
    let path = builder::resolve_plan(&shape.plan)?;
    let component = component::load(&path)?;
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
        network: tg_wasm::run::NetworkSpec { ipv6: shape.network.ipv6 || args.ipv6, ..shape.network },
    };
    let out = args.out.clone().unwrap_or_else(|| directory::default_dir(&spec));
    if let Some(workers) = args.workers {
        let tg_wasm::sync::SyncSetting::Redis(url) = &args.sync else {
            tg_wasm::bad_input!(
                "--workers needs a Redis server to coordinate them: add --sync redis://HOST:PORT (e.g. a local redis-server)"
            )
        };
        let settings = tg_wasm::run::split::SplitSettings {
            url: url.clone(),
            workers,
            local_workers: args.local_workers.unwrap_or(workers),
            lookahead: args.lookahead,
            worker_exe: std::env::current_exe().context("finding the tg-wasm binary to start workers")?,
        };
        let (summary, _) = match tg_wasm::run::split::run_split(&spec, &out, &settings) {
            Ok(done) => done,
            Err(e) if interrupt.load(Ordering::SeqCst) => {
                // The workers stop at their next window; their results are not waited for.
                eprintln!("interrupted: {e:#}");
                return Ok(ExitCode::from(130));
            }
            Err(e) => return Err(e),
        };
        return finish_run(&args, &out, &summary, None, &interrupt);
    }
    let (summary, _, determinism) = match args.check_determinism {
        Some(_) if args.sync != tg_wasm::sync::SyncSetting::Embedded => {
            tg_wasm::bad_input!("--check-determinism runs with the embedded sync service; drop --sync")
        }
        Some(runs) => {
            let (summary, execution, check) = tg_wasm::replay::check_determinism(&spec, &out, runs)?;
            (summary, execution, Some(check))
        }
        None => {
            // A live progress line only where someone watches: stderr on a terminal.
            let progress = std::io::stderr()
                .is_terminal()
                .then(|| tg_wasm::report::progress::TerminalProgress::new(Box::new(std::io::stderr())));
            let observer = progress.as_ref().map(|p| p as &dyn tg_wasm::report::progress::Observer);
            let (summary, execution) = tg_wasm::run::run_with_sync(&spec, &out, observer, &args.sync)?;
            (summary, execution, None)
        }
    };
    finish_run(&args, &out, &summary, determinism.as_ref(), &interrupt)
}

/// Prints the summary and decides the exit code.
fn finish_run(
    args: &RunArgs,
    out: &Path,
    summary: &tg_wasm::run::RunSummary,
    determinism: Option<&tg_wasm::replay::DeterminismCheck>,
    interrupt: &AtomicBool,
) -> anyhow::Result<ExitCode> {
    if let Some(file) = &args.junit {
        tg_wasm::report::junit::write(file, summary)?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(summary).context("encoding the summary")?);
    } else {
        print!("{}", summary.render());
        println!("run directory: {}", display_dir(out));
    }
    if let Some(check) = determinism {
        // On stderr with --json, so stdout stays one JSON document.
        if args.json {
            eprint!("{}", check.render());
        } else {
            print!("{}", check.render());
        }
    }
    Ok(if interrupt.load(Ordering::SeqCst) {
        ExitCode::from(130)
    } else if determinism.is_some_and(|c| !c.deterministic()) {
        ExitCode::from(1)
    } else if summary.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn worker(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    tg_wasm::sync::SyncSetting::parse(&args.sync).map_err(InputError::new)?;
    let interrupt = Arc::new(AtomicBool::new(false));
    let flag = interrupt.clone();
    let _ = ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst));
    let settings = tg_wasm::run::split::WorkerSettings { url: args.sync, join: args.join, wait: args.wait, interrupt };
    Ok(match tg_wasm::run::split::run_worker(&settings)? {
        tg_wasm::run::split::worker::WorkerDone::Ran { success: true, .. } => ExitCode::SUCCESS,
        tg_wasm::run::split::worker::WorkerDone::Ran { success: false, .. } => ExitCode::from(1),
        tg_wasm::run::split::worker::WorkerDone::NothingToDo => {
            eprintln!("no shard was queued within {:?}", args.wait);
            ExitCode::from(4)
        }
    })
}

fn first_case(component: &component::PlanComponent, engine: &EngineSettings) -> anyhow::Result<String> {
    let prepared = tg_wasm::run::prepare(component, engine, 1)?;
    prepared
        .manifest
        .test_cases
        .first()
        .map(|c| c.name.clone())
        .ok_or_else(|| InputError::new("the plan declares no test case").into())
}

fn display_dir(p: &Path) -> String {
    p.display().to_string()
}
