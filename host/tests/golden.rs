//! Golden digests: every test case of every shipped plan, run at a small size,
//! gives the trace digest pinned in `tests/golden/<plan>.toml`.
//!
//! A digest is what makes a run replayable on another machine and comparable
//! across versions, so changing one is a deliberate, versioned act, never a
//! side effect: when a change to tg-wasm (or a plan) moves a digest, this test
//! fails and prints every case that moved. To accept the change, bump
//! `[workspace.package] version` in the root `Cargo.toml`, then regenerate the
//! pinned files:
//!
//! ```sh
//! TG_WASM_BLESS=1 cargo test --release -p tg-wasm --test golden
//! ```
//!
//! which rewrites them (with the new version), prints what changed, and
//! refuses while the version is still the one the changed digests were pinned
//! under. A new test case is added by the same command (at 3 instances, or its
//! fixed size); a case's size, seed, parameters or fuel are edited in its file.
//! Never bless to make a digest "flake" pass: a digest that changes from run to
//! run is a determinism bug.

mod support;

use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use support::{plan, spec, tempdir};
use tg_wasm::engine::EngineSettings;

/// The environment variable that regenerates the pinned files.
const BLESS: &str = "TG_WASM_BLESS";

/// Instances a newly pinned case runs with, unless its manifest says otherwise.
const DEFAULT_INSTANCES: u32 = 3;

#[derive(Debug, Deserialize)]
struct Pinned {
    /// The tg-wasm version the digests were pinned under.
    version: String,
    #[serde(default, rename = "case")]
    cases: Vec<Entry>,
}

#[derive(Clone, Debug, Deserialize)]
struct Entry {
    case: String,
    instances: u32,
    #[serde(default)]
    seed: u64,
    #[serde(default)]
    params: BTreeMap<String, String>,
    /// A fuel budget below the default, for cases that spin until it runs out.
    fuel: Option<u64>,
    digest: String,
    events: u64,
}

fn pinned_file(plan_name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(format!("{plan_name}.toml"))
}

fn render(plan_name: &str, version: &str, entries: &[Entry]) -> String {
    let mut out = format!(
        "# Trace digests of every test case of plans/{plan_name}, pinned by tests/golden.rs.\n\
         # A digest change is a versioned act: see \"Determinism\" in the README.\n\
         version = {version:?}\n"
    );
    for e in entries {
        let _ = write!(out, "\n[[case]]\ncase = {:?}\ninstances = {}\nseed = {}\n", e.case, e.instances, e.seed);
        if !e.params.is_empty() {
            let params: Vec<String> = e.params.iter().map(|(k, v)| format!("{k:?} = {v:?}")).collect();
            let _ = writeln!(out, "params = {{ {} }}", params.join(", "));
        }
        if let Some(fuel) = e.fuel {
            let _ = writeln!(out, "fuel = {fuel}");
        }
        let _ = write!(out, "digest = {:?}\nevents = {}\n", e.digest, e.events);
    }
    out
}

