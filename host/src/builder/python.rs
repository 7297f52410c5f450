//! Building a Python plan into a component with `componentize-py`.
//!
//! A Python plan directory holds `app.py`, the module that ends with
//! `WitWorld = export_plan(manifest)`, beside any modules of its own. The
//! builder gives `componentize-py` the `tg:plan` WIT and the Python SDK
//! (`tg_sdk`), both compiled into this binary, so a plan outside this
//! repository needs nothing but `componentize-py` on PATH. It does not
//! install Python tooling.

use super::output_path;
use crate::error::{Error, InputError};
use anyhow::Context as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The module `componentize-py` loads: the plan's entry point.
pub const APP_MODULE: &str = "app";

/// The `componentize-py` release the SDK is written and tested against.
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

/// The files `componentize-py` needs beside the plan: the WIT it builds the
/// `tg:plan` world from, and the SDK, as this binary was built with them.
const SUPPORT_FILES: &[(&str, &str)] = &[
    ("wit/plan.wit", include_str!("../../../wit/plan.wit")),
    ("wit/deps/io/io.wit", include_str!("../../../wit/deps/io/io.wit")),
    ("wit/host.wit", include_str!("../../../wit/host.wit")),
    ("wit/deps/clocks/clocks.wit", include_str!("../../../wit/deps/clocks/clocks.wit")),
    ("wit/deps/sockets/sockets.wit", include_str!("../../../wit/deps/sockets/sockets.wit")),
    ("tg_sdk/__init__.py", include_str!("../../../sdk-python/tg_sdk/__init__.py")),
    ("tg_sdk/manifest.py", include_str!("../../../sdk-python/tg_sdk/manifest.py")),
    ("tg_sdk/params.py", include_str!("../../../sdk-python/tg_sdk/params.py")),
    ("tg_sdk/plan.py", include_str!("../../../sdk-python/tg_sdk/plan.py")),
    ("tg_sdk/runenv.py", include_str!("../../../sdk-python/tg_sdk/runenv.py")),
    ("tg_sdk/units.py", include_str!("../../../sdk-python/tg_sdk/units.py")),
];

/// Whether `dir` holds a Python plan: an `app.py` and no Cargo package.
pub fn is_python_plan(dir: &Path) -> bool {
    dir.is_dir() && dir.join(format!("{APP_MODULE}.py")).is_file() && !dir.join("Cargo.toml").exists()
}

/// Builds the Python plan in `dir` and returns the component's path.
pub fn build(dir: &Path) -> Result<PathBuf, Error> {
    let dir = dir.canonicalize().with_context(|| format!("resolving {}", dir.display()))?;
    let tool = std::env::var_os("COMPONENTIZE_PY").unwrap_or_else(|| "componentize-py".into());
    let version = Command::new(&tool).arg("--version").stdin(Stdio::null()).output().map_err(|e| {
        InputError::new(format!(
            "{} is a Python plan, and building it needs componentize-py ({e}): \
             `pip install componentize-py=={COMPONENTIZE_PY_VERSION}`",
            dir.display()
        ))
    })?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    if !version.contains(COMPONENTIZE_PY_VERSION) {
        tracing::warn!(
            "building with {version:?}; the Python SDK is tested with componentize-py {COMPONENTIZE_PY_VERSION}"
        );
    }
    let support = support_dir()?;
    let dest = output_path(&dir);
    // componentize-py takes tens of seconds to snapshot an interpreter, so a
    // component built from the same sources, SDK and tool is reused.
    let built = sources_fingerprint(&dir, &version)?.map(|f| support.join("built").join(format!("{f}.wasm")));
    if let Some(built) = built.as_ref().filter(|b| b.is_file()) {
        tracing::debug!("Python plan {} unchanged since its last build", dir.display());
        crate::files::write_atomic(
            &dest,
            &std::fs::read(built).with_context(|| format!("reading {}", built.display()))?,
        )?;
        return Ok(dest);
    }
    let partial = dest.with_extension(format!("wasm.partial{}", std::process::id()));
    tracing::info!("building Python plan {}", dir.display());
    let output = Command::new(&tool)
        .arg("-d")
        .arg(support.join("wit"))
        .args(["-w", "plan", "componentize", APP_MODULE])
        .arg("-p")
        .arg(&dir)
        .arg("-p")
        .arg(&support)
        .arg("-o")
        .arg(&partial)
        .current_dir(&dir)
        // Its error then ends with the Python exception, not a Rust backtrace.
        .env("RUST_BACKTRACE", "0")
        .env("RUST_LIB_BACKTRACE", "0")
        .stdin(Stdio::null())
        .output()
        .context("running componentize-py")?;
    if !output.status.success() {
        let _ = std::fs::remove_file(&partial);
        let said = String::from_utf8_lossy(&output.stderr);
        // The whole account (a traceback, say) for whoever reads on; the
        // error itself is its last line, which names what is wrong.
        tracing::warn!("componentize-py on {}:\n{}", dir.display(), said.trim_end());
        let last = said.lines().rev().map(str::trim).find(|l| !l.is_empty()).unwrap_or("no message");
        return Err(InputError::new(format!("building the Python plan in {} failed: {last}", dir.display())).into());
    }
    std::fs::rename(&partial, &dest)
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&partial);
        })
        .with_context(|| format!("moving the built plan to {}", dest.display()))?;
    // A cache that cannot be written costs the next build time, nothing else.
    if let Some(built) = &built
        && let Some(parent) = built.parent()
        && std::fs::create_dir_all(parent).is_ok()
        && let Ok(bytes) = std::fs::read(&dest)
        && let Err(e) = crate::files::write_atomic(built, &bytes)
    {
        tracing::debug!("not keeping the built plan in {}: {e:#}", built.display());
    }
    Ok(dest)
}

