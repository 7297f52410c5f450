//! Testground's habits, met: what each of `testground run single` and
//! `testground run composition` flags, and each field of a Testground
//! composition, means here — taken as it is, accepted and noted as ignored
//! (it chose where or how Testground ran a plan, which tg-wasm decides
//! alone), or refused with what to write instead (it would change what runs,
//! and tg-wasm cannot honour it).
//!
//! This module holds the decisions and their words; parsing is the command
//! line's and [`crate::composition`]'s, and nothing here touches a run.

use crate::error::InputError;
use std::path::{Path, PathBuf};

/// What becomes of a Testground flag or field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handling {
    /// Taken, with no effect, for this reason.
    Ignored(&'static str),
    /// Refused: tg-wasm cannot honour it; the text says what to write instead.
    Refused(&'static str),
}

/// Why a builder does not matter here.
const BUILDER: &str = "tg-wasm builds every plan with cargo for wasm32-wasip2";
/// Why a runner does not matter here.
const RUNNER: &str = "every instance runs in this process, on the simulated network";

/// `testground run single` and `run composition` flags beyond those tg-wasm
/// takes as they are (`-p/--plan`, `-t/--testcase`, `-i/--instances`,
/// `--tp/--test-param`, `-f/--file`).
pub const FLAGS: &[(&str, Handling)] = &[
    ("--builder", Handling::Ignored(BUILDER)),
    ("--runner", Handling::Ignored(RUNNER)),
    (
        "--collect",
        Handling::Ignored("the run directory holds every output already (--out, or the path printed at the end)"),
    ),
    ("--wait", Handling::Ignored("tg-wasm runs in the foreground and always waits for the outcome")),
    ("--ignore-artifacts", Handling::Ignored("plans are built from their source whenever it changed")),
    ("--disable-metrics", Handling::Ignored("metrics are written to the run directory, never sent anywhere")),
    (
        "--build-cfg",
        Handling::Refused(
            "builder settings do not apply: put build settings in the plan's Cargo.toml or .cargo/config.toml",
        ),
    ),
    (
        "--run-cfg",
        Handling::Refused("runner settings do not apply: tg-wasm's run settings are flags of their own (see --help)"),
    ),
    (
        "--dep",
        Handling::Refused("dependency overrides are a [patch] section in the plan's Cargo.toml, then run it again"),
    ),
    ("--use-build", Handling::Refused("give the built component as the plan: --plan path/to/plan.wasm")),
    (
        "--write-artifacts",
        Handling::Refused("a run's inputs are recorded in its run directory (run.json), not in the composition"),
    ),
];

/// How `flag` (a long flag, `--builder`) is handled.
pub fn flag(flag: &str) -> Option<Handling> {
    FLAGS.iter().find(|(f, _)| *f == flag).map(|(_, h)| *h)
}

/// The note for a Testground flag or field that is taken and ignored.
pub fn ignored_note(what: &str, why: &str) -> String {
    format!("note: {what} is ignored: {why}")
}

/// The refusal of a Testground flag or field tg-wasm cannot honour.
pub fn refusal(what: &str, instead: &str) -> InputError {
    InputError::new(format!("{what} is Testground's and tg-wasm cannot honour it: {instead}"))
}

/// Notes for the Testground flags `given` (long flag, value), or the refusal
/// of the first that cannot be honoured.
pub fn check_flags<'a>(given: impl IntoIterator<Item = (&'a str, Option<&'a str>)>) -> Result<Vec<String>, InputError> {
    let mut notes = Vec::new();
    for (name, value) in given {
        let what = match value {
            Some(v) => format!("{name} {v}"),
            None => name.to_string(),
        };
        match flag(name) {
            Some(Handling::Ignored(why)) => notes.push(ignored_note(&what, why)),
            Some(Handling::Refused(instead)) => return Err(refusal(&what, instead)),
            None => {}
        }
    }
    Ok(notes)
}

/// Composition fields of Testground's, beyond those tg-wasm takes as they are
/// (`[metadata]`, `[global] plan/case/total_instances`, `[global.run]
/// test_params`, `[[groups]] id`, `[groups.instances]`, `[groups.run]
/// test_params`).
pub const COMPOSITION_FIELDS: &[(&str, Handling)] = &[
    ("builder", Handling::Ignored(BUILDER)),
    ("runner", Handling::Ignored(RUNNER)),
    ("build_config", Handling::Ignored(BUILDER)),
    ("run_config", Handling::Ignored("runner settings do not apply (time limits are --timeout and --virtual-timeout)")),
    ("disable_metrics", Handling::Ignored("metrics are written to the run directory, never sent anywhere")),
    (
        "resources",
        Handling::Ignored("instances share this process; each has --memory-limit of memory and --fuel of CPU"),
    ),
    ("run.profiles", Handling::Ignored("tg-wasm takes no pprof profiles of instances")),
    (
        "build.dependencies",
        Handling::Refused(
            "every group runs the same plan component: override dependencies with [patch] in the plan's Cargo.toml, \
             or run one composition per build",
        ),
    ),
    (
        "build.selectors",
        Handling::Refused(
            "every group runs the same plan component: select behaviour with test parameters, or cargo features and \
             one composition per build",
        ),
    ),
    (
        "run.artifact",
        Handling::Refused("give the plan as [global] plan (its directory, or a built .wasm), relative to this file"),
    ),
    ("runs", Handling::Refused("a composition is one run here: write one composition per [[runs]] entry")),
];

