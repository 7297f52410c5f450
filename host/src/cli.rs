//! The command line's shape: every command, argument and its help, as clap
//! types. Parsing is clap's; what each command does is `main.rs`'s dispatch
//! into the library.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;
use tg_wasm::engine;
use tg_wasm::limits::HostLimits;
use tg_wasm::params;
use tg_wasm::run::memory::MemoryBudget;

/// Run Testground-style test plans as thousands of deterministic WebAssembly
/// instances in one process, on virtual time.
#[derive(Parser)]
#[command(name = "tg-wasm", version, about, long_about = None)]
pub struct Cli {
    /// More diagnostics on stderr (-v: plan output and messages; -vv: host internals).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

// The command is parsed once per process: the size of its largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
pub enum Command {
    /// Run a plan as N instances and report outcomes per group.
    ///
    /// Example: tg-wasm run plans/example --testcase sync --instances 1000
    ///
    /// Testground's command lines work too: `tg-wasm run single --plan P --testcase C --instances N
    /// --tp k=v` and `tg-wasm run composition -f FILE`.
    Run(RunCommand),
    /// Write a new plan crate in directory NAME: a test case with a barrier and a metric, a
    /// composition, and a toolchain file that brings the wasm32-wasip2 target.
    ///
    /// Example: tg-wasm new gossip && tg-wasm run gossip --instances 100
    New(NewArgs),
    /// Build a plan directory into a component (writes <dir>/../<name>.wasm).
    ///
    /// A Rust plan (a Cargo.toml with `crate-type = ["cdylib"]`) is built by cargo in release
    /// mode for wasm32-wasip2, with its own .cargo/config.toml and rust-toolchain.toml; a plan on
    /// tokio's networking gets `--cfg tokio_unstable` when its configuration lacks it. A Python
    /// plan (an app.py) is built by componentize-py. `tg-wasm run DIR` builds the same way first.
    ///
    /// Needs: cargo and the wasm32-wasip2 target (`rustup target add wasm32-wasip2`), or
    /// componentize-py for a Python plan. What is missing is named, with the command that adds it.
    ///
    /// Example: tg-wasm build plans/dht && tg-wasm run plans/dht.wasm --instances 1000
    Build {
        /// The plan's directory, e.g. plans/placebo.
        dir: PathBuf,
    },
    /// Print a plan's test cases and parameters.
    Describe {
        /// A plan component (.wasm) or plan directory.
        plan: PathBuf,
    },
    /// Regenerate <run-dir>/report.html from the run directory's files; with two run
    /// directories, write a page that puts them side by side.
    ///
    /// Example: tg-wasm report runs/2026-11-25T120000-example-sync
    ///
    /// Example: tg-wasm report runs/before runs/after --out compare.html
    Report {
        /// The run directory (holds summary.json, run.json, metrics.jsonl, states.jsonl).
        run_dir: PathBuf,
        /// A second run directory, to compare the first with.
        other: Option<PathBuf>,
        /// Where the comparison goes [default: compare.html]; missing directories on the way are
        /// created. A single run's report is always <RUN_DIR>/report.html.
        #[arg(long, value_name = "FILE", requires = "other", value_parser = parse_comparison_file)]
        out: Option<PathBuf>,
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
    /// From its claim to its result the worker beats on a Redis key every 2 s, and watches the
    /// `run` command's: a worker that vanishes stops the run, and a `run` that vanishes stops its
    /// workers, within about 15 s. A worker must be the `run` command's tg-wasm version: one
    /// that is not refuses the run (exit 2), naming both.
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

/// `tg-wasm run`: its own flags, or one of Testground's command lines.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct RunCommand {
    /// Testground's `run single` and `run composition`.
    #[command(subcommand)]
    pub testground: Option<TestgroundRun>,
    /// tg-wasm's own.
    #[command(flatten)]
    pub args: RunArgs,
}

/// Testground's ways to start a run, with its flags.
#[derive(Subcommand)]
pub enum TestgroundRun {
    /// Testground's `run single`: -p/--plan, -t/--testcase, -i/--instances, --tp/--test-param.
    ///
    /// Example: tg-wasm run single --plan plans/placebo --testcase ok --instances 3 --tp label=x
    ///
    /// A bare plan name (`-p network`) is looked for in the current directory, in plans/, and in
    /// $TESTGROUND_HOME/plans. --builder, --runner, --collect and --wait are accepted and ignored.
    #[command(alias = "s")]
    Single(SingleArgs),
    /// Testground's `run composition -f FILE`: a Testground composition as it is.
    ///
    /// Example: tg-wasm run composition -f plans/network/compositions/cloud-regions.toml
    #[command(alias = "c")]
    Composition(TestgroundCompositionArgs),
}

#[derive(Args)]
pub struct RunArgs {
    /// A plan component (.wasm) or a plan directory (built first).
    #[arg(required_unless_present = "composition")]
    pub plan: Option<PathBuf>,
    /// A composition file with [global] and [[groups]], Testground's or with tg-wasm's
    /// network and [[events]] sections (instead of PLAN).
    #[arg(short = 'c', long, conflicts_with_all = ["plan", "instances"])]
    pub composition: Option<PathBuf>,
    /// Test case to run [default: the composition's, else the plan's first test case].
    #[arg(short = 't', long)]
    pub testcase: Option<String>,
    /// Number of instances [default: 1].
    #[arg(short = 'i', long, allow_negative_numbers = true, value_parser = parse_count::<u32>)]
    pub instances: Option<u32>,
    /// A test parameter, name=value (repeatable). `tg-wasm describe` lists them.
    #[arg(short = 'p', long = "param", visible_aliases = ["test-param", "tp"], value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    #[command(flatten)]
    pub options: RunOptions,
}

/// `tg-wasm run single`: Testground's flags.
#[derive(Args)]
pub struct SingleArgs {
    /// The plan: a component (.wasm), a plan directory, or a plan's name.
    #[arg(short = 'p', long)]
    pub plan: PathBuf,
    /// Test case to run [default: the plan's first].
    #[arg(short = 't', long)]
    pub testcase: Option<String>,
    /// Number of instances [default: 1].
    #[arg(short = 'i', long, allow_negative_numbers = true, value_parser = parse_count::<u32>)]
    pub instances: Option<u32>,
    /// A test parameter, name=value (repeatable).
    #[arg(long = "test-param", visible_alias = "tp", value_name = "NAME=VALUE")]
    pub test_params: Vec<String>,
    #[command(flatten)]
    pub testground: TestgroundFlags,
    #[command(flatten)]
    pub options: RunOptions,
}

/// `tg-wasm run composition`: Testground's flags.
#[derive(Args)]
pub struct TestgroundCompositionArgs {
    /// The composition file.
    #[arg(short = 'f', long)]
    pub file: PathBuf,
    /// A test parameter for every group, name=value (repeatable); it overrides the composition's.
    #[arg(long = "test-param", visible_alias = "tp", value_name = "NAME=VALUE")]
    pub test_params: Vec<String>,
    /// Accepted and ignored, as Testground's: plans are built from source whenever it changed.
    #[arg(long = "ignore-artifacts", hide = true)]
    pub ignore_artifacts: bool,
    /// Refused: a run's inputs go to its run directory's run.json.
    #[arg(short = 'w', long = "write-artifacts", hide = true)]
    pub write_artifacts: bool,
    #[command(flatten)]
    pub testground: TestgroundFlags,
    #[command(flatten)]
    pub options: RunOptions,
}

/// Testground flags `run single` and `run composition` take so that they are
/// noted as ignored, or refused saying what to write instead, rather than
/// rejected as unknown (`tg_wasm::testground::FLAGS`).
#[derive(Args)]
pub struct TestgroundFlags {
    /// Accepted and ignored: tg-wasm builds every plan with cargo for wasm32-wasip2.
    #[arg(short = 'b', long, value_name = "BUILDER")]
    pub builder: Option<String>,
    /// Accepted and ignored: every instance runs in this process, on the simulated network.
    #[arg(short = 'r', long, value_name = "RUNNER")]
    pub runner: Option<String>,
    /// Accepted and ignored: the run directory holds every output already.
    #[arg(long)]
    pub collect: bool,
    /// Accepted and ignored: tg-wasm always waits for the outcome.
    #[arg(long)]
    pub wait: bool,
    #[arg(long = "disable-metrics", hide = true)]
    pub disable_metrics: bool,
    #[arg(long = "build-cfg", hide = true, value_name = "K=V")]
    pub build_cfg: Vec<String>,
    #[arg(long = "run-cfg", hide = true, value_name = "K=V")]
    pub run_cfg: Vec<String>,
    #[arg(short = 'd', long = "dep", hide = true, value_name = "MODULE=VERSION")]
    pub dep: Vec<String>,
    #[arg(long = "use-build", alias = "ub", hide = true, value_name = "ARTIFACT")]
    pub use_build: Option<String>,
}

impl TestgroundFlags {
    /// The flags given, as (long flag, value), for `tg_wasm::testground::check_flags`.
    pub fn given(&self) -> Vec<(&'static str, Option<&str>)> {
        let mut given = Vec::new();
        given.extend(self.builder.as_deref().map(|b| ("--builder", Some(b))));
        given.extend(self.runner.as_deref().map(|r| ("--runner", Some(r))));
        given.extend(self.collect.then_some(("--collect", None)));
        given.extend(self.wait.then_some(("--wait", None)));
        given.extend(self.disable_metrics.then_some(("--disable-metrics", None)));
        given.extend(self.build_cfg.iter().map(|v| ("--build-cfg", Some(v.as_str()))));
        given.extend(self.run_cfg.iter().map(|v| ("--run-cfg", Some(v.as_str()))));
        given.extend(self.dep.iter().map(|v| ("--dep", Some(v.as_str()))));
        given.extend(self.use_build.as_deref().map(|v| ("--use-build", Some(v))));
        given
    }
}

/// How a run is run and reported, whichever way it was described.
#[derive(Args)]
pub struct RunOptions {
    /// Seed for every random choice of the run; the same seed replays the same run
    /// [default: the composition's, else 0].
    #[arg(short, long, allow_negative_numbers = true, value_parser = parse_count::<u64>)]
    pub seed: Option<u64>,
    /// Run directory [default: runs/<timestamp>-<plan>-<case>].
    #[arg(short, long)]
    pub out: Option<PathBuf>,
    /// Keep the full event trace in <out>/trace.jsonl, not only its digest.
    #[arg(long)]
    pub trace: bool,
    /// Give every instance an IPv6 address too (fd00:: and its IPv4 address), so
    /// `instance-N` resolves to both; a composition says `[network] ipv6 = true`.
    /// IPv6 sockets (and `[::]` listeners, which take IPv4 too) work either way.
    #[arg(long)]
    pub ipv6: bool,
    /// Print the summary as JSON on stdout instead of the table (schema: docs/summary-schema.md).
    #[arg(long)]
    pub json: bool,
    /// Also write the outcomes as JUnit XML to FILE, a test case per group, for CI reporters.
    /// Missing directories on the way are created; an existing directory is refused up front;
    /// /dev/null or a named pipe is written into, not replaced.
    #[arg(long, value_name = "FILE", value_parser = parse_junit_file)]
    pub junit: Option<PathBuf>,
    /// Progress while the run executes, on stderr: `auto` (a line redrawn in place on a terminal,
    /// a plain line every few seconds otherwise), `tty`, `plain` or `off`.
    #[arg(long, value_enum, default_value_t = Progress::Auto)]
    pub progress: Progress,
    /// Largest linear memory per instance (e.g. 64MiB).
    #[arg(long, default_value = "128MiB", value_parser = parse_memory_limit)]
    pub memory_limit: u64,
    /// Resident memory the whole run may hold (e.g. 16GiB), `auto` or `off`. A run that grows
    /// past it stops as a timed-out one does, its results written, and exits 1 saying so,
    /// instead of being killed by the system with nothing written. `auto`: 90% of this
    /// machine's memory, or of its cgroup's limit when lower. Split runs' workers are not
    /// watched.
    #[arg(long, value_name = "SIZE", default_value = "auto", value_parser = MemoryBudget::parse)]
    pub max_memory: MemoryBudget,
    /// CPU budget per instance, in fuel units (about one per wasm instruction). The default
    /// stops an endless loop within about half a CPU-second; real protocol stacks need more
    /// from a few hundred instances on (a rust-libp2p node of a 300-node network: over 10^10).
    /// Each instance's use is `fuel_used` in outcomes.jsonl; the summary warns when one
    /// burned more than half.
    #[arg(long, default_value_t = engine::DEFAULT_FUEL, allow_negative_numbers = true, value_parser = parse_fuel)]
    pub fuel: u64,
    /// Payload bytes all topics of the run may hold together: every message is kept for the
    /// whole run. A publish past it fails, naming this option.
    #[arg(long, value_name = "SIZE", default_value = "256MiB", value_parser = parse_size)]
    pub max_topic_bytes: u64,
    /// Distinct sync state and topic names the run may use. An operation on a new name past it
    /// fails, naming this option.
    #[arg(long, value_name = "N", default_value_t = HostLimits::default().sync_names, allow_negative_numbers = true,
          value_parser = parse_count::<u64>)]
    pub max_sync_names: u64,
    /// Sockets one instance may have open at once, as `ulimit -n` on Linux: past it a new socket,
    /// or accepting a connection, fails with new-socket-limit (connections waiting to be accepted,
    /// and closed ones still finishing, do not count).
    #[arg(long, value_name = "N", default_value_t = HostLimits::default().sockets, allow_negative_numbers = true,
          value_parser = parse_count::<u32>)]
    pub max_sockets: u32,
    /// Bytes of record-message text one instance may record; past it the instance crashes,
    /// naming this option.
    #[arg(long, value_name = "SIZE", default_value = "16MiB", value_parser = parse_size)]
    pub max_message_bytes: u64,
    /// One-way latency between instances and the sync service (e.g. 1ms); what a plan changes of
    /// the network itself (a fault, its address) takes as long to apply. Above zero, it lets a
    /// run use several threads or workers.
    #[arg(long, default_value = "0s", value_parser = parse_duration, allow_hyphen_values = true)]
    pub sync_latency: Duration,
    /// Where sync states and topics are kept: `embedded` (in this process) or a Redis server,
    /// redis://HOST:PORT[/DB]. Either gives the same run and digest.
    #[arg(long, value_name = "BACKEND", default_value = "embedded", value_parser = tg_wasm::sync::SyncSetting::parse)]
    pub sync: tg_wasm::sync::SyncSetting,
    /// End the run when virtual time passes this (e.g. 10m).
    #[arg(long, value_parser = parse_duration, allow_hyphen_values = true)]
    pub virtual_timeout: Option<Duration>,
    /// End the run when it has taken this long in real time (e.g. 5m).
    #[arg(long, value_parser = parse_duration, allow_hyphen_values = true)]
    pub timeout: Option<Duration>,
    /// Run N times [default N: 2] and fail if the trace digests differ, showing the first divergent event.
    /// Every run uses the threads a run without the check would (see --threads).
    #[arg(long, value_name = "N", num_args = 0..=1, require_equals = true, default_missing_value = "2",
          value_parser = parse_determinism_runs)]
    pub check_determinism: Option<u32>,
    /// Split the run across N worker processes, each hosting a share of the instances, coordinated
    /// through the Redis server of --sync. Gives the same digest as one process. Needs a sync
    /// latency above zero (e.g. --sync-latency 1ms): the workers advance in windows no longer than it.
    #[arg(long, value_name = "N", conflicts_with = "check_determinism", allow_negative_numbers = true,
          value_parser = parse_count::<u32>)]
    pub workers: Option<u32>,
    /// How many of the --workers this command starts itself, at most 256 [default: all]; the
    /// others must be joined by `tg-wasm worker --sync URL` on other machines.
    #[arg(long, value_name = "K", requires = "workers", allow_negative_numbers = true, value_parser = parse_count::<u32>)]
    pub local_workers: Option<u32>,
    /// Run the instances on N threads of this process, at most 256 [default: one per core available]. Gives
    /// the digest of one thread. Needs a lookahead, like --workers: a sync latency above zero
    /// (e.g. --sync-latency 1ms), and links at least that slow; a run without one runs on one
    /// thread (it says so when N was given, or the run has 1000 instances or more), and a run
    /// whose packets turn out faster is run again on one thread.
    #[arg(long, value_name = "N", conflicts_with = "workers", value_parser = parse_threads)]
    pub threads: Option<u32>,
    /// The longest time window of a run split across threads or workers [default: the sync
    /// latency]; above zero and at most the sync latency (--workers refuses another value,
    /// --threads says so and uses one thread). Every packet between instances on different threads or workers must take at
    /// least this long (its link's latency): a split run stops with an error naming the packet,
    /// a run on threads runs again on one.
    #[arg(long, value_parser = parse_duration, allow_hyphen_values = true)]
    pub lookahead: Option<Duration>,
}

