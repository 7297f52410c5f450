//! The run's own files: `trace.jsonl` with `--trace`, and
//! `instances/<seq>/{stdout,stderr,messages}.log` for instances that wrote
//! anything. The metric and state files are [`super::lines`]'s, the report
//! [`crate::report`]'s.

use crate::run::{Execution, RunSpec};
use anyhow::Context as _;
use std::path::{Path, PathBuf};

/// Writes the instances' output of a finished run into `dir` and, if kept,
/// its trace.
pub fn write_instances(dir: &Path, execution: &Execution) -> anyhow::Result<()> {
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
        crate::files::write_with(&dir.join(super::TRACE_FILE), |out| {
            for record in trace.iter() {
                serde_json::to_writer(&mut *out, &record)?;
                out.write_all(b"\n")?;
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// The default run directory: `runs/<UTC timestamp>-<plan file stem>-<case>`,
/// a name [`super::RunDirectory::take_new`] numbers (`…-2`, `…-3`) when
/// another run has it.
pub fn default_dir(spec: &RunSpec) -> PathBuf {
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string().replace(':', "");
    let stem = spec.component.path.file_stem().and_then(|s| s.to_str()).unwrap_or("plan");
    PathBuf::from("runs").join(dir_name(&format!("{}-{stem}-{}", stamp.trim_end_matches('Z'), spec.test_case)))
}

/// `name` as one directory name: a plan declares its test cases' names, and
/// one such as `../x` or `a/b` must not place the run outside `runs/`.
fn dir_name(name: &str) -> String {
    name.chars().map(|c| if c.is_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_case_name_makes_one_directory_name_inside_runs() {
        for (name, expected) in [
            ("2026-12-07T040657-placebo-sleep", "2026-12-07T040657-placebo-sleep"),
            ("2026-12-07T040657-plan-../../x", "2026-12-07T040657-plan-.._.._x"),
            ("t-plan-a/b\\c d", "t-plan-a_b_c_d"),
        ] {
            let dir = PathBuf::from("runs").join(dir_name(name));
            assert_eq!(dir, PathBuf::from("runs").join(expected));
            assert_eq!(dir.components().count(), 2, "{dir:?}");
        }
    }
}
