//! The command line: exit codes and one-line errors for bad input.

mod support;

use std::path::Path;
use std::process::{Command, Output};
use support::{plan, tempdir};

fn tg_wasm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tg-wasm")).args(args).output().expect("running tg-wasm")
}

/// Asserts exit code 2 and exactly one line on stderr containing `needle`.
fn assert_bad_input(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line expected, got: {stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.display().to_string()
}

#[test]
fn not_wasm_is_bad_input() {
    let dir = tempdir();
    let file = write(&dir, "notes.wasm", b"these are not the bytes you are looking for");
    assert_bad_input(&tg_wasm(&["run", &file]), "is not a WebAssembly file");
}

#[test]
fn core_module_is_bad_input() {
    let dir = tempdir();
    let file = write(&dir, "core.wasm", &wat::parse_str("(module)").unwrap());
    assert_bad_input(&tg_wasm(&["run", &file]), "is a core wasm module, not a component");
}

#[test]
fn component_of_another_world_is_bad_input() {
    let dir = tempdir();
    let bytes =
        wat::parse_str("(component (core module $m (func (export \"f\"))) (core instance (instantiate $m)))").unwrap();
    let file = write(&dir, "other.wasm", &bytes);
    assert_bad_input(&tg_wasm(&["run", &file]), "is neither a tg:plan component");
}

#[test]
fn unknown_test_case_lists_the_known_ones() {
    let placebo = plan("placebo").path.display().to_string();
    let out = tg_wasm(&["run", &placebo, "--testcase", "nope", "-o", &tempdir().display().to_string()]);
    assert_bad_input(&out, "has no test case \"nope\"; its test cases are: ok, fail");
}

#[test]
fn zero_instances_is_bad_input() {
    let placebo = plan("placebo").path.display().to_string();
    assert_bad_input(&tg_wasm(&["run", &placebo, "--instances", "0"]), "--instances must be at least 1");
}

#[test]
fn unknown_param_is_bad_input() {
    let placebo = plan("placebo").path.display().to_string();
    let out = tg_wasm(&["run", &placebo, "-t", "sleep", "-p", "bogus=1", "-o", &tempdir().display().to_string()]);
    assert_bad_input(&out, "unknown parameter \"bogus\"");
}

#[test]
fn exit_codes_follow_the_outcome() {
    let placebo = plan("placebo").path.display().to_string();
    let run = |case: &str| {
        tg_wasm(&["run", &placebo, "-t", case, "-i", "3", "-o", &tempdir().display().to_string()]).status.code()
    };
    assert_eq!(run("ok"), Some(0));
    assert_eq!(run("fail"), Some(1));
    assert_eq!(run("panic"), Some(1));
    assert_eq!(run("stall"), Some(1));
}

#[test]
fn run_directory_holds_inputs_summary_and_instance_logs() {
    let placebo = plan("placebo").path.display().to_string();
    let dir = tempdir();
    let out = tg_wasm(&["run", &placebo, "-t", "random", "-i", "2", "-o", &dir.display().to_string(), "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    assert_eq!(summary["outcome"], "success");
    let on_disk: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(on_disk["digest"], summary["digest"]);
    let inputs: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(inputs["test_case"], "random");
    assert!(dir.join("instances/1/stdout.log").is_file());
}

#[test]
fn the_first_run_on_a_fresh_machine_makes_the_compile_cache_and_warns_nothing() {
    let placebo = plan("placebo").path.display().to_string();
    let cache_scratch = tempdir();
    let cache = cache_scratch.join("home/.cache/tg-wasm");
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_tg-wasm"))
            .args(["run", &placebo, "-t", "ok", "-i", "2", "-o", &tempdir().display().to_string()])
            .env("TG_WASM_CACHE_DIR", &cache)
            .output()
            .expect("running tg-wasm")
    };
    let first = run();
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert_eq!(first.status.code(), Some(0), "stderr: {stderr}");
    assert!(!stderr.contains("warning:"), "a missing cache directory is made, not warned about: {stderr}");
    let cached: Vec<_> = std::fs::read_dir(&cache).expect("the cache directory was made").flatten().collect();
    assert_eq!(cached.len(), 1, "one compiled plan, no temporary file left: {cached:?}");
    assert!(cached[0].file_name().to_string_lossy().ends_with(".cwasm"));
    // The second run loads what the first one wrote.
    assert_eq!(run().status.code(), Some(0));
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 1);
}

#[test]
fn diagnostics_into_a_pipe_carry_no_colour_codes() {
    let placebo = plan("placebo");
    let out_scratch = tempdir();
    let out = out_scratch.join("run");
    let run = tg_wasm(&["-v", "run", placebo.path.to_str().unwrap(), "-t", "identity", "-o", out.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("DEBUG") && stderr.contains("group=single"), "{stderr}");
    assert!(!stderr.contains('\x1b'), "escape codes in: {stderr:?}");
}

#[test]
fn a_run_that_outgrows_its_memory_budget_stops_with_its_results_and_says_what_to_do() {
    // 5000 suspended placebo instances hold about 400 MiB; tg-wasm itself, about 40. A budget of
    // 100 MiB stops the run while it starts them, instead of letting it grow.
    let placebo = plan("placebo").path.display().to_string();
    let out_scratch = tempdir();
    let out = out_scratch.join("run");
    let args = ["run", &placebo, "-t", "sleep", "-i", "5000", "--max-memory", "100MiB", "--progress", "off"];
    let run = Command::new(env!("CARGO_BIN_EXE_tg-wasm")).args(args).arg("-o").arg(&out).output().unwrap();
    assert_eq!(run.status.code(), Some(1), "a stopped run failed");
    let stderr = String::from_utf8_lossy(&run.stderr);
    let last = stderr.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.contains("over its budget of 100 MiB (--max-memory)") && last.contains("run fewer instances"),
        "{stderr}"
    );
    let held: u64 = last.split("held ").nth(1).and_then(|r| r.split(' ').next()).and_then(|n| n.parse().ok()).unwrap();
    assert!(held > 100, "the peak reads as over the budget: {last}");
    let summary: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["end"], "memory-budget");
    let outcomes = std::fs::read_to_string(out.join("outcomes.jsonl")).unwrap();
    assert_eq!(outcomes.lines().count(), 5000, "every instance's outcome is written");
    assert!(outcomes.lines().all(|l| l.contains("the run went over its memory budget")), "{}", &outcomes[..300]);
    // `off` lifts it: the same run ends by itself.
    let unbounded = Command::new(env!("CARGO_BIN_EXE_tg-wasm"))
        .args(["run", &placebo, "-t", "sleep", "-i", "50", "--max-memory", "off", "--progress", "off", "-o"])
        .arg(out.with_extension("off"))
        .output()
        .unwrap();
    assert_eq!(unbounded.status.code(), Some(0), "{}", String::from_utf8_lossy(&unbounded.stderr));
    // A budget under a MiB reads as what was given, not as "0 MiB".
    let tiny = Command::new(env!("CARGO_BIN_EXE_tg-wasm"))
        .args(["run", &placebo, "-t", "ok", "--max-memory", "1000", "--progress", "off", "-o"])
        .arg(out.with_extension("tiny"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&tiny.stderr);
    assert_eq!(tiny.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("over its budget of 1000 bytes (--max-memory)"), "{stderr}");
}

#[test]
fn without_a_terminal_a_long_run_prints_plain_progress_lines() {
    // stderr is a file, as in CI; the run spins (with fuel for far longer) until a 5 s wall-clock limit ends it.
    let wasm = plan("hostile").path.display().to_string();
    let dir = tempdir();
    let log = dir.join("stderr.log");
    let out = dir.join("run").display().to_string();
    let status = Command::new(env!("CARGO_BIN_EXE_tg-wasm"))
        .args(["run", &wasm, "-t", "spin", "-i", "2", "--timeout", "5s", "--fuel", "100000000000000", "--out", &out])
        .stderr(std::fs::File::create(&log).unwrap())
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1), "the timeout fails the run");
    let stderr = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("progress: ")).collect();
    // Lines come 2 s apart from 2 s on: at 2 s and 4 s on an idle machine; on a loaded one the
    // run's own start may eat into its 5 s, so at least the first.
    assert!(!lines.is_empty(), "{stderr}");
    for line in &lines {
        assert!(line.contains(" running, 0 ok, 0 failed, 0 crashed of 2 · "), "{line}");
        assert!(line.contains(" virtual · ") && line.contains(" events"), "{line}");
    }
    assert!(!stderr.contains('\r') && !stderr.contains('\x1b'), "no terminal control in a file: {stderr:?}");
    // --progress off silences them.
    let quiet = Command::new(env!("CARGO_BIN_EXE_tg-wasm"))
        .args(["run", &wasm, "-t", "spin", "-i", "2", "--timeout", "3s", "--progress", "off", "--out", &out])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&quiet.stderr).contains("progress: "));
}