/// How the composition field `field` (`builder`, `build.dependencies`) is handled.
pub fn composition_field(field: &str) -> Option<Handling> {
    COMPOSITION_FIELDS.iter().find(|(f, _)| *f == field).map(|(_, h)| *h)
}

/// Where a plan named as Testground named plans — a bare name such as
/// `network`, which Testground looked up under `$TESTGROUND_HOME/plans` — is,
/// seen from `base`: `base/NAME` itself if it exists; else, for a bare name,
/// the nearest of `base` or an ancestor that is called NAME (a composition in
/// `<plan>/compositions/`), holds `NAME`, or holds `plans/NAME`; else
/// `$TESTGROUND_HOME/plans/NAME`. A path that is not a bare name is taken as
/// it is (the loader reports what is wrong with it); a bare name found
/// nowhere is bad input that says where it was looked for.
pub fn find_plan(plan: &Path, base: &Path) -> Result<PathBuf, InputError> {
    let direct = if plan.is_absolute() { plan.to_path_buf() } else { base.join(plan) };
    let bare = plan.components().count() == 1 && plan.extension().is_none();
    if exists(&direct) || !bare {
        return Ok(direct);
    }
    let absolute = std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf());
    for dir in absolute.ancestors() {
        if dir.file_name() == plan.file_name() && crate::builder::is_plan_dir(dir) {
            return Ok(dir.to_path_buf());
        }
        for candidate in [dir.join(plan), dir.join("plans").join(plan)] {
            if exists(&candidate) {
                return Ok(candidate);
            }
        }
    }
    let home = std::env::var_os("TESTGROUND_HOME");
    if let Some(home) = &home {
        let candidate = PathBuf::from(home).join("plans").join(plan);
        if exists(&candidate) {
            return Ok(candidate);
        }
    }
    let name = plan.display();
    let home = match home {
        Some(home) => format!("nor in {}", PathBuf::from(home).join("plans").display()),
        None => "and $TESTGROUND_HOME is not set".to_string(),
    };
    Err(InputError::new(format!(
        "no plan {name:?}: no plan directory or component {name} or plans/{name} in {} or a directory above it, \
         {home}; give the plan's path",
        absolute.display()
    )))
}

/// A plan directory, or a component file.
fn exists(path: &Path) -> bool {
    crate::builder::is_plan_dir(path) || path.is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignored_flags_are_noted_and_the_first_refused_one_refuses() {
        let notes = check_flags([("--builder", Some("docker:go")), ("--collect", None)]).unwrap();
        assert_eq!(notes.len(), 2);
        assert!(notes[0].starts_with("note: --builder docker:go is ignored: tg-wasm builds"), "{notes:?}");
        let refused = check_flags([("--wait", None), ("--dep", Some("a=b")), ("--run-cfg", Some("x=1"))]).unwrap_err();
        assert!(refused.message().starts_with("--dep a=b is Testground's"), "{}", refused.message());
        assert!(refused.message().contains("[patch]"), "{}", refused.message());
    }

    #[test]
    fn every_flag_and_field_says_why_or_what_instead() {
        for (name, handling) in FLAGS.iter().chain(COMPOSITION_FIELDS) {
            let (Handling::Ignored(text) | Handling::Refused(text)) = handling;
            assert!(text.len() > 20, "{name}: {text}");
        }
    }

    #[test]
    fn a_bare_plan_name_is_found_where_testground_users_keep_plans() {
        let scratch = tempfile::Builder::new().prefix("tg-wasm-find-plan-").tempdir().unwrap();
        let root = scratch.path();
        let plan = root.join("plans").join("network");
        std::fs::create_dir_all(plan.join("compositions")).unwrap();
        std::fs::write(plan.join("Cargo.toml"), "").unwrap();
        // From the plan's own compositions/ directory, from the repository root, and from inside plans/.
        let found = |name: &str, base: &Path| find_plan(Path::new(name), base).map_err(|e| e.message().to_string());
        assert_eq!(found("network", &plan.join("compositions")), Ok(plan.clone()));
        assert_eq!(found("network", root), Ok(root.join("plans").join("network")));
        assert_eq!(found("network", &root.join("plans")), Ok(plan.clone()));
        // A path is taken as it is, for the loader to report; a bare name
        // found nowhere says where it was looked for.
        assert_eq!(found("x/network", root), Ok(root.join("x/network")));
        let nowhere = found("nope", root).unwrap_err();
        assert!(
            nowhere.starts_with("no plan \"nope\": ") && nowhere.contains(&root.display().to_string()),
            "{nowhere}"
        );
        assert!(nowhere.contains("plans/nope") && nowhere.contains("TESTGROUND_HOME"), "{nowhere}");
    }
}
