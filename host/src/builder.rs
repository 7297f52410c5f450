//! Building a plan into a component: a Cargo package here, a Python plan in
//! [`python`].
//!
//! A plan directory is a Cargo package built for `wasm32-wasip2`. The builder
//! runs Cargo in it, finds the `.wasm` Cargo produced from its JSON messages
//! (so a custom target directory works), and copies it next to the plan
//! directory as `<dir>/../<name>.wasm`, the file `tg-wasm run` takes.
//!
//! A plan that builds tokio's networking gets `--cfg tokio_unstable`, which
//! tokio needs for it on `wasm32-wasip2`, unless its configuration already
//! sets it; a plan that sets other rustflags without it is told what to add.
//! A build that fails because the toolchain lacks `wasm32-wasip2` says how to
//! add it ([`toolchain`]). Cargo's diagnostics are shown as they come, but
//! for rustc's warning about a target feature the engine enables
//! ([`messages`]); a build that succeeded may be followed by a suggestion
//! that makes the plan faster on the engine ([`advice`]).

use crate::error::{Error, InputError};
use anyhow::Context as _;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The target plans are built for.
pub const PLAN_TARGET: &str = "wasm32-wasip2";

mod advice;
mod messages;
mod python;
mod toolchain;

pub use python::{APP_MODULE, COMPONENTIZE_PY_VERSION};

/// Whether `path` is a directory holding a plan: a Cargo package, or a
/// Python plan (an `app.py`).
pub fn is_plan_dir(path: &Path) -> bool {
    path.is_dir() && (path.join("Cargo.toml").is_file() || python::is_python_plan(path))
}

/// Where the built component of plan directory `dir` goes: `<parent>/<dir name>.wasm`.
pub fn output_path(dir: &Path) -> PathBuf {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "plan".into());
    dir.parent().unwrap_or(Path::new(".")).join(format!("{name}.wasm"))
}

/// Builds the plan in `dir` — a crate (release, `wasm32-wasip2`) or a Python
/// plan (`componentize-py`) — and returns the path of the component.
pub fn build(dir: &Path) -> Result<PathBuf, Error> {
    if python::is_python_plan(dir) {
        return python::build(dir);
    }
    if !is_plan_dir(dir) {
        return Err(InputError::new(format!(
            "{} is not a plan directory (no Cargo.toml or app.py in it); give a plan directory or a plan component (.wasm)",
            dir.display()
        ))
        .into());
    }
    let dir = dir.canonicalize().with_context(|| format!("resolving {}", dir.display()))?;
    tracing::info!("building plan {}", dir.display());
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(&cargo);
    if plan_needs_tokio_unstable(&cargo, &dir) {
        match tokio_unstable(rustflags_env(), &cargo_configs(&dir)) {
            TokioUnstable::Set => {}
            TokioUnstable::Add { var, value } => {
                tracing::info!("the plan builds tokio's networking: adding --cfg {TOKIO_UNSTABLE} to {var}");
                command.env(var, value);
            }
            TokioUnstable::SetElsewhere(place) => {
                return Err(InputError::new(format!(
                    "the plan in {} builds tokio's networking, which on {PLAN_TARGET} needs `--cfg {TOKIO_UNSTABLE}`, \
                     but {place} sets rustflags without it: add \"--cfg\", \"{TOKIO_UNSTABLE}\" to them",
                    dir.display()
                ))
                .into());
            }
        }
    }
    // Diagnostics in color where Cargo would color them; `messages` shows them.
    let format = if std::io::stderr().is_terminal() { "json-diagnostic-rendered-ansi" } else { "json" };
    let mut child = command
        .args(["build", "--release", "--target", PLAN_TARGET])
        .arg(format!("--message-format={format}"))
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        // Run where the plan lives so that its rust-toolchain.toml chooses the toolchain.
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| cargo_missing(&dir, e))?;
    let stdout = child.stdout.take().context("reading cargo's messages")?;
    let relayed = messages::relay(std::io::BufReader::new(stdout), &mut std::io::stderr());
    let status = child.wait().context("waiting for cargo to build the plan")?;
    if !status.success() {
        if let Some(missing) = toolchain::missing_target(&cargo, &dir) {
            return Err(InputError::new(missing).into());
        }
        return Err(InputError::new(format!(
            "building the plan in {} failed (see cargo's messages above)",
            dir.display()
        ))
        .into());
    }
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml"))?;
    let package: toml::Table = toml::from_str(&manifest).context("reading the plan's Cargo.toml")?;
    let crate_name = package
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .map(|n| n.replace('-', "_"))
        .context("the plan's Cargo.toml has no package name")?;
    if let Some(note) = advice::curve25519_backend(&relayed.build_scripts) {
        tracing::warn!("{note}");
    }
    let built = relayed
        .artifacts
        .iter()
        .filter(|m| m["target"]["name"].as_str().map(|n| n.replace('-', "_")) == Some(crate_name.clone()))
        .flat_map(|m| m["filenames"].as_array().cloned().unwrap_or_default())
        .filter_map(|f| f.as_str().map(PathBuf::from))
        .find(|f| f.extension().is_some_and(|e| e == "wasm"))
        // The crate's own setting is at fault, not tg-wasm: bad input, with the fix.
        .ok_or_else(|| {
            InputError::new(format!(
                "cargo built no .wasm for {crate_name} in {}: a plan crate needs `[lib] crate-type = [\"cdylib\"]` \
                 in its Cargo.toml",
                dir.display()
            ))
        })?;
    let dest = output_path(&dir);
    crate::files::copy_atomic(&built, &dest)
        .with_context(|| format!("copying {} to {}", built.display(), dest.display()))?;
    Ok(dest)
}

