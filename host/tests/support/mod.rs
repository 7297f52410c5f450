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
    let finished = tg_wasm::session::run(spec.clone(), &RunOptions::new(&*dir)).expect("the run should start");
    (finished.summary, finished.execution)
}

/// Runs `spec` in one process into `out`, with sync kept by `sync`.
pub fn run_with(spec: &RunSpec, out: &std::path::Path, sync: &tg_wasm::sync::SyncSetting) -> (RunSummary, Execution) {
    let options = RunOptions { sync: sync.clone(), ..RunOptions::new(out) };
    let finished = tg_wasm::session::run(spec.clone(), &options).expect("the run should start");
    (finished.summary, finished.execution)
}

/// A fresh, empty directory, removed with everything in it when dropped,
/// so a test run leaves nothing behind however its tests end.
pub fn tempdir() -> TempDir {
    TempDir(tempfile::Builder::new().prefix("tg-wasm-test-").tempdir().expect("creating a scratch directory"))
}

/// A scratch directory of [`tempdir`]: bind it for as long as the path is
/// used. It is a path only by reference, so that handing it by value to
/// something that takes a path (`Command::arg`, `current_dir`) does not
/// compile instead of removing the directory before it is used.
pub struct TempDir(tempfile::TempDir);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        self.0.path()
    }
}

impl AsRef<Path> for &TempDir {
    fn as_ref(&self) -> &Path {
        self.0.path()
    }
}

impl AsRef<std::ffi::OsStr> for &TempDir {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.path().as_os_str()
    }
}
