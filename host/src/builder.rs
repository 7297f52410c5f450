//! Building a plan crate into a component.
//!
//! A plan directory is a Cargo package built for `wasm32-wasip2`. The builder
//! runs Cargo in it, finds the `.wasm` Cargo produced from its JSON messages
//! (so a custom target directory works), and copies it next to the plan
//! directory as `<dir>/../<name>.wasm`, the file `tg-wasm run` takes.

use crate::error::InputError;
use anyhow::Context as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The target plans are built for.
pub const PLAN_TARGET: &str = "wasm32-wasip2";

/// Whether `path` is a directory holding a plan crate.
pub fn is_plan_dir(path: &Path) -> bool {
    path.is_dir() && path.join("Cargo.toml").is_file()
}

/// Where the built component of plan directory `dir` goes: `<parent>/<dir name>.wasm`.
pub fn output_path(dir: &Path) -> PathBuf {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "plan".into());
    dir.parent().unwrap_or(Path::new(".")).join(format!("{name}.wasm"))
}

/// Builds the plan crate in `dir` (release, `wasm32-wasip2`) and returns the path of the component.
pub fn build(dir: &Path) -> anyhow::Result<PathBuf> {
    if !is_plan_dir(dir) {
        return Err(InputError::new(format!("{} is not a plan directory (no Cargo.toml in it)", dir.display())).into());
    }
    let dir = dir.canonicalize().with_context(|| format!("resolving {}", dir.display()))?;
    tracing::info!("building plan {}", dir.display());
    let output = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["build", "--release", "--target", PLAN_TARGET, "--message-format=json-render-diagnostics"])
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        // Run where the plan lives so its rust-toolchain.toml (with the wasm target) applies.
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo to build the plan (is cargo on PATH?)")?;
    if !output.status.success() {
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
    let built = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| {
            m["reason"] == "compiler-artifact"
                && m["target"]["name"].as_str().map(|n| n.replace('-', "_")) == Some(crate_name.clone())
        })
        .flat_map(|m| m["filenames"].as_array().cloned().unwrap_or_default())
        .filter_map(|f| f.as_str().map(PathBuf::from))
        .find(|f| f.extension().is_some_and(|e| e == "wasm"))
        .with_context(|| {
            format!("cargo built no .wasm for {crate_name}; a plan crate needs crate-type = [\"cdylib\"]")
        })?;
    let dest = output_path(&dir);
    // Copy then rename: a run reading the component meanwhile sees the old file or the new one, never half of one.
    let partial = dest.with_extension(format!("wasm.partial{}", std::process::id()));
    std::fs::copy(&built, &partial).with_context(|| format!("copying {} to {}", built.display(), partial.display()))?;
    std::fs::rename(&partial, &dest).with_context(|| format!("moving the built plan to {}", dest.display()))?;
    Ok(dest)
}

/// Resolves what `tg-wasm run` was given: a plan directory is built first; a
/// missing `X.wasm` next to a plan directory `X/` is built from it.
pub fn resolve_plan(path: &Path) -> anyhow::Result<PathBuf> {
    if is_plan_dir(path) {
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
