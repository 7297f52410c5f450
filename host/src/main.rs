//! The `tg-wasm` command: parses arguments ([`cli`]) and calls the library.
//!
//! Exit codes: 0 the run succeeded, 1 the run failed (some instance was not
//! `ok`), 2 bad input (one line saying what to fix), 3 tg-wasm itself failed
//! or the run directory is incomplete (the outcome is still printed), 130
//! interrupted by Ctrl-C. A library error carries its own code
//! ([`tg_wasm::error::Error::exit_code`]).

mod cli;

use anyhow::Context as _;
use clap::Parser as _;
use cli::{
    Cli, Command, RunArgs, RunCommand, RunOptions, SingleArgs, TestgroundCompositionArgs, TestgroundRun, WorkerArgs,
};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tg_wasm::engine::EngineSettings;
use tg_wasm::error::{Error, InputError};
use tg_wasm::limits::HostLimits;
use tg_wasm::run::memory::MemoryWatch;
use tg_wasm::run::split::{SplitSettings, WorkerSettings, lifeline};
use tg_wasm::run::{CompositionRef, GroupRequest, NetworkSpec, RunSpec, ScheduledFault};
use tg_wasm::session::{self, Mode, Threads};
use tg_wasm::{builder, component, composition, outputs, params, scaffold, testground};

fn main() -> ExitCode {
    let argv = go_style_flags(std::env::args_os().collect());
    let cli = match Cli::try_parse_from(&argv) {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            eprintln!("{}", one_line(&e, &argv));
            return ExitCode::from(2);
        }
    };
    let filter = match cli.verbose {
        0 => "warn",
        1 => "warn,tg_wasm=debug",
        _ => "debug,cranelift_codegen=info,wasmtime_cranelift=info",
    };
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| filter.into()))
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal, never into a file or a CI log.
        .with_ansi(std::io::stderr().is_terminal());
    if cli.verbose == 0 && std::env::var_os("RUST_LOG").is_none() {
        subscriber.event_format(tg_wasm::report::console::Plain).init();
    } else {
        subscriber.init();
    }
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Testground's command line was parsed by Go, which takes a long flag with
/// one dash: `testground run single … -tp k=v`. Within `run single` and `run
/// composition`, `-tp` is `--tp` here too (clap would read it as `-t p`). In
/// plain `run`, where `-t p` could be meant, it is `--tp` when a parameter
/// follows (`-tp k=v`, `-tp=k=v`): a test case is not written `p=…` and a
/// plan not `k=v`, and read as `-t p` they failed as an unexpected subcommand.
fn go_style_flags(mut argv: Vec<OsString>) -> Vec<OsString> {
    let Some(run) = argv.iter().position(|a| a == "run") else { return argv };
    let testground =
        argv.get(run + 1).and_then(|a| a.to_str()).is_some_and(|a| ["single", "s", "composition", "c"].contains(&a));
    for i in run + 1..argv.len() {
        let Some(rest) = argv[i].to_str().and_then(|a| a.strip_prefix("-tp")) else { continue };
        let is_param = |a: Option<&str>| a.is_some_and(|a| a.contains('='));
        let go_style = match rest.strip_prefix('=') {
            Some(value) => testground || is_param(Some(value)),
            None if rest.is_empty() => testground || is_param(argv.get(i + 1).and_then(|a| a.to_str())),
            None => false,
        };
        if go_style {
            argv[i] = format!("--tp{rest}").into();
        }
    }
    argv
}

/// clap's error as one line, like every other bad-input error: its first
/// paragraph, its tips ("a similar argument exists: '--instances'"), and a
/// pointer to `run single` when the arguments look like Testground's.
fn one_line(e: &clap::Error, argv: &[OsString]) -> String {
    let text = e.render().to_string();
    let first: Vec<&str> = text.lines().map(str::trim).take_while(|l| !l.is_empty()).collect();
    let mut line = first.join(" ");
    for tip in text.lines().map(str::trim).filter(|l| l.starts_with("tip:")) {
        line.push_str(&format!(" ({tip})"));
    }
    if let Some(hint) = testground_hint(argv) {
        line.push_str(&format!(" ({hint})"));
    }
    line.push_str(&format!(" (see `{} --help`)", command_given(argv)));
    line
}