/// `--progress`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Progress {
    /// A redrawn line on a terminal, plain lines otherwise.
    Auto,
    /// A line redrawn in place.
    Tty,
    /// A line every few seconds, for logs.
    Plain,
    /// Nothing.
    Off,
}

impl From<Progress> for tg_wasm::report::progress::ProgressMode {
    fn from(p: Progress) -> Self {
        use tg_wasm::report::progress::ProgressMode;
        match p {
            Progress::Auto => ProgressMode::Auto,
            Progress::Tty => ProgressMode::Tty,
            Progress::Plain => ProgressMode::Plain,
            Progress::Off => ProgressMode::Off,
        }
    }
}

/// `tg-wasm new`.
#[derive(Args)]
pub struct NewArgs {
    /// The plan's directory, created (or empty); its last component names the crate.
    pub name: PathBuf,
    /// What the plan is built on: `std` (blocking std::net and the sync client), `tokio`
    /// (a tokio runtime and the async sync client) or `libp2p` (a rust-libp2p swarm on tokio).
    #[arg(long, default_value = "std", value_name = "TEMPLATE")]
    pub template: String,
    /// Take tg-sdk from this checkout of tg-wasm (its root directory) [default: the checkout
    /// this tg-wasm was built from].
    #[arg(long, value_name = "DIR", env = "TG_WASM_SDK_PATH", conflicts_with = "sdk_git")]
    pub sdk_path: Option<PathBuf>,
    /// Take tg-sdk from this git repository of tg-wasm instead of a checkout.
    #[arg(long, value_name = "URL", env = "TG_WASM_SDK_GIT")]
    pub sdk_git: Option<String>,
}