/// The largest plan source tree fingerprinted: past it, a directory is
/// probably not a plan (a virtualenv, a checkout) and is rebuilt each time.
const MAX_FINGERPRINTED_BYTES: u64 = 64 << 20;

/// A digest of every file under `dir` (names and contents, in name order, but
/// for `__pycache__`) and the tool's version: equal digests build equal
/// components. `None` for a tree too large to fingerprint.
fn sources_fingerprint(dir: &Path, tool_version: &str) -> anyhow::Result<Option<String>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).with_context(|| format!("reading {}", folder.display()))? {
            let entry = entry?;
            let (path, kind) = (entry.path(), entry.file_type()?);
            if entry.file_name() == "__pycache__" {
                continue;
            } else if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut all = tool_version.as_bytes().to_vec();
    let mut total = 0u64;
    for file in &files {
        total += file.metadata().map(|m| m.len()).unwrap_or(0);
        if total > MAX_FINGERPRINTED_BYTES {
            return Ok(None);
        }
        all.extend_from_slice(file.strip_prefix(dir).unwrap_or(file).to_string_lossy().as_bytes());
        all.push(0);
        all.extend_from_slice(&std::fs::read(file).with_context(|| format!("reading {}", file.display()))?);
        all.push(0);
    }
    Ok(Some(crate::component::load::sha256_hex(&all)))
}

/// A directory holding [`SUPPORT_FILES`], named after their contents so that
/// builds by different tg-wasm versions never share one.
fn support_dir() -> anyhow::Result<PathBuf> {
    let mut all = Vec::new();
    for (name, text) in SUPPORT_FILES {
        all.extend_from_slice(name.as_bytes());
        all.push(0);
        all.extend_from_slice(text.as_bytes());
        all.push(0);
    }
    let hash = crate::component::load::sha256_hex(&all);
    let base = crate::component::cache::cache_dir().unwrap_or_else(std::env::temp_dir);
    let dir = base.join("python").join(&hash[..16]);
    for (name, text) in SUPPORT_FILES {
        let path = dir.join(name);
        if std::fs::read(&path).is_ok_and(|bytes| bytes == text.as_bytes()) {
            continue;
        }
        let parent = path.parent().expect("support files are in folders");
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        crate::files::write_atomic(&path, text.as_bytes())?;
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sdk_compiled_in_is_every_module_of_sdk_python() {
        let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk-python/tg_sdk");
        let mut on_disk: Vec<String> = std::fs::read_dir(&sdk)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".py"))
            .map(|n| format!("tg_sdk/{n}"))
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> =
            SUPPORT_FILES.iter().map(|(n, _)| n.to_string()).filter(|n| n.starts_with("tg_sdk/")).collect();
        embedded.sort();
        assert_eq!(embedded, on_disk, "a module of sdk-python/tg_sdk is missing from SUPPORT_FILES");
    }

    #[test]
    fn a_python_plan_is_an_app_module_without_a_cargo_package() {
        let scratch = tempfile::Builder::new().prefix("tg-wasm-python-plan-").tempdir().unwrap();
        let dir = scratch.path();
        assert!(!is_python_plan(dir));
        std::fs::write(dir.join("app.py"), "").unwrap();
        assert!(is_python_plan(dir));
        std::fs::write(dir.join("Cargo.toml"), "").unwrap();
        assert!(!is_python_plan(dir));
    }
}
