//! Shared test support: building the example plans once and running them.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use tg_wasm::component::{self, PlanComponent};
use tg_wasm::run::{Execution, RunSpec, RunSummary};
use tg_wasm::session::RunOptions;

/// The repository's `plans/` directory.
pub fn plans_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("plans")
}

static BUILT: OnceLock<Mutex<BTreeMap<String, PathBuf>>> = OnceLock::new();

/// Builds `plans/<name>` (once per test binary) and loads the component.
pub fn plan(name: &str) -> PlanComponent {
    let built = BUILT.get_or_init(Default::default);
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    let path = built
        .entry(name.to_string())
        .or_insert_with(|| tg_wasm::builder::build(&plans_dir().join(name)).expect("building the plan"))
        .clone();
    component::load(&path).expect("loading the plan")
}

/// A single-group run spec with defaults.
pub fn spec(plan: PlanComponent, case: &str, instances: u32, seed: u64) -> RunSpec {
    RunSpec { seed, ..RunSpec::single_group(plan, case, instances) }
}

/// Runs `spec` in one process into a fresh temporary directory.
pub fn run(spec: &RunSpec) -> (RunSummary, Execution) {
    let dir = tempdir();
    let finished = tg_wasm::session::run(spec.clone(), &RunOptions::new(&dir)).expect("the run should start");
    (finished.summary, finished.execution)
}

/// Runs `spec` in one process into `out`, with sync kept by `sync`.
pub fn run_with(spec: &RunSpec, out: &std::path::Path, sync: &tg_wasm::sync::SyncSetting) -> (RunSummary, Execution) {
    let options = RunOptions { sync: sync.clone(), ..RunOptions::new(out) };
    let finished = tg_wasm::session::run(spec.clone(), &options).expect("the run should start");
    (finished.summary, finished.execution)
}

/// A fresh, empty directory under the target directory.
pub fn tempdir() -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("tg-wasm-test-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