#[derive(Args)]
pub struct WorkerArgs {
    /// The Redis server the run was published on: redis://HOST:PORT[/DB].
    #[arg(long, value_name = "URL")]
    pub sync: String,
    /// Run this shard, RUN/INDEX, instead of claiming the next queued one (what `run --workers` uses).
    #[arg(long, value_name = "RUN/INDEX")]
    pub join: Option<String>,
    /// How long to wait for a shard to be queued before exiting.
    #[arg(long, default_value = "10m", value_parser = parse_duration, allow_hyphen_values = true)]
    pub wait: Duration,
    /// Standard input is a pipe from the `run` that started this worker (with --join): a stop
    /// byte on it interrupts the shard, and its end means the run is gone, so the worker exits.
    /// Standard output is the way back: the shard's results go there when Redis cannot take them.
    #[arg(long, hide = true, requires = "join")]
    pub lifeline: bool,
}

pub fn parse_size(s: &str) -> Result<u64, String> {
    params::parse_size(s).ok_or_else(|| format!("{s:?} is not a size (e.g. 64MiB, 1GB)"))
}

/// A wasm page: no linear memory is smaller.
const WASM_PAGE_BYTES: u64 = 64 * 1024;

fn parse_memory_limit(s: &str) -> Result<u64, String> {
    match parse_size(s)? {
        bytes if bytes < WASM_PAGE_BYTES => Err(format!("{s:?} is less than one wasm page (64KiB)")),
        bytes => Ok(bytes),
    }
}

