//! Python plans: `plans/python-example` built by `tg-wasm build` with
//! componentize-py and run at 100 instances, its digest repeating, its UDP
//! ping through Python's `socket` module timed on the virtual clock; a plan
//! with a syntax error, a failing import or an exception ends as it should.
//!
//! These need componentize-py (`.ci/run` installs it). Where it is missing,
//! each test says so and returns, except in CI (`CI` set), where a missing
//! toolchain fails: CI must run them.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::{TempDir, plans_dir, tempdir};

fn tg_wasm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tg-wasm")).args(args).output().expect("running tg-wasm")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Whether componentize-py can be run; panics in CI if not.
fn toolchain_present() -> bool {
    let tool = std::env::var_os("COMPONENTIZE_PY").unwrap_or_else(|| "componentize-py".into());
    let present = Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success());
    if !present {
        assert!(std::env::var_os("CI").is_none(), "CI must run the Python plans: install componentize-py");
        eprintln!(
            "componentize-py not found: Python plan tests not run (pip install componentize-py=={})",
            tg_wasm::builder::COMPONENTIZE_PY_VERSION
        );
    }
    present
}

/// A copy of `plans/python-example` in a fresh directory with `app` as its
/// app.py, built; returns the directory holding the copy and its component
/// (removed when dropped), the copy's path and the build's output.
fn build_variant(app: &str) -> (TempDir, PathBuf, Output) {
    let scratch = tempdir();
    let dir = scratch.join("variant");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("app.py"), app).unwrap();
    let out = tg_wasm(&["build", dir.to_str().unwrap()]);
    (scratch, dir, out)
}