/// Why Cargo could not be started to build the plan in `dir`: not installed
/// (or not on PATH) is the user's to fix, like a missing componentize-py;
/// anything else is a failure of the host.
fn cargo_missing(dir: &Path, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        return InputError::new(format!(
            "{} is a plan crate, and building it needs cargo, which is not on PATH ({e}): install Rust with \
             rustup (https://rustup.rs), or give a built component (.wasm)",
            dir.display()
        ))
        .into();
    }
    anyhow::Error::new(e).context("running cargo to build the plan").into()
}

/// The cfg tokio's networking on `wasm32-wasip2` is behind.
const TOKIO_UNSTABLE: &str = "tokio_unstable";

/// tokio features that fail to compile on `wasm32-wasip2` without `--cfg
/// tokio_unstable` (tokio 1.5x's `compile_error!` in its `lib.rs`).
const TOKIO_UNSTABLE_FEATURES: &[&str] = &["fs", "io-std", "net", "process", "rt-multi-thread", "signal"];

/// Whether the plan in `dir` builds tokio with a feature that needs `--cfg
/// tokio_unstable`, from `cargo metadata`. If Cargo cannot tell, the answer is
/// no and the build says what is wrong.
fn plan_needs_tokio_unstable(cargo: &std::ffi::OsStr, dir: &Path) -> bool {
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--filter-platform", PLAN_TARGET, "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    let Ok(output) = output.map_err(|e| tracing::debug!("cargo metadata did not run: {e}")) else { return false };
    if !output.status.success() {
        return false;
    }
    serde_json::from_slice(&output.stdout)
        .is_ok_and(|metadata| needs_tokio_unstable(&metadata, &dir.join("Cargo.toml")))
}

/// Whether the package whose manifest is `manifest` reaches tokio through
/// normal dependencies (not dev- or build-only ones), with tokio built with a
/// feature in [`TOKIO_UNSTABLE_FEATURES`]. `metadata` is `cargo metadata`'s
/// output: its features are those of the whole workspace.
fn needs_tokio_unstable(metadata: &serde_json::Value, manifest: &Path) -> bool {
    let packages = metadata["packages"].as_array().map(Vec::as_slice).unwrap_or_default();
    let Some(root) = packages.iter().find(|p| p["manifest_path"].as_str().map(Path::new) == Some(manifest)) else {
        return false;
    };
    let nodes: std::collections::HashMap<&str, &serde_json::Value> = metadata["resolve"]["nodes"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|node| Some((node["id"].as_str()?, node)))
        .collect();
    let tokio_ids: std::collections::HashSet<&str> =
        packages.iter().filter(|p| p["name"] == "tokio").filter_map(|p| p["id"].as_str()).collect();
    let mut seen = std::collections::HashSet::new();
    let mut todo: Vec<&str> = root["id"].as_str().into_iter().collect();
    while let Some(id) = todo.pop() {
        if !seen.insert(id) {
            continue;
        }
        let Some(node) = nodes.get(id) else { continue };
        if tokio_ids.contains(id) {
            let features = node["features"].as_array().map(Vec::as_slice).unwrap_or_default();
            if features.iter().any(|f| f.as_str().is_some_and(|f| TOKIO_UNSTABLE_FEATURES.contains(&f))) {
                return true;
            }
        }
        for dep in node["deps"].as_array().map(Vec::as_slice).unwrap_or_default() {
            let kinds = dep["dep_kinds"].as_array().map(Vec::as_slice).unwrap_or_default();
            if kinds.iter().any(|k| k["kind"].is_null())
                && let Some(pkg) = dep["pkg"].as_str()
            {
                todo.push(pkg);
            }
        }
    }
    false
}