/// The (sub)command the arguments name, as typed (`tg-wasm run single`), for
/// pointing at the help that lists the flag that was wrong.
fn command_given(argv: &[OsString]) -> String {
    let mut command = <Cli as clap::CommandFactory>::command();
    let mut given = vec!["tg-wasm".to_string()];
    for arg in argv.iter().skip(1).filter_map(|a| a.to_str()).filter(|a| !a.starts_with('-')) {
        let Some(sub) = command.find_subcommand(arg).cloned() else { break };
        given.push(sub.get_name().to_string());
        command = sub;
    }
    given.join(" ")
}

/// Whether plain `tg-wasm run` was given Testground's `run single` flags, and what to write instead.
fn testground_hint(argv: &[OsString]) -> Option<&'static str> {
    let args: Vec<&str> = argv.iter().skip(1).filter_map(|a| a.to_str()).collect();
    let run = args.iter().position(|a| *a == "run")?;
    let rest = &args[run + 1..];
    if rest.first().is_some_and(|a| ["single", "s", "composition", "c"].contains(a)) {
        return None;
    }
    let testground_flag = |a: &&str| {
        ["--plan", "--builder", "-b", "--runner", "-r", "--collect", "--instance"]
            .iter()
            .any(|f| *a == *f || a.starts_with(&format!("{f}=")))
    };
    // `-p network`: Testground's plan, here a parameter, which takes NAME=VALUE.
    let plan_as_param = rest.windows(2).any(|w| (w[0] == "-p" || w[0] == "--param") && !w[1].contains('='));
    (rest.iter().any(testground_flag) || plan_as_param).then_some(
        "Testground's command line is `tg-wasm run single -p PLAN -t CASE -i N --tp k=v`; in `tg-wasm run`, \
         PLAN comes first and -p is --param NAME=VALUE",
    )
}