fn built_example() -> PathBuf {
    let out = tg_wasm(&["build", plans_dir().join("python-example").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    PathBuf::from(text(&out.stdout).trim())
}

fn summary_of(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("not JSON: {}", text(&out.stdout)))
}

#[test]
fn the_python_example_passes_at_100_instances_and_its_digest_repeats() {
    if !toolchain_present() {
        return;
    }
    let plan = built_example();
    let described = tg_wasm(&["describe", plan.to_str().unwrap()]);
    assert!(text(&described.stdout).contains("case barriers"), "{}", text(&described.stdout));
    let mut digests = Vec::new();
    for _ in 0..5 {
        let dir_scratch = tempdir();
        let dir = dir_scratch.join("run");
        let out = tg_wasm(&[
            "run",
            plan.to_str().unwrap(),
            "-t",
            "barriers",
            "-i",
            "100",
            "-p",
            "rounds=3",
            "--json",
            "-o",
            dir.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let summary = summary_of(&out);
        assert_eq!(summary["groups"][0]["ok"], 100, "{summary}");
        let rounds = summary["metrics"]["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == "rounds-passed")
            .unwrap_or_else(|| panic!("no rounds-passed metric: {summary}"));
        assert_eq!(rounds["sum"], 300.0);
        digests.push(summary["digest"].as_str().unwrap().to_string());
    }
    assert!(digests.iter().all(|d| *d == digests[0]), "{digests:#?}");
}

#[test]
fn the_other_python_cases_pass() {
    if !toolchain_present() {
        return;
    }
    let plan = built_example();
    for (case, n) in [("topic", "20"), ("sleep", "2"), ("udp-ping", "10")] {
        let dir_scratch = tempdir();
        let dir = dir_scratch.join(case);
        let out = tg_wasm(&["run", plan.to_str().unwrap(), "-t", case, "-i", n, "--json", "-o", dir.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{case}: {}\n{}", text(&out.stdout), text(&out.stderr));
        if case == "udp-ping" {
            // Python's own `socket` module on the simulated network: nine
            // clients, three pings each, every round trip twice the 25 ms link.
            let summary = summary_of(&out);
            let rtt = summary["metrics"]["results"].as_array().unwrap().iter().find(|m| m["name"] == "rtt").cloned();
            let rtt = rtt.unwrap_or_else(|| panic!("no rtt metric: {summary}"));
            assert_eq!((rtt["count"].as_u64(), rtt["max"].as_f64()), (Some(27), Some(0.05)), "{rtt}");
        }
    }
}

#[test]
fn a_syntax_error_or_a_failing_import_fails_the_build_naming_it() {
    if !toolchain_present() {
        return;
    }
    let cases = [
        ("from tg_sdk import Manifest, export_plan\nWitWorld = export_plan(Manifest('x')\n", "SyntaxError"),
        ("import no_such_module\n", "No module named 'no_such_module'"),
    ];
    for (app, needle) in cases {
        let (_scratch, dir, out) = build_variant(app);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        let last = stderr.trim_end().lines().last().unwrap_or_default();
        assert!(last.contains("building the Python plan") && last.contains(needle), "{stderr}");
        assert!(!Path::new(&format!("{}.wasm", dir.display())).exists(), "no component is left behind");
    }
}

#[test]
fn failures_and_exceptions_end_instances_as_failed_and_crashed_with_their_reasons() {
    if !toolchain_present() {
        return;
    }
    let app = r#"
from tg_sdk import Failure, Manifest, Param, TestCase, export_plan

def fail(env):
    raise Failure("the peer answered 3, expected 4")

def check(env):
    assert env.test_instance_count == 99, "wrong count"

def crash(env):
    import json
    json.loads(b"{")

def count(env):
    env.params.count("n")

manifest = (Manifest("outcomes")
    .case(TestCase("fail", fail))
    .case(TestCase("check", check))
    .case(TestCase("crash", crash))
    .case(TestCase("count", count).param(Param.int("n", -1))))
WitWorld = export_plan(manifest)
"#;
    let (_scratch, _, out) = build_variant(app);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let plan = text(&out.stdout).trim().to_string();
    let expected = [
        ("fail", "failed", "the peer answered 3, expected 4"),
        ("check", "failed", "wrong count"),
        ("crash", "crashed", "JSONDecodeError"),
        // A parameter the plan cannot use fails it, as a Rust plan's `?` on the SDK's error does.
        ("count", "failed", "it counts something, so it must be 0 or more"),
    ];
    for (case, outcome, reason) in expected {
        let dir_scratch = tempdir();
        let dir = dir_scratch.join(case);
        let out = tg_wasm(&["run", &plan, "-t", case, "--json", "-o", dir.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{case}: {}", text(&out.stderr));
        let summary = summary_of(&out);
        let given = &summary["groups"][0]["reasons"][0];
        assert_eq!(given["outcome"], outcome, "{case}: {summary}");
        assert!(given["reason"].as_str().unwrap().contains(reason), "{case}: {summary}");
    }
}

#[test]
fn the_python_sdks_pure_parts_pass_their_unit_tests() {
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk-python/tests");
    let out = match Command::new("python3").args(["-m", "unittest", "discover", "-s"]).arg(&tests).output() {
        Ok(out) => out,
        Err(e) => {
            assert!(std::env::var_os("CI").is_none(), "CI must run the Python SDK's tests: {e}");
            eprintln!("python3 not found ({e}): the Python SDK's unit tests not run");
            return;
        }
    };
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("OK"), "{}", text(&out.stderr));
}

#[test]
fn rust_and_python_instances_pass_the_same_barriers_in_one_composition() {
    if !toolchain_present() {
        return;
    }
    let python = built_example();
    let rust = support::plan("example").path;
    let dir = tempdir();
    let composition = dir.join("mixed.toml");
    std::fs::write(
        &composition,
        format!(
            "[global]\ncase = \"barrier-storm\"\nparams = {{ barriers = 5 }}\n\
             [[groups]]\nid = \"rust\"\nplan = {rust:?}\ninstances = {{ count = 10 }}\n\
             [[groups]]\nid = \"python\"\nplan = {python:?}\ninstances = {{ count = 10 }}\n"
        ),
    )
    .unwrap();
    let mut digests = Vec::new();
    for _ in 0..5 {
        let out_dir_scratch = tempdir();
        let out_dir = out_dir_scratch.join("run");
        let out = tg_wasm(&["run", "-c", composition.to_str().unwrap(), "--json", "-o", out_dir.to_str().unwrap()]);
        // Each barrier waits for all 20: passing them means both plans' instances met on them.
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let summary = summary_of(&out);
        let passed: Vec<f64> = summary["metrics"]["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["name"] == "barriers-passed")
            .map(|m| m["sum"].as_f64().unwrap())
            .collect();
        assert_eq!(passed, [50.0, 50.0], "{summary}");
        digests.push(summary["digest"].as_str().unwrap().to_string());
    }
    assert!(digests.iter().all(|d| *d == digests[0]), "{digests:#?}");
}
