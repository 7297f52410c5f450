//! Compositions: Testground-style TOML files that describe a run with groups.
//!
//! ```toml
//! [metadata]
//! name = "two-sizes"
//!
//! [global]
//! plan = "plans/placebo.wasm"   # relative to this file
//! case = "identity"
//! total_instances = 10          # required when a group uses a percentage
//! seed = 7
//! params = { label = "default" }
//!
//! [[groups]]
//! id = "small"
//! instances = { count = 3 }
//! params = { label = "s" }
//!
//! [[groups]]
//! id = "large"
//! instances = { percentage = 0.7 }
//! plan = "plans/other.wasm"     # its own component: a plan or a program
//! run = { args = ["--id", "${TEST_GROUP_SEQ}"] }   # a program's arguments
//!
//! [[events]]                    # fault injection, at virtual times
//! at = "2s"
//! action = "partition"          # partition | heal | clog | release: between two groups
//! groups = ["small", "large"]   # from the first to the second
//! both_ways = true              # the default
//!
//! [[events]]
//! at = "5s"
//! action = "crash"              # crash | restart: a group's instances or listed ones
//! instances = [3, 4]
//!
//! [network]                     # the data network's layout (all optional)
//! ipv6 = true                   # instances get an IPv6 address too
//!
//! [[network.regions]]           # a latency matrix: one row per region, in order
//! name = "eu"
//! latency = ["1ms", "40ms"]     # one way, to each region; or rtt = [...] (halved each way)
//! bandwidth = ["0", "100Mbps"]  # optional, bits/s ("0": unlimited)
//! loss = [0.0, 0.001]           # optional
//!
//! [[network.regions]]
//! name = "us"
//! latency = ["40ms", "1ms"]
//!
//! [groups.network]              # under a [[groups]] entry
//! subnet = "16.1.0.0/24"        # its addresses (behind a NAT: private ones)
//! region = "eu"
//! inbound = "drop"              # accept | drop | reject what it did not ask for
//! nat = { type = "symmetric" }  # or mapping/filtering, hairpinning, timeouts, shared, public
//! ```
//!
//! Testground's own compositions are read as they are: `[global.run]
//! test_params` and `[groups.run] test_params` are parameters like `params`,
//! `[groups.instances]` is `instances`, a bare plan name is looked up where
//! Testground users keep plans ([`crate::testground::find_plan`]), and the
//! fields that chose how Testground built and ran a plan (`builder`,
//! `runner`, `build_config`, `run_config`, `resources`, …) are accepted and
//! noted as ignored. Fields tg-wasm cannot honour (dependency overrides,
//! build selectors, prebuilt artifacts, `[[runs]]`, Go templates) are refused
//! saying what to write instead ([`crate::testground`] has the words).
//!
//! Unknown fields are errors, so a typo never silently changes a run. Every
//! error names the place it was found (a TOML line, a group, a region).

use crate::error::InputError;
use crate::run::GroupRequest;
use crate::run::faults::{FaultKind, Paths, ScheduledFault};
use crate::run::network::{GroupNetworkSpec, NatGroupSpec, NetworkSpec, PathSpec, RegionSpec, parse_rate};
use crate::testground::{self, Handling};
use netsim::net::nat::{NAT_TYPES, TCP_MAPPING_TIMEOUT, UDP_MAPPING_TIMEOUT};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A parsed composition file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Composition {
    /// Free-form description.
    #[serde(default)]
    pub metadata: Metadata,
    /// Settings for the whole run.
    pub global: Global,
    /// The groups, in order; instances are numbered through them.
    pub groups: Vec<Group>,
    /// Faults to inject, each at a virtual time.
    #[serde(default)]
    pub events: Vec<Event>,
    /// The data network's layout.
    #[serde(default)]
    pub network: Network,
    /// Testground's `[[runs]]`: several runs of one composition (refused).
    pub runs: Option<toml::Value>,
}

/// Testground's `[global.run]` and `[groups.run]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestgroundRun {
    /// Parameters, as `params`.
    #[serde(default)]
    pub test_params: BTreeMap<String, ParamValue>,
    /// A prebuilt artifact (refused unless empty).
    pub artifact: Option<String>,
    /// Profiles to capture (ignored).
    pub profiles: Option<toml::Value>,
    /// A program's arguments (tg-wasm's own field): `${TEST_GLOBAL_SEQ}` and
    /// the other `TEST_*` variables in them are replaced per instance.
    #[serde(default)]
    pub args: Vec<String>,
}

/// Testground's `[global.build]` and `[groups.build]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestgroundBuild {
    /// Build tags (refused unless empty).
    pub selectors: Option<Vec<String>>,
    /// Dependency overrides (refused unless empty).
    pub dependencies: Option<Vec<toml::Value>>,
}

