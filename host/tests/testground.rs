//! Testground's command lines and composition files, as Testground users
//! write them: `run single`, `run composition -f`, and what is refused.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// `tg-wasm ARGS` in `cwd`, with `$TESTGROUND_HOME` the repository (its `plans/` holds placebo).
fn tg_wasm(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tg-wasm"))
        .args(args)
        .current_dir(cwd)
        .env("TESTGROUND_HOME", repo())
        .output()
        .expect("running tg-wasm")
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tg-wasm-testground-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn run_single_takes_testgrounds_flags() {
    let out_dir = tempdir("single");
    let out = out_dir.join("run");
    let out_arg = out.display().to_string();
    // Long flags, a bare plan name found in $TESTGROUND_HOME/plans, and Testground's --builder/--runner.
    let long = [
        "run",
        "single",
        "--plan",
        "placebo",
        "--testcase",
        "sleep",
        "--instances",
        "3",
        "--tp",
        "duration=5s",
        "--builder",
        "docker:go",
        "--runner",
        "local:docker",
        "--out",
        &out_arg,
    ];
    let ran = tg_wasm(&out_dir, &long);
    assert_eq!(ran.status.code(), Some(0), "{}", stderr(&ran));
    assert!(stderr(&ran).contains("note: --builder docker:go is ignored"), "{}", stderr(&ran));
    assert!(stderr(&ran).contains("note: --runner local:docker is ignored"), "{}", stderr(&ran));
    let summary = json(&out.join("summary.json"));
    assert_eq!((summary["groups"][0]["ok"].as_u64(), summary["groups"][0]["total"].as_u64()), (Some(3), Some(3)));
    assert_eq!(json(&out.join("run.json"))["global_params"]["duration"], "5s");

    // Short flags, as Go parsed them: one dash for --tp too.
    let short = ["run", "s", "-p", "placebo", "-t", "sleep", "-i", "2", "-tp", "duration=7s", "--out", &out_arg];
    let ran = tg_wasm(&out_dir, &short);
    assert_eq!(ran.status.code(), Some(0), "{}", stderr(&ran));
    assert_eq!(json(&out.join("run.json"))["global_params"]["duration"], "7s");
    assert_eq!(json(&out.join("summary.json"))["groups"][0]["ok"], 2);

    // Plain `run` takes Go's one-dash `-tp` too when a parameter follows it; `-t p` stays a test case.
    let placebo = repo().join("plans/placebo.wasm").display().to_string();
    for (tp, param) in [("-tp", "duration=9s"), ("-tp=duration=11s", "")] {
        let plain: Vec<&str> = ["run", &placebo, "-t", "sleep", "-i", "1", tp, param, "--out", &out_arg]
            .into_iter()
            .filter(|a| !a.is_empty())
            .collect();
        let ran = tg_wasm(&out_dir, &plain);
        assert_eq!(ran.status.code(), Some(0), "{plain:?}: {}", stderr(&ran));
        let expected = if param.is_empty() { "11s" } else { "9s" };
        assert_eq!(json(&out.join("run.json"))["global_params"]["duration"], expected, "{plain:?}");
    }
    let case_p = tg_wasm(&out_dir, &["run", &placebo, "-tp", "--out", &out_arg]);
    assert_eq!(case_p.status.code(), Some(2), "{}", stderr(&case_p));
    assert!(stderr(&case_p).contains("test case \"p\""), "{}", stderr(&case_p));
    std::fs::remove_dir_all(&out_dir).unwrap();
}

/// A composition as Testground wrote them, for the placebo plan.
const TESTGROUND_COMPOSITION: &str = r#"
[metadata]
name = "placebo-sleeps"
author = "someone"

[global]
plan = "placebo"
case = "sleep"
builder = "docker:go"
runner = "local:docker"
total_instances = 4

[global.build_config]
go_version = "1.20"

[global.run]
test_params = { duration = "2s" }

[[groups]]
id = "short"
[groups.instances]
count = 2
[groups.resources]
memory = "256Mi"

[[groups]]
id = "long"
[groups.instances]
count = 2
[groups.run]
[groups.run.test_params]
duration = "7s"
"#;

#[test]
fn run_composition_reads_a_testground_composition_as_it_is() {
    let dir = tempdir("composition");
    std::fs::write(dir.join("testground.toml"), TESTGROUND_COMPOSITION).unwrap();
    let ran = tg_wasm(&dir, &["run", "composition", "-f", "testground.toml", "--out", "run"]);
    let err = stderr(&ran);
    assert_eq!(ran.status.code(), Some(0), "{err}");
    for ignored in ["[global] builder = \"docker:go\"", "[global] runner", "[global.build_config]", "resources"] {
        assert!(err.lines().any(|l| l.contains(ignored) && l.contains("is ignored")), "{ignored}: {err}");
    }
    let run = json(&dir.join("run/run.json"));
    assert_eq!(run["global_params"]["duration"], "2s", "{run}");
    assert_eq!(run["groups"][1]["id"], "long");
    assert_eq!(run["groups"][1]["params"]["duration"], "7s", "{run}");
    assert_eq!(run["composition"]["name"], "placebo-sleeps", "{run}");
    let summary = json(&dir.join("run/summary.json"));
    let ok: Vec<u64> = summary["groups"].as_array().unwrap().iter().map(|g| g["ok"].as_u64().unwrap()).collect();
    assert_eq!(ok, [2, 2], "{summary}");
    // The long group's sleep is what the run lasted: its parameter reached it.
    assert!(summary.to_string().contains("7000000000"), "{summary}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Exit code 2 and one line on stderr containing every one of `needles`.
fn assert_bad_input(out: &Output, needles: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line expected, got: {err}");
    for needle in needles {
        assert!(err.contains(needle), "expected {needle:?} in: {err}");
    }
}

#[test]
fn testground_fields_we_cannot_honour_are_refused_saying_what_instead() {
    let dir = tempdir("refused");
    let cases: &[(&str, &[&str])] = &[
        (
            "[global.build]\ndependencies = [{ module = \"github.com/libp2p/go-libp2p\", version = \"v0.30.0\" }]\n",
            &["[global.build.dependencies]", "cannot honour", "[patch]"],
        ),
        ("[groups.build]\nselectors = [\"quic\"]\n", &["group \"long\": build.selectors", "test parameters"]),
        ("[[runs]]\nid = \"again\"\n", &["[[runs]]", "one composition per [[runs]] entry"]),
    ];
    for (extra, needles) in cases {
        std::fs::write(dir.join("testground.toml"), format!("{TESTGROUND_COMPOSITION}{extra}")).unwrap();
        assert_bad_input(&tg_wasm(&dir, &["run", "composition", "-f", "testground.toml"]), needles);
    }
    let templated = TESTGROUND_COMPOSITION.replace("count = 2", "count = {{ .Env.N }}");
    std::fs::write(dir.join("testground.toml"), templated).unwrap();
    assert_bad_input(&tg_wasm(&dir, &["run", "composition", "-f", "testground.toml"]), &["Go templates"]);
    // And on the command line: a flag that would change what runs.
    let dep = tg_wasm(&dir, &["run", "single", "-p", "placebo", "-t", "ok", "--dep", "a=b"]);
    assert_bad_input(&dep, &["--dep a=b is Testground's", "[patch]"]);
    // Plain `run` given Testground's flags points at `run single`.
    let plain = tg_wasm(&dir, &["run", "--plan", "placebo"]);
    assert_bad_input(&plain, &["tg-wasm run single -p PLAN"]);
    // A plan name found nowhere, on the command line and in a composition,
    // says where it was looked for.
    let home = repo().join("plans");
    let looked = ["no plan \"nosuch\"", "plans/nosuch", "a directory above it", &home.display().to_string()];
    assert_bad_input(&tg_wasm(&dir, &["run", "single", "-p", "nosuch", "-t", "ok"]), &looked);
    std::fs::write(dir.join("testground.toml"), TESTGROUND_COMPOSITION.replace("\"placebo\"", "\"nosuch\"")).unwrap();
    assert_bad_input(&tg_wasm(&dir, &["run", "composition", "-f", "testground.toml"]), &looked);
    std::fs::remove_dir_all(&dir).unwrap();
}
