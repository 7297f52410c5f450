//! Telling a failed plan build caused by the machine from one caused by the
//! plan: a Rust toolchain without the plan target's standard library.
//!
//! rustup installs the targets a `rust-toolchain.toml` lists only when it
//! installs the toolchain itself. On a machine that already had the pinned
//! Rust, `wasm32-wasip2` is missing, and the build fails in every crate of the
//! plan with "can't find crate for `core`", rustc's hint buried among them.
//! This module asks the toolchain Cargo used where its standard libraries
//! are and, when the plan target's is not there, names the command that adds
//! it. It installs nothing, and it is asked only after a build has failed,
//! so a layout it does not know can never stop a build that works.

use super::PLAN_TARGET;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// After a build of the plan in `dir` with `cargo` failed: when the toolchain
/// Cargo used has no standard library for [`PLAN_TARGET`], the one line that
/// says so and how to add it.
pub(super) fn missing_target(cargo: &OsStr, dir: &Path) -> Option<String> {
    without_target(&sysroot(&rustc_for(cargo, std::env::var_os("RUSTC")), dir)?)
}

/// The rustc Cargo runs: `RUSTC` when set, else the one beside `cargo` when
/// `cargo` is a toolchain's own binary (as `CARGO` names it under `cargo run`,
/// where no rustup proxy chooses the toolchain again), else `rustc` on PATH,
/// which in `dir` resolves to the toolchain Cargo's proxy chose.
fn rustc_for(cargo: &OsStr, rustc_env: Option<OsString>) -> PathBuf {
    if let Some(rustc) = rustc_env.filter(|r| !r.is_empty()) {
        return rustc.into();
    }
    let beside = Path::new(cargo).with_file_name(format!("rustc{}", std::env::consts::EXE_SUFFIX));
    if Path::new(cargo).parent().is_some_and(|p| !p.as_os_str().is_empty()) && beside.is_file() {
        return beside;
    }
    "rustc".into()
}

/// Where `rustc`, run in `dir`, keeps its standard libraries; `None` when it
/// cannot be run or does not say.
fn sysroot(rustc: &Path, dir: &Path) -> Option<PathBuf> {
    let output = Command::new(rustc)
        .args(["--print", "sysroot"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    (!sysroot.as_os_str().is_empty()).then_some(sysroot)
}

/// The message for a toolchain at `sysroot` that has no [`PLAN_TARGET`].
fn without_target(sysroot: &Path) -> Option<String> {
    if sysroot.join("lib/rustlib").join(PLAN_TARGET).is_dir() {
        return None;
    }
    // rustup keeps each toolchain in `<RUSTUP_HOME>/toolchains/<name>`.
    let rustup_toolchain = sysroot
        .parent()
        .filter(|p| p.file_name().is_some_and(|n| n == "toolchains"))
        .and_then(|_| sysroot.file_name())
        .map(|n| n.to_string_lossy().into_owned());
    let fix = match rustup_toolchain {
        Some(name) => format!("add it with `rustup target add {PLAN_TARGET} --toolchain {name}`"),
        None => format!(
            "install the {PLAN_TARGET} standard library for it (with rustup: `rustup target add {PLAN_TARGET}`)"
        ),
    };
    Some(format!(
        "the Rust toolchain that built the plan ({}) has no {PLAN_TARGET} target, which plans are built for \
         (rustup adds the targets a rust-toolchain.toml lists only when it installs the toolchain): {fix}, \
         then run the same command again",
        sysroot.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A rustup home with one toolchain, which has the host's standard library only.
    fn toolchains() -> (tempfile::TempDir, PathBuf) {
        let home = tempfile::Builder::new().prefix("tg-wasm-rustup-").tempdir().unwrap();
        let sysroot = home.path().join("toolchains/1.95.0-x86_64-unknown-linux-gnu");
        std::fs::create_dir_all(sysroot.join("lib/rustlib/x86_64-unknown-linux-gnu/lib")).unwrap();
        (home, sysroot)
    }

    #[test]
    fn a_rustup_toolchain_without_the_target_is_named_with_the_command_that_adds_it() {
        let (_home, sysroot) = toolchains();
        let message = without_target(&sysroot).expect("the target is missing");
        assert!(
            message.contains("has no wasm32-wasip2 target")
                && message.contains("`rustup target add wasm32-wasip2 --toolchain 1.95.0-x86_64-unknown-linux-gnu`"),
            "{message}"
        );
        assert!(message.contains(&sysroot.display().to_string()), "{message}");
    }

    #[test]
    fn a_toolchain_with_the_target_is_not_blamed() {
        let (_home, sysroot) = toolchains();
        std::fs::create_dir_all(sysroot.join("lib/rustlib/wasm32-wasip2/lib")).unwrap();
        assert_eq!(without_target(&sysroot), None);
    }

    #[test]
    fn a_toolchain_outside_rustup_gets_the_general_fix() {
        let root = tempfile::Builder::new().prefix("tg-wasm-sysroot-").tempdir().unwrap();
        let message = without_target(root.path()).expect("the target is missing");
        assert!(message.contains("install the wasm32-wasip2 standard library for it"), "{message}");
    }

    #[test]
    fn the_sysroot_is_the_toolchains_own_and_a_rustc_that_cannot_run_has_none() {
        // The rustc that builds these tests builds plans too (the README's test command builds them).
        let real = sysroot(Path::new("rustc"), Path::new(env!("CARGO_MANIFEST_DIR"))).expect("rustc answers");
        assert!(real.join("lib/rustlib").is_dir(), "{}", real.display());
        assert_eq!(without_target(&real), None, "the plans' target is installed where the tests run");
        assert_eq!(sysroot(Path::new("/nonexistent/rustc"), Path::new(".")), None);
    }

    #[test]
    fn the_rustc_is_rustc_env_then_the_one_beside_cargo_then_path() {
        let bin = tempfile::Builder::new().prefix("tg-wasm-toolchain-").tempdir().unwrap();
        let rustc = bin.path().join("rustc");
        std::fs::write(&rustc, "").unwrap();
        let cargo = bin.path().join("cargo");
        assert_eq!(rustc_for(cargo.as_os_str(), Some("/opt/rustc".into())), PathBuf::from("/opt/rustc"));
        assert_eq!(rustc_for(cargo.as_os_str(), None), rustc);
        assert_eq!(rustc_for(cargo.as_os_str(), Some(OsString::new())), rustc);
        assert_eq!(rustc_for(OsStr::new("cargo"), None), PathBuf::from("rustc"));
        let elsewhere = tempfile::Builder::new().prefix("tg-wasm-cargo-").tempdir().unwrap();
        assert_eq!(rustc_for(elsewhere.path().join("cargo").as_os_str(), None), PathBuf::from("rustc"));
    }
}
