//! The run directory: what a run leaves on disk.
//!
//! `run.json` (the inputs), `plan.wasm` (the component, so a replay needs
//! nothing else), `summary.json`, `trace.jsonl` with `--trace`, and
//! `instances/<seq>/{stdout,stderr,messages}.log` for instances that wrote
//! anything. Files are written whole to a temporary name and renamed, so a
//! reader never sees half a file.

use super::execute::Execution;
use super::spec::RunSpec;
use super::summary::RunSummary;
use anyhow::Context as _;
use serde::Serialize;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The recorded inputs of a run (`run.json`).
#[derive(Serialize)]
pub struct RecordedInputs<'a> {
    /// tg-wasm version.
    pub tg_wasm_version: &'static str,
    /// Path of the plan component as given.
    pub component_path: String,
    /// SHA-256 of the component.
    pub component_sha256: &'a str,
    /// Test case.
    pub test_case: &'a str,
    /// Seed.
    pub seed: u64,
    /// Groups with their sizes and params.
    pub groups: Vec<RecordedGroup<'a>>,
    /// Global params.
    pub global_params: &'a std::collections::BTreeMap<String, String>,
    /// Engine settings.
    pub engine: &'a crate::engine::EngineSettings,
    /// Sync latency in nanoseconds.
    pub sync_latency_ns: u128,
    /// Virtual-time limit in nanoseconds, if any: it decides where a run stops.
    pub virtual_timeout_ns: Option<u128>,
    /// Wall-time limit in nanoseconds, if any. Recorded for the reader only: a
    /// run it ended cannot be replayed event for event.
    pub wall_timeout_ns: Option<u128>,
    /// The copy of the component kept in the run directory, so that a replay
    /// does not depend on the plan file still being where it was.
    pub component_copy: &'static str,
    /// Faults injected, each at its virtual time.
    pub faults: &'a [super::ScheduledFault],
    /// The data network's layout, when it is not the flat default.
    #[serde(skip_serializing_if = "super::NetworkSpec::is_flat")]
    pub network: &'a super::NetworkSpec,
}

/// File name of the component copy kept in each run directory.
pub const COMPONENT_COPY: &str = "plan.wasm";

/// One group in `run.json`.
#[derive(Serialize)]
pub struct RecordedGroup<'a> {
    /// Name.
    pub id: &'a str,
    /// Instances.
    pub instances: u32,
    /// Params.
    pub params: &'a std::collections::BTreeMap<String, String>,
}

/// Writes `run.json` into `dir` (creating it) before the run starts.
pub fn write_inputs(dir: &Path, spec: &RunSpec) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating run directory {}", dir.display()))?;
    crate::files::write_atomic(&dir.join(COMPONENT_COPY), &spec.component.bytes)?;
    crate::files::write_atomic(&dir.join("run.json"), &inputs_json(spec)?)
}

/// `run.json`'s contents: the inputs a run is a function of (the plan by its hash).
pub fn inputs_json(spec: &RunSpec) -> anyhow::Result<Vec<u8>> {
    let inputs = RecordedInputs {
        tg_wasm_version: env!("CARGO_PKG_VERSION"),
        component_path: spec.component.path.display().to_string(),
        component_sha256: &spec.component.sha256,
        test_case: &spec.test_case,
        seed: spec.seed,
        groups: spec
            .groups
            .iter()
            .map(|g| RecordedGroup { id: &g.id, instances: g.instances, params: &g.params })
            .collect(),
        global_params: &spec.global_params,
        engine: &spec.engine,
        sync_latency_ns: spec.sync_latency.as_nanos(),
        virtual_timeout_ns: spec.virtual_timeout.map(|d| d.as_nanos()),
        wall_timeout_ns: spec.wall_timeout.map(|d| d.as_nanos()),
        component_copy: COMPONENT_COPY,
        faults: &spec.faults,
        network: &spec.network,
    };
    Ok(serde_json::to_vec_pretty(&inputs)?)
}

/// Writes the outputs of a finished run into `dir`.
pub fn write_outputs(dir: &Path, summary: &RunSummary, execution: &Execution) -> anyhow::Result<()> {
    for (i, record) in execution.records.iter().enumerate() {
        let files = [
            ("stdout.log", record.stdout.clone()),
            ("stderr.log", record.stderr.clone()),
            (
                "messages.log",
                record.messages.iter().map(|m| format!("{} {}\n", m.at, m.text)).collect::<String>().into_bytes(),
            ),
        ];
        if files.iter().all(|(_, b)| b.is_empty()) {
            continue;
        }
        let idir = dir.join("instances").join(i.to_string());
        std::fs::create_dir_all(&idir).with_context(|| format!("creating {}", idir.display()))?;
        for (name, bytes) in files.iter().filter(|(_, b)| !b.is_empty()) {
            crate::files::write_atomic(&idir.join(name), bytes)?;
        }
    }
    if let Some(trace) = &execution.trace {
        let path = dir.join("trace.jsonl");
        let mut out = std::io::BufWriter::new(
            std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?,
        );
        for record in trace {
            serde_json::to_writer(&mut out, record)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
    }
    crate::files::write_atomic(&dir.join("summary.json"), &serde_json::to_vec_pretty(summary)?)
}

/// The default run directory: `runs/<UTC timestamp>-<plan file stem>-<case>`.
pub fn default_dir(spec: &RunSpec) -> PathBuf {
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string().replace(':', "");
    let stem = spec.component.path.file_stem().and_then(|s| s.to_str()).unwrap_or("plan");
    let base = format!("{}-{stem}-{}", stamp.trim_end_matches('Z'), spec.test_case);
    let mut dir = PathBuf::from("runs").join(&base);
    let mut n = 1;
    while dir.exists() {
        n += 1;
        dir = PathBuf::from("runs").join(format!("{base}-{n}"));
    }
    dir
}