/// `[network]`: what is network-wide.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// Whether instances not behind a NAT get an IPv6 address too.
    #[serde(default)]
    pub ipv6: bool,
    /// `[[network.regions]]`, in matrix order.
    #[serde(default)]
    pub regions: Vec<Region>,
}

/// `[[network.regions]]`: one region and its row of the matrix.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Region {
    /// Its name.
    pub name: String,
    /// One-way latency to each region, in order.
    pub latency: Option<Vec<Delay>>,
    /// Round-trip time to each region, in order: each way takes half.
    pub rtt: Option<Vec<Delay>>,
    /// Rate to each region, bits per second (`"100Mbps"`; 0 unlimited).
    pub bandwidth: Option<Vec<Rate>>,
    /// Loss probability to each region.
    pub loss: Option<Vec<f64>>,
}

/// A delay: a duration (`"38ms"`) or a number of milliseconds.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Delay {
    /// `"38ms"`.
    Text(String),
    /// `38` or `37.5`, in milliseconds.
    Millis(f64),
}

/// A rate: `"100Mbps"` or a number of bits per second.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Rate {
    /// `"100Mbps"`.
    Text(String),
    /// `100000000`.
    Bits(f64),
}

/// `[groups.network]`: one group's place in the network.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupNetwork {
    /// The subnet its addresses come from.
    pub subnet: Option<String>,
    /// The region it is in.
    pub region: Option<String>,
    /// `accept`, `drop` or `reject`: what happens to traffic it did not ask for.
    pub inbound: Option<String>,
    /// The NAT it sits behind.
    pub nat: Option<Nat>,
}

/// `nat = { … }`: a group's NAT.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Nat {
    /// `full-cone`, `restricted-cone`, `port-restricted-cone` or `symmetric`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Mapping behaviour (RFC 4787), instead of or over `type`'s.
    pub mapping: Option<String>,
    /// Filtering behaviour (RFC 4787), instead of or over `type`'s.
    pub filtering: Option<String>,
    /// Whether it hairpins (default true, RFC 4787 REQ-9).
    pub hairpinning: Option<bool>,
    /// Idle lifetime of a UDP mapping (default 2 min, RFC 4787 REQ-5).
    pub udp_timeout: Option<String>,
    /// Idle lifetime of a TCP mapping (default 2 h 4 min, RFC 5382 REQ-5).
    pub tcp_timeout: Option<String>,
    /// One NAT for the whole group instead of one per instance.
    pub shared: Option<bool>,
    /// The shared NAT's public address.
    pub public: Option<String>,
}

/// `[[events]]`: one fault at one virtual time.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// Virtual time, as a duration since the start (`"2s"`, `"1500ms"`).
    pub at: String,
    /// `partition`, `heal`, `clog`, `release`, `crash` or `restart`.
    pub action: String,
    /// For network actions: exactly two groups, from the first to the second.
    /// For crash and restart: the groups whose instances it applies to.
    #[serde(default)]
    pub groups: Vec<String>,
    /// For crash and restart: instances by global seq.
    #[serde(default)]
    pub instances: Vec<u32>,
    /// For network actions: also the paths back (default true).
    pub both_ways: Option<bool>,
}

/// `[metadata]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// Name of the composition.
    pub name: Option<String>,
    /// Author.
    pub author: Option<String>,
}

/// `[global]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Global {
    /// The plan: a component or plan directory, relative to the composition
    /// file. Optional when every group names its own.
    pub plan: Option<PathBuf>,
    /// The test case.
    pub case: String,
    /// Total instances; required when a group uses `percentage`.
    pub total_instances: Option<u32>,
    /// The seed; the command line's `--seed` wins if given.
    pub seed: Option<u64>,
    /// Parameters for every group.
    #[serde(default)]
    pub params: BTreeMap<String, ParamValue>,
    /// The runner (ignored).
    pub runner: Option<String>,
    /// The runner's settings (ignored).
    pub run_config: Option<toml::Value>,
    /// Whether metrics were batched to InfluxDB (ignored).
    pub disable_metrics: Option<bool>,
    /// Testground's builder (ignored).
    pub builder: Option<String>,
    /// The builder's settings (ignored).
    pub build_config: Option<toml::Value>,
    /// What to build (refused unless empty).
    pub build: Option<TestgroundBuild>,
    /// Testground's parameters (`test_params`), for every group.
    pub run: Option<TestgroundRun>,
}

