//! Whole runs in a child `tg-wasm` process, so that peak memory is the run's
//! own: building a plan, running it, and reading back its `summary.json`.
//! Shared by the benches that time whole runs.
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// One run's figures.
pub struct Round {
    pub process_wall_s: f64,
    pub peak_rss_kib: Option<f64>,
    /// User plus system CPU time of the child, as `/usr/bin/time` reports it.
    pub cpu_s: Option<f64>,
    pub summary: Value,
}

impl Round {
    pub fn run_wall_s(&self) -> f64 {
        self.summary["wall_time_s"].as_f64().unwrap_or(f64::NAN)
    }

    pub fn events_per_s(&self) -> f64 {
        self.summary["sim_events"].as_f64().unwrap_or(f64::NAN) / self.run_wall_s()
    }

    /// A result metric's aggregate field, e.g. `("hops", "p99")`.
    pub fn result(&self, name: &str, field: &str) -> Option<f64> {
        self.summary["metrics"]["results"].as_array()?.iter().find(|m| m["name"] == name)?[field].as_f64()
    }
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

pub fn build(plan: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plans").join(plan);
    tg_wasm::builder::build(&dir).unwrap_or_else(|e| panic!("building plans/{plan}: {e}"))
}

/// The `tg-wasm` binary these benches built.
pub fn this_binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_tg-wasm"))
}

/// A second `tg-wasm` to measure side by side with this one (an older build,
/// on the same wasm at the same moment): `TG_BENCH_BASELINE=/path/to/tg-wasm`.
pub fn baseline_binary() -> Option<PathBuf> {
    std::env::var_os("TG_BENCH_BASELINE").map(PathBuf::from)
}

/// Runs `tg-wasm run` in a child process, with `extra` arguments, and reads back its summary.
pub fn run(wasm: &Path, case: &str, instances: u32, params: &[&str], extra: &[&str]) -> Round {
    run_binary(this_binary(), wasm, case, instances, params, extra)
}

/// [`run`] with the `tg-wasm` at `binary`.
pub fn run_binary(binary: &Path, wasm: &Path, case: &str, instances: u32, params: &[&str], extra: &[&str]) -> Round {
    let out = std::env::temp_dir().join(format!("tg-wasm-bench-{}-{case}-{instances}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let rusage = out.with_extension("time");
    let time = Path::new("/usr/bin/time");
    let mut cmd = if time.exists() {
        let mut c = Command::new(time);
        c.arg("-f").arg("%M %U %S").arg("-o").arg(&rusage).arg(binary);
        c
    } else {
        Command::new(binary)
    };
    cmd.arg("run").arg(wasm).args(["--testcase", case, "--instances", &instances.to_string(), "--out"]).arg(&out);
    for p in params {
        cmd.args(["--param", p]);
    }
    cmd.args(extra);
    let started = Instant::now();
    let output = cmd.output().expect("starting tg-wasm");
    let process_wall_s = started.elapsed().as_secs_f64();
    assert!(
        output.status.success(),
        "{case} × {instances} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).expect("summary.json")).expect("summary JSON");
    // The last line is "max-RSS-KiB user-s system-s" (earlier ones may say the child exited non-zero).
    let usage: Vec<f64> = std::fs::read_to_string(&rusage)
        .ok()
        .and_then(|s| s.trim().lines().last().map(|l| l.split_whitespace().filter_map(|f| f.parse().ok()).collect()))
        .unwrap_or_default();
    let peak_rss_kib = usage.first().copied();
    let cpu_s = (usage.len() == 3).then(|| usage[1] + usage[2]);
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_file(&rusage);
    Round { process_wall_s, peak_rss_kib, cpu_s, summary }
}