/// Runs every case of `plan_name` and compares it with its pinned digest; see the module documentation.
fn check(plan_name: &str) {
    let component = plan(plan_name);
    let manifest = tg_wasm::run::prepare(&component, &EngineSettings::default(), 1).expect("the plan loads").manifest;
    let path = pinned_file(plan_name);
    let pinned: Option<Pinned> = std::fs::read_to_string(&path)
        .ok()
        .map(|text| toml::from_str(&text).unwrap_or_else(|e| panic!("{} is not readable: {e}", path.display())));
    let version = env!("CARGO_PKG_VERSION");
    let pinned_version = pinned.as_ref().map_or(version.to_string(), |p| p.version.clone());
    let mut entries: Vec<Entry> = pinned.map(|p| p.cases).unwrap_or_default();

    let mut report = String::new();
    let mut changed = 0;
    for stale in entries.iter().filter(|e| manifest.case(&e.case).is_none()) {
        let _ = writeln!(report, "  {plan_name}/{}: no longer a test case of the plan (pinned, not run)", stale.case);
        changed += 1;
    }
    entries.retain(|e| manifest.case(&e.case).is_some());
    for case in &manifest.test_cases {
        if !entries.iter().any(|e| e.case == case.name) {
            let instances = DEFAULT_INSTANCES.clamp(case.min_instances, case.max_instances.max(case.min_instances));
            entries.push(Entry {
                case: case.name.clone(),
                instances,
                seed: 0,
                params: BTreeMap::new(),
                fuel: None,
                digest: String::new(),
                events: 0,
            });
        }
    }
    // The manifest's order, so that a regenerated file reads like `tg-wasm describe`.
    entries.sort_by_key(|e| manifest.test_cases.iter().position(|c| c.name == e.case));

    for entry in &mut entries {
        let mut s = spec(component.clone(), &entry.case, entry.instances, entry.seed);
        s.global_params = entry.params.clone();
        if let Some(fuel) = entry.fuel {
            s.engine.fuel = fuel;
        }
        let dir = tempdir();
        let finished = tg_wasm::session::run(s, &tg_wasm::session::RunOptions::new(&*dir)).expect("the run starts");
        let _ = std::fs::remove_dir_all(&dir);
        let (digest, events) = (finished.summary.digest, finished.summary.trace_events);
        let what = format!("{plan_name}/{} × {} (seed {})", entry.case, entry.instances, entry.seed);
        if entry.digest.is_empty() {
            let _ = writeln!(report, "  {what}: not pinned yet; it gives {digest} ({events} events)");
            changed += 1;
        } else if entry.digest != digest || entry.events != events {
            let _ = writeln!(
                report,
                "  {what}: pinned {} ({} events) under {pinned_version}, now {digest} ({events} events)",
                entry.digest, entry.events
            );
            changed += 1;
        }
        (entry.digest, entry.events) = (digest, events);
    }

    if changed == 0 {
        return;
    }
    if std::env::var_os(BLESS).is_some() {
        let moved = report.contains(", now ");
        assert!(
            !moved || pinned_version != version,
            "digests changed, but the version is still {version}, the one they were pinned under:\n{report}\
             bump [workspace.package] version in Cargo.toml first: a digest change is a versioned act"
        );
        std::fs::write(&path, render(plan_name, version, &entries)).expect("writing the pinned digests");
        eprintln!("{BLESS}: rewrote {} (version {version}):\n{report}", path.display());
        return;
    }
    panic!(
        "the trace digests of plans/{plan_name} differ from {}:\n{report}\
         If the change is meant (see \"Determinism\" in the README): bump [workspace.package] version in \
         Cargo.toml, then run `{BLESS}=1 cargo test --release -p tg-wasm --test golden` and commit the files.",
        path.display()
    );
}

macro_rules! golden {
    ($($test:ident => $plan:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                check($plan);
            }
        )*
    };
}

golden! {
    placebo => "placebo",
    example => "example",
    network => "network",
    nat => "nat",
    hostile => "hostile",
    dht => "dht",
    libp2p_kad => "libp2p-kad",
    tokio => "tokio",
    wstd => "wstd",
}

/// Every plan under `plans/` has its test above: a new plan is pinned too.
/// Programs declare no test cases to pin (`plans/program`; `plans/interop`'s
/// two are one level down): their runs' digests are checked by tests/programs.rs.
#[test]
fn every_shipped_plan_is_pinned() {
    let programs = ["program"];
    let tested = ["placebo", "example", "network", "nat", "hostile", "dht", "libp2p-kad", "tokio", "wstd"];
    let mut shipped: Vec<String> = std::fs::read_dir(support::plans_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| !programs.contains(&name.as_str()))
        .collect();
    shipped.sort();
    let mut tested: Vec<String> = tested.iter().map(|s| s.to_string()).collect();
    tested.sort();
    assert_eq!(shipped, tested, "add the new plan to golden! {{ … }} in tests/golden.rs");
}

/// The quick start's digest, as the README prints it: `tg-wasm run plans/example --instances 1000`.
#[test]
fn the_readme_quick_start_prints_the_digest_it_shows() {
    let readme = std::fs::read_to_string(support::plans_dir().join("../README.md")).unwrap();
    let shown = readme.lines().find(|l| l.starts_with("trace digest ")).expect("the quick start shows a digest");
    let (summary, _) = support::run(&spec(plan("example"), "sync", 1000, 0));
    assert!(summary.success(), "{}", summary.render());
    let rendered = summary.render();
    let printed = rendered.lines().find(|l| l.starts_with("trace digest ")).expect("the run prints its digest");
    assert_eq!(shown, printed, "README.md's quick start shows another line than the run prints");
}
