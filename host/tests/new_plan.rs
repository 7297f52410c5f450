//! `tg-wasm new`: a plan written into a fresh directory outside this
//! repository builds and passes at once, from every template; and what
//! `new` refuses.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh directory outside the repository, as a new user's would be.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tg-wasm-new-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().canonicalize().unwrap();
    assert!(!dir.canonicalize().unwrap().starts_with(&repo), "{} is inside the repository", dir.display());
    dir
}

/// `tg-wasm ARGS` run in `cwd`. Plans built here share one target directory
/// (kept between test runs) so that tg-sdk's dependencies compile once, and
/// build offline from cargo's cache like the repository's own plans.
fn tg_wasm(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tg-wasm"))
        .args(args)
        .current_dir(cwd)
        .env("CARGO_TARGET_DIR", Path::new(env!("CARGO_TARGET_TMPDIR")).join("new-plans"))
        .env("CARGO_NET_OFFLINE", "true")
        .output()
        .expect("running tg-wasm")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// The summary.json of the run whose directory tg-wasm printed.
fn summary_of(cwd: &Path, out: &Output) -> serde_json::Value {
    let all = text(out);
    let dir = all.lines().find_map(|l| l.strip_prefix("run directory: ")).unwrap_or_else(|| panic!("{all}"));
    let summary = std::fs::read_to_string(cwd.join(dir.trim()).join("summary.json")).unwrap();
    serde_json::from_str(&summary).unwrap()
}

/// `tg-wasm new demo [--template T] && tg-wasm run demo -i 100`, in a fresh directory.
fn new_plan_passes(template: Option<&str>) -> PathBuf {
    let cwd = fresh_dir(template.unwrap_or("default"));
    let mut new = vec!["new", "demo"];
    new.extend(template.iter().flat_map(|t| ["--template", t]));
    let created = tg_wasm(&cwd, &new);
    assert!(created.status.success(), "{}", text(&created));
    assert!(text(&created).contains("tg-wasm run demo"), "{}", text(&created));

    let ran = tg_wasm(&cwd, &["run", "demo", "-i", "100"]);
    assert_eq!(ran.status.code(), Some(0), "{}", text(&ran));
    let summary = summary_of(&cwd, &ran);
    assert_eq!(summary["groups"][0]["ok"], 100, "{summary}");
    // The template's metric was recorded by every instance.
    let metrics = summary["metrics"].to_string();
    assert!(metrics.contains("round-trip") || metrics.contains("time-to-identify"), "{summary}");
    cwd
}

#[test]
fn a_new_plan_from_the_std_template_runs_at_once_and_so_does_its_composition() {
    let cwd = new_plan_passes(None);
    // The composition `new` wrote, in Testground's format, runs too: two groups, their own latencies.
    let ran = tg_wasm(&cwd, &["run", "composition", "-f", "demo/compositions/two-groups.toml"]);
    assert_eq!(ran.status.code(), Some(0), "{}", text(&ran));
    let summary = summary_of(&cwd, &ran);
    let groups: Vec<(String, u64)> = summary["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["id"].as_str().unwrap().to_string(), g["ok"].as_u64().unwrap()))
        .collect();
    assert_eq!(groups, [("near".to_string(), 10), ("far".to_string(), 10)]);
    std::fs::remove_dir_all(&cwd).unwrap();
}

#[test]
fn a_new_plan_from_the_tokio_template_runs_at_once() {
    std::fs::remove_dir_all(new_plan_passes(Some("tokio"))).unwrap();
}

#[test]
fn a_new_plan_from_the_libp2p_template_runs_at_once() {
    std::fs::remove_dir_all(new_plan_passes(Some("libp2p"))).unwrap();
}

/// Exit code 2 and one line on stderr containing `needle`.
fn assert_bad_input(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line expected, got: {stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
}

#[test]
fn an_unknown_template_is_bad_input_listing_the_templates() {
    let cwd = fresh_dir("unknown-template");
    let out = tg_wasm(&cwd, &["new", "demo", "--template", "go"]);
    assert_bad_input(&out, "there is no template \"go\"; templates are std, tokio, libp2p");
    assert!(!cwd.join("demo").exists(), "nothing is written for bad input");
    std::fs::remove_dir_all(&cwd).unwrap();
}

#[test]
fn new_into_a_directory_with_files_is_bad_input_and_touches_nothing() {
    let cwd = fresh_dir("non-empty");
    std::fs::create_dir(cwd.join("demo")).unwrap();
    std::fs::write(cwd.join("demo/notes.txt"), "mine").unwrap();
    let out = tg_wasm(&cwd, &["new", "demo"]);
    assert_bad_input(&out, "demo is not empty: tg-wasm new writes a plan into a new or empty directory");
    assert_eq!(std::fs::read_dir(cwd.join("demo")).unwrap().count(), 1);
    assert_eq!(std::fs::read_to_string(cwd.join("demo/notes.txt")).unwrap(), "mine");
    std::fs::remove_dir_all(&cwd).unwrap();
}

#[test]
fn a_name_cargo_refuses_and_a_checkout_without_the_sdk_are_bad_input() {
    let cwd = fresh_dir("bad-names");
    assert_bad_input(&tg_wasm(&cwd, &["new", "2fast"]), "cannot name a plan crate");
    assert_bad_input(&tg_wasm(&cwd, &["new", "demo", "--sdk-path", "/nonexistent"]), "no tg-sdk there");
    assert_eq!(std::fs::read_dir(&cwd).unwrap().count(), 0, "nothing is written for bad input");
    std::fs::remove_dir_all(&cwd).unwrap();
}