/// `[[groups]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// The group's name.
    pub id: String,
    /// How many instances.
    pub instances: Instances,
    /// Parameters overriding the global ones.
    #[serde(default)]
    pub params: BTreeMap<String, ParamValue>,
    /// Its place in the data network.
    pub network: Option<GroupNetwork>,
    /// Testground's Kubernetes resources (ignored).
    pub resources: Option<toml::Value>,
    /// Testground's builder (ignored).
    pub builder: Option<String>,
    /// The builder's settings (ignored).
    pub build_config: Option<toml::Value>,
    /// What to build (refused unless empty).
    pub build: Option<TestgroundBuild>,
    /// Testground's parameters (`test_params`) for this group.
    pub run: Option<TestgroundRun>,
    /// The component its instances run instead of `[global] plan`: a plan
    /// or a program, a component or a directory, relative to this file.
    pub plan: Option<PathBuf>,
    /// A program's arguments, from `run.args`.
    #[serde(skip)]
    pub args: Vec<String>,
}

/// `instances = { count = N }` or `instances = { percentage = F }` (a fraction of `total_instances`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table: { count = N } or { percentage = F }")]
pub struct Instances {
    /// An absolute count.
    pub count: Option<i64>,
    /// A fraction of the total, in (0, 1].
    pub percentage: Option<f64>,
}

/// A parameter value as TOML allows it; kept as the text a plan reads.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ParamValue {
    /// `"text"`.
    String(String),
    /// `42`.
    Int(i64),
    /// `0.5`.
    Float(f64),
    /// `true`.
    Bool(bool),
}

impl ParamValue {
    fn into_text(self) -> String {
        match self {
            ParamValue::String(s) => s,
            ParamValue::Int(i) => i.to_string(),
            ParamValue::Float(f) => f.to_string(),
            ParamValue::Bool(b) => b.to_string(),
        }
    }
}

fn texts(params: BTreeMap<String, ParamValue>) -> BTreeMap<String, String> {
    params.into_iter().map(|(k, v)| (k, v.into_text())).collect()
}

/// How far the percentages may sum away from 1 (rounding in hand-written files).
const PERCENTAGE_TOLERANCE: f64 = 1e-6;

/// A composition resolved into what a run needs.
#[derive(Debug)]
pub struct ResolvedComposition {
    /// `[metadata] name`, if given.
    pub name: Option<String>,
    /// Notes on Testground fields that were accepted and ignored, one line each
    /// (`note: [global] builder = "docker:go" is ignored: …`).
    pub notes: Vec<String>,
    /// The plan path, resolved against the composition file's directory.
    pub plan: PathBuf,
    /// Test case.
    pub case: String,
    /// Seed, if the file sets one.
    pub seed: Option<u64>,
    /// Global parameters.
    pub global_params: BTreeMap<String, String>,
    /// Groups with their instance counts and arguments.
    pub groups: Vec<GroupRequest>,
    /// The component of each group that names its own, resolved against the
    /// file's directory, by group index.
    pub group_plans: Vec<Option<PathBuf>>,
    /// Faults to inject.
    pub faults: Vec<ScheduledFault>,
    /// The data network's layout.
    pub network: NetworkSpec,
}

/// How a composition's plans are looked for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PlanLookup {
    /// A bare name found nowhere is bad input, saying where it was looked for:
    /// the composition is about to run.
    MustFind,
    /// A bare name found nowhere is taken as a path next to the composition,
    /// for whoever opens it to report: the text is only being read.
    AsGiven,
}

/// Reads and resolves the composition at `path`, to run it: a plan named by
/// a bare name must be found ([`testground::find_plan`]).
pub fn load(path: &Path) -> Result<ResolvedComposition, InputError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| InputError::new(format!("cannot read composition {}: {e}", path.display())))?;
    let base = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut c = parse_with(&text, base, PlanLookup::MustFind)
        .map_err(|e| InputError::new(format!("composition {}: {}", path.display(), e.message())))?;
    for note in &mut c.notes {
        *note = format!("composition {}: {note}", path.display());
    }
    Ok(c)
}

/// Parses composition `text`; relative plan paths are resolved against `base`
/// (a plan that is not there is for whoever opens it to report).
pub fn parse(text: &str, base: &Path) -> Result<ResolvedComposition, InputError> {
    parse_with(text, base, PlanLookup::AsGiven)
}

/// A TOML error in one line: where (line, column and the line's text), then
/// what, instead of the toml crate's several lines with a caret under the spot.
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let Some(span) = e.span() else { return e.message().to_string() };
    let before = text.get(..span.start).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before[before.rfind('\n').map_or(0, |i| i + 1)..].chars().count() + 1;
    let source = text.lines().nth(line - 1).unwrap_or_default().trim();
    format!("line {line}, column {column} (`{source}`): {}", e.message().trim_end().replace('\n', "; "))
}