fn dispatch(command: Command) -> Result<ExitCode, Error> {
    match command {
        Command::Run(args) => run(args),
        Command::Worker(args) => worker(args),
        Command::New(args) => {
            let template = scaffold::Template::parse(&args.template)?;
            let sdk = match (args.sdk_path, args.sdk_git) {
                (Some(path), _) => scaffold::SdkSource::Path(path),
                (None, Some(url)) => scaffold::SdkSource::Git(url),
                (None, None) => scaffold::SdkSource::built_from()?,
            };
            let created = scaffold::create(&args.name, template, &sdk)?;
            print!("{}", created.render());
            Ok(ExitCode::SUCCESS)
        }
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
        Command::Report { run_dir, other: None, .. } => {
            println!("{}", outputs::regenerate_report(&run_dir)?.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Report { run_dir, other: Some(other), out } => {
            let out = out.unwrap_or_else(|| PathBuf::from("compare.html"));
            outputs::compare_reports(&run_dir, &other, &out)?;
            println!("{}", out.display());
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

/// What the run is made of: from a composition file, or from a plan and an instance count.
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
    composition: Option<CompositionRef>,
}

impl RunShape {
    /// One group, `single`, of `instances` (at least 1).
    fn single(plan: PathBuf, case: Option<String>, instances: Option<u32>) -> Result<RunShape, Error> {
        let instances = instances.unwrap_or(1);
        if instances == 0 {
            return Err(InputError::new("--instances must be at least 1").into());
        }
        Ok(RunShape {
            plan,
            case,
            seed: None,
            global_params: BTreeMap::new(),
            groups: vec![GroupRequest::new("single", instances)],
            group_plans: Vec::new(),
            faults: Vec::new(),
            network: NetworkSpec::default(),
            composition: None,
        })
    }

    /// The composition in `file`, printing its notes on Testground fields it ignores.
    fn composition(file: &Path, case: Option<String>) -> Result<RunShape, Error> {
        let c = composition::load(file)?;
        for note in &c.notes {
            eprintln!("{note}");
        }
        Ok(RunShape {
            plan: c.plan,
            case: case.or(Some(c.case)),
            seed: c.seed,
            global_params: c.global_params,
            groups: c.groups,
            group_plans: c.group_plans,
            faults: c.faults,
            network: c.network,
            composition: Some(CompositionRef { file: file.display().to_string(), name: c.name }),
        })
    }

    /// Command-line parameters, `NAME=VALUE` each, over the global ones.
    fn with_params(mut self, assignments: &[String]) -> Result<RunShape, Error> {
        for p in assignments {
            let (name, value) = params::parse_assignment(p)?;
            self.global_params.insert(name, value);
        }
        Ok(self)
    }
}

fn run(command: RunCommand) -> Result<ExitCode, Error> {
    match command.testground {
        None => {
            let RunArgs { plan, composition, testcase, instances, params, options } = command.args;
            let shape = match &composition {
                Some(file) => RunShape::composition(file, testcase)?,
                // clap requires PLAN when there is no composition.
                None => RunShape::single(plan.unwrap_or_default(), testcase, instances)?,
            };
            execute(shape.with_params(&params)?, &options)
        }
        Some(TestgroundRun::Single(SingleArgs {
            plan,
            testcase,
            instances,
            test_params,
            testground: flags,
            options,
        })) => {
            for note in testground::check_flags(flags.given())? {
                eprintln!("{note}");
            }
            let cwd = std::env::current_dir().context("finding the current directory")?;
            let plan = testground::find_plan(&plan, &cwd)?;
            execute(RunShape::single(plan, testcase, instances)?.with_params(&test_params)?, &options)
        }
        Some(TestgroundRun::Composition(args)) => {
            let TestgroundCompositionArgs {
                file,
                test_params,
                ignore_artifacts,
                write_artifacts,
                testground: flags,
                options,
            } = args;
            let mut given = flags.given();
            given.extend(ignore_artifacts.then_some(("--ignore-artifacts", None)));
            given.extend(write_artifacts.then_some(("--write-artifacts", None)));
            for note in testground::check_flags(given)? {
                eprintln!("{note}");
            }
            execute(RunShape::composition(&file, None)?.with_params(&test_params)?, &options)
        }
    }
}

fn execute(mut shape: RunShape, args: &RunOptions) -> Result<ExitCode, Error> {
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
    let test_case = match shape.case {
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
        memory: None,
        faults: shape.faults,
        network: NetworkSpec { ipv6: shape.network.ipv6 || args.ipv6, ..shape.network },
        composition: shape.composition,
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
    // Progress is sampled in one process only; split runs' workers hold the instances.
    let progress = match mode {
        Mode::OneProcess => tg_wasm::report::progress::observer(
            args.progress.into(),
            Box::new(std::io::stderr()),
            std::io::stderr().is_terminal(),
        ),
        _ => None,
    };
    let split = matches!(mode, Mode::Workers(_));
    // The instances of a split run live in its workers: this process holds none to watch.
    let memory = args.max_memory.bytes().filter(|_| !split).map(MemoryWatch::start);
    let mut spec = spec;
    spec.memory = memory.as_ref().map(MemoryWatch::flag);
    let options = session::RunOptions {
        out: out.clone(),
        // The default name is tg-wasm's: a run started in the same second gets the next one.
        fresh_out: args.out.is_none(),
        mode,
        sync: args.sync.clone(),
        threads: Threads { count: args.threads, lookahead: args.lookahead },
        observer: progress.as_deref(),
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
    let code = finish_run(args, &finished, &interrupt)?;
    // Last, under the summary: what stopped the run and what to do.
    if let Some(watch) = memory.as_ref().filter(|w| w.exceeded()) {
        eprintln!(
            "error: the run was stopped when it held {} MiB of memory, over its budget of {} (--max-memory): \
             run fewer instances, lower --memory-limit, or give it more memory with --max-memory",
            // Up for the peak, down for the budget: a peak a few KiB over must not read as equal.
            watch.peak().div_ceil(1 << 20),
            match watch.budget() {
                1 => "1 byte".to_string(),
                budget if budget < 1 << 20 => format!("{budget} bytes"),
                budget => format!("{} MiB", budget >> 20),
            },
        );
    }
    Ok(code)
}

/// Prints the summary, then writes the JUnit file, and decides the exit
/// code: the outcome is printed whatever fails after the run.
fn finish_run(args: &RunOptions, finished: &session::Finished, interrupt: &AtomicBool) -> Result<ExitCode, Error> {
    let (summary, out) = (&finished.summary, &finished.dir);
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
    // A local worker's standard output is the pipe its report takes if Redis cannot.
    let report_pipe = args.lifeline.then(|| Box::new(std::io::stdout()) as Box<dyn std::io::Write + Send>);
    let mut settings = WorkerSettings { url: args.sync, join: args.join, wait: args.wait, interrupt, report_pipe };
    Ok(match tg_wasm::run::split::run_worker(&mut settings)? {
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