/// How a plan that needs `--cfg tokio_unstable` gets it.
#[derive(Debug, PartialEq, Eq)]
enum TokioUnstable {
    /// Its environment or configuration sets it already.
    Set,
    /// Build with environment variable `var` set to `value`, which adds it.
    Add { var: &'static str, value: String },
    /// `place` sets rustflags without it. Cargo takes rustflags from one
    /// place only, so adding it anywhere else would drop those; the plan's
    /// author adds it there.
    SetElsewhere(String),
}

/// The rustflags variable Cargo takes in place of any configuration, with its
/// value: `CARGO_ENCODED_RUSTFLAGS`, else `RUSTFLAGS`.
fn rustflags_env() -> Option<(&'static str, String)> {
    ["CARGO_ENCODED_RUSTFLAGS", "RUSTFLAGS"]
        .into_iter()
        .find_map(|var| std::env::var(var).ok().map(|value| (var, value)))
}

/// The Cargo configuration that applies to a build run in `dir`, as (where,
/// text): the rustflags environment variables that stand for configuration
/// keys, then the `.cargo/config.toml` (or `.cargo/config`) of `dir` and each
/// parent, then Cargo's home's.
fn cargo_configs(dir: &Path) -> Vec<(String, String)> {
    let mut configs: Vec<(String, String)> = ["CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS", "CARGO_BUILD_RUSTFLAGS"]
        .into_iter()
        .filter_map(|var| std::env::var(var).ok().map(|value| (var.to_string(), format!("rustflags = {value:?}"))))
        .collect();
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")));
    let dirs = dir.ancestors().map(|d| d.join(".cargo")).chain(cargo_home);
    for config_dir in dirs {
        for name in ["config.toml", "config"] {
            let path = config_dir.join(name);
            if let Ok(text) = std::fs::read_to_string(&path) {
                configs.push((path.display().to_string(), text));
                break;
            }
        }
    }
    configs
}

/// How to give a plan `--cfg tokio_unstable`, given the rustflags variable in
/// effect (`env`) and the configuration that applies (`configs`, from
/// [`cargo_configs`]).
fn tokio_unstable(env: Option<(&'static str, String)>, configs: &[(String, String)]) -> TokioUnstable {
    if let Some((var, value)) = env {
        if value.contains(TOKIO_UNSTABLE) {
            return TokioUnstable::Set;
        }
        // The variable replaces all configured rustflags: add to it.
        let value = if var == "CARGO_ENCODED_RUSTFLAGS" {
            // Flags separated by 0x1f, so an empty value holds no flag.
            let cfg = format!("--cfg\x1f{TOKIO_UNSTABLE}");
            if value.is_empty() { cfg } else { format!("{value}\x1f{cfg}") }
        } else {
            format!("{value} --cfg {TOKIO_UNSTABLE}")
        };
        return TokioUnstable::Add { var, value };
    }
    if configs.iter().any(|(_, text)| text.contains(TOKIO_UNSTABLE)) {
        return TokioUnstable::Set;
    }
    if let Some((place, _)) = configs.iter().find(|(_, text)| text.contains("rustflags")) {
        return TokioUnstable::SetElsewhere(place.clone());
    }
    TokioUnstable::Add { var: "CARGO_ENCODED_RUSTFLAGS", value: format!("--cfg\x1f{TOKIO_UNSTABLE}") }
}

/// Resolves what `tg-wasm run` was given: a plan directory is built first; a
/// missing `X.wasm` next to a plan directory `X/` is built from it.
pub fn resolve_plan(path: &Path) -> Result<PathBuf, Error> {
    if is_plan_dir(path) {
        return build(path);
    }
    if path.is_dir() && path.join("manifest.toml").is_file() {
        return Err(InputError::new(format!(
            "{} holds a Testground plan (manifest.toml, no Cargo.toml): tg-wasm runs plans written in Rust against \
             tg-sdk; `tg-wasm new NAME` starts one, and docs/testground.md maps sdk-go's calls to tg-sdk's",
            path.display()
        ))
        .into());
    }
    if path.is_dir() {
        // Neither a crate nor a Python plan: say so, not that a directory is no file.
        return build(path);
    }
    if !path.exists() && path.extension().is_some_and(|e| e == "wasm") {
        let dir = path.with_extension("");
        if is_plan_dir(&dir) {
            return build(&dir);
        }
    }
    Ok(path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn add_encoded() -> TokioUnstable {
        TokioUnstable::Add { var: "CARGO_ENCODED_RUSTFLAGS", value: "--cfg\x1ftokio_unstable".into() }
    }

    #[test]
    fn with_no_rustflags_anywhere_the_cfg_is_added() {
        assert_eq!(tokio_unstable(None, &[]), add_encoded());
        let unrelated = [("/p/.cargo/config.toml".to_string(), "[build]\njobs = 1\n".to_string())];
        assert_eq!(tokio_unstable(None, &unrelated), add_encoded());
    }

    #[test]
    fn rustflags_from_the_environment_are_kept() {
        let add = tokio_unstable(Some(("RUSTFLAGS", "-C debuginfo=1".into())), &[]);
        assert_eq!(add, TokioUnstable::Add { var: "RUSTFLAGS", value: "-C debuginfo=1 --cfg tokio_unstable".into() });
        let add = tokio_unstable(Some(("CARGO_ENCODED_RUSTFLAGS", "-Cdebuginfo=1".into())), &[]);
        let value = "-Cdebuginfo=1\x1f--cfg\x1ftokio_unstable".to_string();
        assert_eq!(add, TokioUnstable::Add { var: "CARGO_ENCODED_RUSTFLAGS", value });
        assert_eq!(tokio_unstable(Some(("CARGO_ENCODED_RUSTFLAGS", String::new())), &[]), add_encoded());
    }

    #[test]
    fn a_cfg_already_set_is_left_alone() {
        assert_eq!(tokio_unstable(Some(("RUSTFLAGS", "--cfg tokio_unstable".into())), &[]), TokioUnstable::Set);
        let config = [(
            "/p/.cargo/config.toml".to_string(),
            "[target.wasm32-wasip2]\nrustflags = [\"--cfg\", \"tokio_unstable\"]\n".to_string(),
        )];
        assert_eq!(tokio_unstable(None, &config), TokioUnstable::Set);
    }

    #[test]
    fn other_configured_rustflags_are_named_not_overridden() {
        let config = [("/p/.cargo/config.toml".to_string(), "[build]\nrustflags = [\"-Cdebuginfo=1\"]\n".to_string())];
        assert_eq!(tokio_unstable(None, &config), TokioUnstable::SetElsewhere("/p/.cargo/config.toml".into()));
    }

    /// `cargo metadata` for a workspace of `plan` (and `other`), where the
    /// plan's dependencies are `deps` as (package, kind) and tokio has `features`.
    fn metadata(deps: &[(&str, Option<&str>)], features: &[&str]) -> serde_json::Value {
        let dep = |pkg: &str, kind: Option<&str>| json!({ "pkg": pkg, "dep_kinds": [{ "kind": kind }] });
        json!({
            "packages": [
                { "name": "plan", "id": "plan-id", "manifest_path": "/w/plan/Cargo.toml" },
                { "name": "other", "id": "other-id", "manifest_path": "/w/other/Cargo.toml" },
                { "name": "tg-sdk", "id": "sdk-id", "manifest_path": "/sdk/Cargo.toml" },
                { "name": "tokio", "id": "tokio-id", "manifest_path": "/reg/tokio/Cargo.toml" },
            ],
            "resolve": { "nodes": [
                { "id": "plan-id", "deps": deps.iter().map(|(p, k)| dep(p, *k)).collect::<Vec<_>>(), "features": [] },
                { "id": "other-id", "deps": [dep("tokio-id", None)], "features": [] },
                { "id": "sdk-id", "deps": [dep("tokio-id", None)], "features": ["tokio"] },
                { "id": "tokio-id", "deps": [], "features": features },
            ]},
        })
    }

    #[test]
    fn tokio_networking_reached_through_any_normal_dependency_needs_the_cfg() {
        let plan = Path::new("/w/plan/Cargo.toml");
        assert!(needs_tokio_unstable(&metadata(&[("tokio-id", None)], &["net", "rt"]), plan));
        assert!(needs_tokio_unstable(&metadata(&[("sdk-id", None)], &["net"]), plan));
        assert!(needs_tokio_unstable(&metadata(&[("tokio-id", None)], &["rt-multi-thread"]), plan));
    }

    #[test]
    fn tokio_without_networking_or_out_of_reach_does_not() {
        let plan = Path::new("/w/plan/Cargo.toml");
        assert!(!needs_tokio_unstable(&metadata(&[("tokio-id", None)], &["rt", "time", "sync"]), plan));
        assert!(!needs_tokio_unstable(&metadata(&[("tokio-id", Some("dev"))], &["net"]), plan));
        assert!(!needs_tokio_unstable(&metadata(&[("tokio-id", Some("build"))], &["net"]), plan));
        // Another member of the workspace uses it; the plan does not.
        assert!(!needs_tokio_unstable(&metadata(&[], &["net"]), plan));
        assert!(!needs_tokio_unstable(&metadata(&[("tokio-id", None)], &["net"]), Path::new("/elsewhere/Cargo.toml")));
    }
}