/// A JUnit file that can be written after the run: an existing directory
/// never can, and finding that out after a long run would lose its report.
fn parse_junit_file(s: &str) -> Result<PathBuf, String> {
    output_file(s, "the JUnit XML", "junit.xml")
}

/// Where `report A B` writes the comparison: a file, not a directory.
fn parse_comparison_file(s: &str) -> Result<PathBuf, String> {
    output_file(s, "the comparison", "compare.html")
}

/// A file to write `what` into, refused up front if it is a directory
/// (missing directories on the way are created when it is written).
fn output_file(s: &str, what: &str, example: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(s);
    if path.is_dir() {
        return Err(format!("{s} is a directory; give a file for {what}, e.g. {}", path.join(example).display()));
    }
    Ok(path)
}

fn parse_threads(s: &str) -> Result<u32, String> {
    use tg_wasm::run::threads::MAX_THREADS;
    match parse_count::<u32>(s)? {
        0 => Err("--threads 0 runs nothing; give 1 or more".into()),
        n if n > MAX_THREADS => Err(format!(
            "--threads {n} is more than a run uses: at most {MAX_THREADS} (each thread holds a share of the \
             run's tables, and threads past the cores only add to what they trade); one per core is fastest"
        )),
        n => Ok(n),
    }
}

fn parse_fuel(s: &str) -> Result<u64, String> {
    match parse_count::<u64>(s)? {
        0 => Err(format!(
            "--fuel 0 lets no instance run a single instruction; give 1 or more (the default is {})",
            engine::DEFAULT_FUEL
        )),
        n => Ok(n),
    }
}

fn parse_determinism_runs(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(n) if n >= 2 => Ok(n),
        Ok(n) => Err(format!("{n} run(s) leave nothing to compare; give 2 or more")),
        Err(_) => Err(format!("{s:?} is not a number of runs (2 or more)")),
    }
}

/// A whole number of `T`, saying so for a negative one instead of taking it
/// for an option.
fn parse_count<T: std::str::FromStr>(s: &str) -> Result<T, String> {
    if s.starts_with('-') {
        return Err(format!("{s} is negative; give a whole number, 0 or more"));
    }
    s.parse().map_err(|_| format!("{s:?} is not a whole number in range"))
}

/// A duration of the command line: one that fits the nanoseconds tg-wasm
/// counts time in (virtual time, and the run's record of its limits), about
/// 584 years.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    if s.starts_with('-') {
        return Err(format!("{s} is negative; durations are 0 or more (e.g. 250ms, 1.5s, 10m)"));
    }
    // tg-units holds durations to what virtual time counts, u64 nanoseconds.
    tg_units::parse_duration(s).map_err(|e| e.with_hint(" (e.g. 250ms, 1.5s, 10m)"))
}