fn parse_with(text: &str, base: &Path, lookup: PlanLookup) -> Result<ResolvedComposition, InputError> {
    if let Some(line) = text.lines().position(|l| l.contains("{{")) {
        return Err(InputError::new(format!(
            "line {}: Go templates ({{{{ … }}}}) are Testground's and are not expanded here: \
             write the values in, or generate the file with a template tool first",
            line + 1
        )));
    }
    let mut c: Composition = toml::from_str(text).map_err(|e| InputError::new(toml_error(text, &e)))?;
    let notes = testground_fields(&mut c)?;
    if c.groups.is_empty() {
        return Err(InputError::new("no [[groups]]: a composition needs at least one group"));
    }
    let mut seen = BTreeMap::new();
    for (i, g) in c.groups.iter().enumerate() {
        if g.id.trim().is_empty() {
            return Err(InputError::new(format!("group #{} has an empty id", i + 1)));
        }
        if let Some(first) = seen.insert(g.id.as_str(), i) {
            return Err(InputError::new(format!("groups #{} and #{} are both called {:?}", first + 1, i + 1, g.id)));
        }
    }
    let counts = instance_counts(&c)?;
    let faults = faults(&c, &counts)?;
    let network = network(&c)?;
    let resolve = |plan: PathBuf| match testground::find_plan(&plan, base) {
        Err(_) if lookup == PlanLookup::AsGiven => Ok(base.join(&plan)),
        found => found,
    };
    let mut group_plans = Vec::with_capacity(c.groups.len());
    let mut groups = Vec::with_capacity(c.groups.len());
    for (g, instances) in c.groups.into_iter().zip(counts) {
        group_plans.push(g.plan.map(resolve).transpose()?);
        let args = g.args;
        groups.push(GroupRequest { id: g.id, instances, params: texts(g.params), component: None, args });
    }
    // Lay the network out once now, so what cannot be is bad input before anything runs.
    network.topology(&groups)?;
    let plan = match (c.global.plan, group_plans.iter().flatten().next()) {
        (Some(plan), _) => resolve(plan)?,
        (None, Some(first)) if group_plans.iter().all(Option::is_some) => first.clone(),
        (None, _) => {
            return Err(InputError::new("[global] has no plan: give one, or a plan in every group (groups.plan)"));
        }
    };
    Ok(ResolvedComposition {
        name: c.metadata.name,
        notes,
        plan,
        group_plans,
        case: c.global.case,
        seed: c.global.seed,
        global_params: texts(c.global.params),
        groups,
        faults,
        network,
    })
}

/// Takes Testground's fields of `c` in: its `test_params` join the
/// parameters; what only chose how Testground built or ran a plan becomes a
/// note; what tg-wasm cannot honour is refused.
fn testground_fields(c: &mut Composition) -> Result<Vec<String>, InputError> {
    let mut notes = Vec::new();
    if c.runs.is_some() {
        return Err(refused("[[runs]]", "runs"));
    }
    let g = &mut c.global;
    if let Some(builder) = &g.builder {
        notes.push(ignored(&format!("[global] builder = {builder:?}"), "builder"));
    }
    if let Some(runner) = &g.runner {
        notes.push(ignored(&format!("[global] runner = {runner:?}"), "runner"));
    }
    if g.run_config.is_some() {
        notes.push(ignored("[global.run_config]", "run_config"));
    }
    if g.disable_metrics.is_some() {
        notes.push(ignored("[global] disable_metrics", "disable_metrics"));
    }
    build_and_run(None, &mut g.params, &g.build_config, &g.build, g.run.take(), &mut notes)?;
    for group in &mut c.groups {
        let place = format!("group {:?}: ", group.id);
        if let Some(builder) = &group.builder {
            notes.push(ignored(&format!("{place}builder = {builder:?}"), "builder"));
        }
        if group.resources.is_some() {
            notes.push(ignored(&format!("{place}resources"), "resources"));
        }
        let (build_config, build, run) = (&group.build_config, &group.build, group.run.take());
        group.args = build_and_run(Some(&group.id), &mut group.params, build_config, build, run, &mut notes)?;
    }
    Ok(notes)
}

/// `build_config`, `build` and `run` of `[global]` (`group` = `None`) or of a
/// group: `run.test_params` move into `params`.
fn build_and_run(
    group: Option<&str>,
    params: &mut BTreeMap<String, ParamValue>,
    build_config: &Option<toml::Value>,
    build: &Option<TestgroundBuild>,
    run: Option<TestgroundRun>,
    notes: &mut Vec<String>,
) -> Result<Vec<String>, InputError> {
    // Named as the file names it: a table `[global.run]`, or `run` inside a group.
    let field = |name: &str| match group {
        None => format!("[global.{name}]"),
        Some(id) => format!("group {id:?}: {name}"),
    };
    if build_config.is_some() {
        notes.push(ignored(&field("build_config"), "build_config"));
    }
    if let Some(build) = build {
        if build.dependencies.as_ref().is_some_and(|d| !d.is_empty()) {
            return Err(refused(&field("build.dependencies"), "build.dependencies"));
        }
        if build.selectors.as_ref().is_some_and(|s| !s.is_empty()) {
            return Err(refused(&field("build.selectors"), "build.selectors"));
        }
    }
    let Some(run) = run else { return Ok(Vec::new()) };
    if run.artifact.as_ref().is_some_and(|a| !a.is_empty()) {
        return Err(refused(&field("run.artifact"), "run.artifact"));
    }
    if run.profiles.is_some() {
        notes.push(ignored(&field("run.profiles"), "run.profiles"));
    }
    for (name, value) in run.test_params {
        if params.contains_key(&name) {
            return Err(InputError::new(format!(
                "{}: parameter {name:?} is given twice, in params and in run.test_params; keep one",
                field("run")
            )));
        }
        params.insert(name, value);
    }
    if group.is_none() && !run.args.is_empty() {
        return Err(InputError::new("[global.run] args: arguments are a group's, in its [groups.run]"));
    }
    Ok(run.args)
}