#[test]
fn a_flag_error_points_at_the_help_of_the_command_it_was_given_to() {
    let cases: [(&[&str], &str); 4] = [
        (&["--bogus"], "(see `tg-wasm --help`)"),
        (&["run", "plans/placebo.wasm", "--seed", "-1"], "(see `tg-wasm run --help`)"),
        (&["-v", "diff", "a"], "(see `tg-wasm diff --help`)"),
        (&["run", "single", "--plan", "p", "--testcase", "ok", "--bogus"], "(see `tg-wasm run single --help`)"),
    ];
    for (args, needle) in cases {
        assert_bad_input(&tg_wasm(args), needle);
    }
}

#[test]
fn the_closing_lines_count_one_instance_as_one() {
    let placebo = plan("placebo").path.display().to_string();
    let out = tempdir();
    let run = tg_wasm(&["run", &placebo, "-t", "sleep", "-i", "1", "-o", out.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("— 1 instance, 3600.000000000s virtual, 1 event, "), "{stdout}");
}

#[test]
fn a_build_shows_the_plans_warnings_and_errors_but_not_the_unstable_feature_the_engine_enables() {
    // A plan asking rustc for wide arithmetic, as the libp2p template does:
    // rustc calls the feature unstable in every crate on every build.
    let dir = tempdir();
    let plan = dir.join("chatty");
    std::fs::create_dir_all(plan.join("src")).unwrap();
    std::fs::create_dir_all(plan.join(".cargo")).unwrap();
    let manifest = "[package]\nname = \"chatty\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[lib]\ncrate-type = [\"cdylib\"]\n\n[workspace]\n";
    write(&plan, "Cargo.toml", manifest.as_bytes());
    write(
        &plan,
        ".cargo/config.toml",
        b"[target.wasm32-wasip2]\nrustflags = [\"-Ctarget-feature=+wide-arithmetic\"]\n",
    );
    write(&plan, "src/lib.rs", b"pub fn f() {\n    let unused = 1;\n}\n");
    let out = tg_wasm(&["build", plan.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(dir.join("chatty.wasm").is_file(), "the component is written beside the plan");
    assert_eq!(stderr.matches("warning: unused variable: `unused`").count(), 1, "{stderr}");
    assert!(!stderr.contains("unstable feature"), "{stderr}");

    // A second build replays the warning (Cargo keeps a local crate's); an error is shown too.
    write(&plan, "src/lib.rs", b"pub fn f() {\n    let unused = 1;\n}\npub fn g() -> u32 {\n    \"x\"\n}\n");
    let out = tg_wasm(&["build", plan.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("error[E0308]: mismatched types") && stderr.contains("unused variable"), "{stderr}");
    assert!(!stderr.contains("unstable feature"), "{stderr}");
    assert!(stderr.trim_end().ends_with("failed (see cargo's messages above)"), "{stderr}");
}