/// The note for Testground's composition field `field`, written as `what`.
fn ignored(what: &str, field: &str) -> String {
    match testground::composition_field(field) {
        Some(Handling::Ignored(why)) => testground::ignored_note(what, why),
        _ => testground::ignored_note(what, "tg-wasm does not use it"),
    }
}

/// The refusal of Testground's composition field `field`, written as `what`.
fn refused(what: &str, field: &str) -> InputError {
    match testground::composition_field(field) {
        Some(Handling::Refused(instead)) => testground::refusal(what, instead),
        _ => testground::refusal(what, "remove it"),
    }
}

/// A duration of the network sections: refused, naming `place`, if malformed or negative.
fn delay(place: &str, d: &Delay) -> Result<Duration, InputError> {
    let (text, negative) = match d {
        Delay::Text(t) => (t.clone(), t.trim_start().starts_with('-')),
        Delay::Millis(ms) => (format!("{ms}"), *ms < 0.0),
    };
    if negative {
        return Err(InputError::new(format!("{place}: {text} is negative; durations are 0 or more")));
    }
    match d {
        Delay::Text(t) => tg_units::parse_duration(t)
            .map_err(|e| InputError::new(format!("{place}: {}", e.with_hint("; give a duration such as \"38ms\"")))),
        // Past u64 nanoseconds (or `Duration` itself) a float has no duration: refused, not a panic.
        Delay::Millis(ms) if ms.is_finite() => Duration::try_from_secs_f64(ms / 1000.0)
            .ok()
            .filter(|d| u64::try_from(d.as_nanos()).is_ok())
            .ok_or_else(|| {
                InputError::new(format!(
                    "{place}: {ms:?} ms is longer than tg-wasm counts time (u64 nanoseconds, about 584 years)"
                ))
            }),
        Delay::Millis(ms) => Err(InputError::new(format!("{place}: {ms} is not a number of milliseconds"))),
    }
}

/// `[network]` and every group's `[groups.network]`, parsed and checked.
fn network(c: &Composition) -> Result<NetworkSpec, InputError> {
    let n = c.network.regions.len();
    let mut regions = Vec::with_capacity(n);
    for (i, r) in c.network.regions.iter().enumerate() {
        let place = format!("[[network.regions]] #{} ({:?})", i + 1, r.name);
        if r.name.trim().is_empty() {
            return Err(InputError::new(format!("[[network.regions]] #{}: name is empty", i + 1)));
        }
        if let Some(j) = c.network.regions[..i].iter().position(|o| o.name == r.name) {
            return Err(InputError::new(format!("{place}: region #{} has the same name", j + 1)));
        }
        let row_len = |what: &str, len: usize| {
            if len == n {
                Ok(())
            } else {
                Err(InputError::new(format!(
                    "{place}: {what} has {len} entries but there are {n} regions; the matrix must be square \
                     (one entry per region, in the order they are listed)"
                )))
            }
        };
        let latencies: Vec<Duration> = match (&r.latency, &r.rtt) {
            (Some(_), Some(_)) => {
                return Err(InputError::new(format!("{place}: give latency (one way) or rtt, not both")));
            }
            (None, None) => return Err(InputError::new(format!("{place}: needs latency (one way) or rtt"))),
            (Some(row), None) => {
                row_len("latency", row.len())?;
                row.iter()
                    .enumerate()
                    .map(|(j, d)| delay(&format!("{place}: latency[{j}]"), d))
                    .collect::<Result<_, _>>()?
            }
            (None, Some(row)) => {
                row_len("rtt", row.len())?;
                row.iter()
                    .enumerate()
                    .map(|(j, d)| delay(&format!("{place}: rtt[{j}]"), d).map(|rtt| rtt / 2))
                    .collect::<Result<_, _>>()?
            }
        };
        let mut paths: Vec<PathSpec> = latencies
            .iter()
            .map(|l| PathSpec { latency_ns: u64::try_from(l.as_nanos()).unwrap_or(u64::MAX), ..PathSpec::default() })
            .collect();
        if let Some(row) = &r.bandwidth {
            row_len("bandwidth", row.len())?;
            for (j, (rate, path)) in row.iter().zip(&mut paths).enumerate() {
                path.bandwidth_bps = match rate {
                    Rate::Text(t) => parse_rate(t),
                    Rate::Bits(b) if b.is_finite() && *b >= 0.0 => Some(*b as u64),
                    Rate::Bits(_) => None,
                }
                .ok_or_else(|| {
                    InputError::new(format!(
                        "{place}: bandwidth[{j}] is not a rate such as \"100Mbps\" or a number of bits per second"
                    ))
                })?;
            }
        }
        if let Some(row) = &r.loss {
            row_len("loss", row.len())?;
            for (j, (&loss, path)) in row.iter().zip(&mut paths).enumerate() {
                if !(0.0..=1.0).contains(&loss) {
                    return Err(InputError::new(format!("{place}: loss[{j}] {loss} is not a probability in [0, 1]")));
                }
                path.loss = loss;
            }
        }
        regions.push(RegionSpec { name: r.name.clone(), paths });
    }
    let mut groups = Vec::new();
    for g in &c.groups {
        let Some(net) = &g.network else { continue };
        let place = format!("group {:?}", g.id);
        let nat = net.nat.as_ref().map(|nat| nat_spec(&place, nat)).transpose()?;
        groups.push(GroupNetworkSpec {
            id: g.id.clone(),
            subnet: net.subnet.clone(),
            region: net.region.clone(),
            inbound: net.inbound.clone(),
            nat,
        });
    }
    Ok(NetworkSpec { ipv6: c.network.ipv6, regions, groups })
}

/// A group's `nat = { … }`: a type, or mapping and filtering, with the RFCs' defaults.
fn nat_spec(place: &str, nat: &Nat) -> Result<NatGroupSpec, InputError> {
    let types = || NAT_TYPES.iter().map(|(n, ..)| *n).collect::<Vec<_>>().join(", ");
    let (mut mapping, mut filtering) = match &nat.kind {
        Some(kind) => match NAT_TYPES.iter().find(|(n, ..)| n == kind) {
            Some((_, m, f)) => (Some(m.as_str().to_string()), Some(f.as_str().to_string())),
            None => {
                return Err(InputError::new(format!(
                    "{place}: nat.type {kind:?} is not a NAT type; types are {}",
                    types()
                )));
            }
        },
        None => (None, None),
    };
    mapping = nat.mapping.clone().or(mapping);
    filtering = nat.filtering.clone().or(filtering);
    let (Some(mapping), Some(filtering)) = (mapping, filtering) else {
        return Err(InputError::new(format!("{place}: nat needs a type ({}) or both mapping and filtering", types())));
    };
    let timeout = |what: &str, text: &Option<String>, default: Duration| -> Result<u64, InputError> {
        let d = match text {
            None => default,
            Some(t) => delay(&format!("{place}: nat.{what}"), &Delay::Text(t.clone()))?,
        };
        Ok(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    };
    let spec = NatGroupSpec {
        mapping,
        filtering,
        hairpinning: nat.hairpinning.unwrap_or(true),
        udp_timeout_ns: timeout("udp_timeout", &nat.udp_timeout, UDP_MAPPING_TIMEOUT)?,
        tcp_timeout_ns: timeout("tcp_timeout", &nat.tcp_timeout, TCP_MAPPING_TIMEOUT)?,
        shared: nat.shared.unwrap_or(false),
        public: nat.public.clone(),
    };
    spec.config().map_err(|e| InputError::new(format!("{place}: {}", e.message())))?;
    Ok(spec)
}

/// Resolves `[[events]]` against the groups' instance ranges.
fn faults(c: &Composition, counts: &[u32]) -> Result<Vec<ScheduledFault>, InputError> {
    let mut ranges = BTreeMap::new();
    let mut start = 0u32;
    for (g, &n) in c.groups.iter().zip(counts) {
        ranges.insert(g.id.as_str(), start..start + n);
        start += n;
    }
    let total = start;
    let mut out = Vec::with_capacity(c.events.len());
    for (i, e) in c.events.iter().enumerate() {
        let place = format!("event #{} ({} at {})", i + 1, e.action, e.at);
        let at = tg_units::parse_duration(&e.at).map_err(|err| {
            InputError::new(format!("{place}: {}", err.with_hint("; `at` must be a duration such as 2s or 1500ms")))
        })?;
        let group = |id: &String| {
            ranges.get(id.as_str()).cloned().ok_or_else(|| {
                let known: Vec<&str> = ranges.keys().copied().collect();
                InputError::new(format!("{place}: no group {id:?}; groups are {}", known.join(", ")))
            })
        };
        let what = match e.action.as_str() {
            "partition" | "heal" | "clog" | "release" => {
                if e.groups.len() != 2 || !e.instances.is_empty() {
                    return Err(InputError::new(format!(
                        "{place}: a network fault names exactly two groups (groups = [\"from\", \"to\"])"
                    )));
                }
                let paths = Paths {
                    from: group(&e.groups[0])?.collect(),
                    to: group(&e.groups[1])?.collect(),
                    both_ways: e.both_ways.unwrap_or(true),
                };
                match e.action.as_str() {
                    "partition" => FaultKind::Partition(paths),
                    "heal" => FaultKind::Heal(paths),
                    "clog" => FaultKind::Clog(paths),
                    _ => FaultKind::Release(paths),
                }
            }
            "crash" | "restart" => {
                if e.both_ways.is_some() {
                    return Err(InputError::new(format!("{place}: both_ways applies to network faults only")));
                }
                let mut instances = e.instances.clone();
                for g in &e.groups {
                    instances.extend(group(g)?);
                }
                if instances.is_empty() {
                    return Err(InputError::new(format!("{place}: name the instances or groups to {}", e.action)));
                }
                if let Some(bad) = instances.iter().find(|&&s| s >= total) {
                    return Err(InputError::new(format!(
                        "{place}: instance {bad} does not exist (the run has {total})"
                    )));
                }
                instances.sort_unstable();
                instances.dedup();
                if e.action == "crash" { FaultKind::Crash { instances } } else { FaultKind::Restart { instances } }
            }
            other => {
                return Err(InputError::new(format!(
                    "{place}: unknown action {other:?}; actions are partition, heal, clog, release, crash, restart"
                )));
            }
        };
        out.push(ScheduledFault { at_ns: u64::try_from(at.as_nanos()).unwrap_or(u64::MAX), what });
    }
    Ok(out)
}

fn instance_counts(c: &Composition) -> Result<Vec<u32>, InputError> {
    let total = c.global.total_instances;
    let mut counts = Vec::with_capacity(c.groups.len());
    let mut percentage_sum = 0.0;
    for g in &c.groups {
        let place = format!("group {:?}", g.id);
        let n = match (g.instances.count, g.instances.percentage) {
            (Some(_), Some(_)) => {
                return Err(InputError::new(format!(
                    "{place}: give instances.count or instances.percentage, not both"
                )));
            }
            (None, None) => {
                return Err(InputError::new(format!("{place}: instances needs count = N or percentage = F")));
            }
            (Some(count), None) => match u32::try_from(count) {
                Ok(n) if n >= 1 => n,
                _ => {
                    return Err(InputError::new(format!(
                        "{place}: instances.count must be between 1 and {}, got {count}",
                        u32::MAX
                    )));
                }
            },
            (None, Some(p)) => {
                if !(p > 0.0 && p <= 1.0) {
                    return Err(InputError::new(format!(
                        "{place}: instances.percentage is a fraction in (0, 1], got {p}"
                    )));
                }
                let Some(total) = total else {
                    return Err(InputError::new(format!(
                        "{place}: instances.percentage needs [global] total_instances"
                    )));
                };
                percentage_sum += p;
                let n = (p * f64::from(total)).round() as u32;
                if n == 0 {
                    return Err(InputError::new(format!(
                        "{place}: {p} of {total} instances rounds to 0; raise the percentage or total_instances"
                    )));
                }
                n
            }
        };
        counts.push(n);
    }
    let sum: u64 = counts.iter().map(|&n| u64::from(n)).sum();
    if sum > u64::from(u32::MAX) {
        return Err(InputError::new(format!("the groups add up to {sum} instances; a run has at most {}", u32::MAX)));
    }
    let uses_percentages = c.groups.iter().any(|g| g.instances.percentage.is_some());
    let all_percentages = c.groups.iter().all(|g| g.instances.percentage.is_some());
    if all_percentages && (percentage_sum - 1.0).abs() > PERCENTAGE_TOLERANCE {
        return Err(InputError::new(format!("group percentages add up to {percentage_sum}, not 1")));
    }
    let sum: u64 = counts.iter().map(|&n| u64::from(n)).sum();
    if let Some(total) = total
        && sum != u64::from(total)
    {
        let why = if uses_percentages { " (after rounding percentages)" } else { "" };
        return Err(InputError::new(format!(
            "groups have {sum} instances in all{why} but [global] total_instances is {total}"
        )));
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_err(text: &str) -> String {
        parse(text, Path::new("/c")).unwrap_err().message().to_string()
    }

    const HEAD: &str = "[global]\nplan = \"p.wasm\"\ncase = \"c\"\n";

    #[test]
    fn counts_and_percentages_resolve() {
        let text = format!(
            "{HEAD}total_instances = 10\nparams = {{ a = 1 }}\n[[groups]]\nid = \"x\"\ninstances = {{ count = 3 }}\nparams = {{ b = true }}\n[[groups]]\nid = \"y\"\ninstances = {{ percentage = 0.7 }}\n"
        );
        let c = parse(&text, Path::new("/c")).unwrap();
        assert_eq!(c.plan, PathBuf::from("/c/p.wasm"));
        assert_eq!(c.groups.iter().map(|g| g.instances).collect::<Vec<_>>(), vec![3, 7]);
        assert_eq!(c.global_params["a"], "1");
        assert_eq!(c.groups[0].params["b"], "true");
    }

    #[test]
    fn events_resolve_to_instance_ranges() {
        let text = format!(
            "{HEAD}[[groups]]\nid = \"a\"\ninstances = {{ count = 2 }}\n[[groups]]\nid = \"b\"\ninstances = {{ count = 3 }}\n\
             [[events]]\nat = \"2s\"\naction = \"partition\"\ngroups = [\"a\", \"b\"]\nboth_ways = false\n\
             [[events]]\nat = \"1500ms\"\naction = \"crash\"\ngroups = [\"b\"]\ninstances = [0]\n"
        );
        let c = parse(&text, Path::new("/c")).unwrap();
        assert_eq!(c.faults[0].at_ns, 2_000_000_000);
        assert_eq!(
            c.faults[0].what,
            FaultKind::Partition(Paths { from: vec![0, 1], to: vec![2, 3, 4], both_ways: false })
        );
        assert_eq!(c.faults[1].what, FaultKind::Crash { instances: vec![0, 2, 3, 4] });
        let bad = |event: &str| {
            parse_err(&format!("{HEAD}[[groups]]\nid = \"a\"\ninstances = {{ count = 2 }}\n[[events]]\n{event}"))
        };
        assert!(bad("at = \"soon\"\naction = \"crash\"\ninstances = [0]\n").contains(
            "event #1 (crash at soon): invalid duration \"soon\": expected a number; `at` must be a duration"
        ));
        assert!(bad("at = \"6000000h\"\naction = \"crash\"\ninstances = [0]\n").ends_with(
            "invalid duration \"6000000h\": longer than tg-wasm counts time (u64 nanoseconds, about 584 years)"
        ));
        assert!(bad("at = \"1s\"\naction = \"explode\"\n").contains("unknown action \"explode\""));
        assert!(bad("at = \"1s\"\naction = \"clog\"\ngroups = [\"a\"]\n").contains("exactly two groups"));
        assert!(bad("at = \"1s\"\naction = \"crash\"\ninstances = [9]\n").contains("instance 9 does not exist"));
        assert!(bad("at = \"1s\"\naction = \"heal\"\ngroups = [\"a\", \"z\"]\n").contains("no group \"z\""));
    }

    #[test]
    fn malformed_compositions_name_the_place() {
        let group = "[[groups]]\nid = \"g\"\ninstances = { count = 2 }\n";
        assert!(parse_err(&format!("{HEAD}bogus = 1\n{group}")).contains("unknown field `bogus`"));
        assert!(
            parse_err(&format!("{HEAD}[[groups]]\nid = \"g\"\ninstances = {{ count = 0 }}\n"))
                .contains("group \"g\": instances.count must be between 1 and 4294967295")
        );
        assert!(parse_err(&format!("{HEAD}[[groups]]\nid = \"g\"\ninstances = {{ count = -4 }}\n")).contains("got -4"));
        let pct = |a: f64, b: f64| {
            format!(
                "{HEAD}total_instances = 10\n[[groups]]\nid = \"a\"\ninstances = {{ percentage = {a} }}\n[[groups]]\nid = \"b\"\ninstances = {{ percentage = {b} }}\n"
            )
        };
        assert!(parse_err(&pct(0.5, 0.4)).contains("add up to 0.9"));
        assert!(parse_err(&format!("{HEAD}\n")).contains("missing field `groups`"));
        assert!(parse_err(&format!("{HEAD}{group}{group}")).contains("both called \"g\""));
        assert!(parse_err(&format!("{HEAD}total_instances = 5\n{group}")).contains("total_instances is 5"));
        assert!(parse_err("[global\n").contains("line 1"));
    }

    #[test]
    fn a_toml_error_is_one_line_naming_the_line_and_what_was_expected() {
        let wrong = parse_err(&format!("{HEAD}[[groups]]\nid = \"g\"\ninstances = 3\n"));
        assert_eq!(
            wrong,
            "line 6, column 13 (`instances = 3`): invalid type: integer `3`, expected a table: \
             { count = N } or { percentage = F }"
        );
        // Columns count characters, not bytes.
        assert!(parse_err("\"ü").starts_with("line 1, column 3 (`\"ü`): invalid basic string"), "{}", parse_err("\"ü"));
        let header = parse_err("[global\nplan = 3\n");
        assert!(header.starts_with("line 1, column 8 (`[global`): invalid table header; expected"), "{header}");
        assert!(!header.contains('\n'), "{header}");
    }
}
