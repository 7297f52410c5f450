//! Reproducing runs: same inputs give the same digest for every plan in
//! `plans/`, `replay` reproduces a recorded failure and refuses other plan
//! bytes, `diff` and `--check-determinism` show the first divergent event, and
//! fuel preemption of CPU-bound instances keeps runs deterministic.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::{TempDir, plan, plans_dir, spec, tempdir};
use tg_wasm::error::Error;
use tg_wasm::replay::{self, ComponentSource, Verdict};
use tg_wasm::run::{RunSpec, RunSummary};

/// Runs `spec` into a fresh directory and returns the directory too.
fn run_in_dir(spec: &RunSpec) -> (TempDir, RunSummary) {
    let dir = tempdir();
    let (summary, _) = support::run_with(spec, &dir, &tg_wasm::sync::SyncSetting::Embedded);
    (dir, summary)
}

fn traced(mut s: RunSpec) -> RunSpec {
    s.keep_trace = true;
    s
}

/// The message of an error that must be bad input.
fn input_error(e: Error) -> String {
    assert!(e.is_input(), "expected bad input, got: {e}");
    e.to_string()
}

/// Every plan crate in `plans/`, by directory name.
fn all_plans() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(plans_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("Cargo.toml").is_file() && e.path().join("src").is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn every_case_of_every_plan_gives_one_digest_in_five_runs() {
    let plans = all_plans();
    assert!(plans.iter().any(|p| p == "placebo") && plans.iter().any(|p| p == "example"), "{plans:?}");
    for name in plans {
        let component = plan(&name);
        let manifest = tg_wasm::run::prepare(&component, &Default::default(), 1).unwrap().manifest;
        for case in &manifest.test_cases {
            let n = 3u32.clamp(case.min_instances, case.max_instances);
            let mut s = spec(component.clone(), &case.name, n, 11);
            // Cases that loop forever end on a small budget: the same budget every time.
            s.engine.fuel = 300_000_000;
            let digests: Vec<String> = (0..5).map(|_| support::run(&s).0.digest).collect();
            assert!(digests.iter().all(|d| *d == digests[0]), "{name}/{}: digests differ: {digests:#?}", case.name);
        }
    }
}

#[test]
fn another_seed_changes_the_digest_of_every_plan_that_draws_random_numbers() {
    // (plan, case, instances): the cases whose behaviour depends on the seed.
    // `network` is not here: on the default, unshaped links it draws nothing
    // from the seed (no loss, no jitter), so its digest rightly stays put.
    let random = [("placebo", "random", 5)];
    for (name, case, n) in random {
        let a = support::run(&spec(plan(name), case, n, 1)).0.digest;
        let b = support::run(&spec(plan(name), case, n, 2)).0.digest;
        assert_ne!(a, b, "{name}/{case}: seeds 1 and 2 gave the same digest");
    }
}

#[test]
fn replay_reproduces_a_recorded_failure_and_its_digest() {
    for case in ["fail", "panic"] {
        let (dir, original) = run_in_dir(&spec(plan("placebo"), case, 4, 3));
        assert!(!original.success(), "{case} must fail");
        assert!(dir.join("plan.wasm").is_file(), "the run directory keeps the component");
        let r = replay::replay(&dir, None).unwrap();
        assert!(r.reproduced(), "{}", r.render());
        assert!(matches!(r.component, ComponentSource::Copy(_)));
        assert_eq!(r.summary.digest, original.digest);
        assert_eq!(r.summary.outcome, "failure");
        assert_eq!(r.summary.groups[0].reasons[0].reason, original.groups[0].reasons[0].reason);
        assert_eq!(r.out, dir.join("replay"));
        assert!(r.out.join("trace.jsonl").is_file(), "a replay keeps its trace");
        assert!(r.render().contains("replay reproduced the recorded run: outcome failure"));
    }
}

#[test]
fn replay_without_the_copy_uses_the_recorded_path() {
    // A private copy of the plan: the shared build output may be rebuilt meanwhile.
    let (_copy, file) = private_copy("placebo");
    let (dir, original) = run_in_dir(&spec(tg_wasm::component::load(&file).unwrap(), "random", 3, 5));
    std::fs::remove_file(dir.join("plan.wasm")).unwrap();
    let r = replay::replay(&dir, None).unwrap();
    assert_eq!(r.component, ComponentSource::RecordedPath(file));
    assert!(r.reproduced());
    assert_eq!(r.summary.digest, original.digest);
}

/// A copy of plan `name`'s component in a fresh directory (the directory,
/// which holds the copy while it lives, and the copy's path).
fn private_copy(name: &str) -> (TempDir, PathBuf) {
    let dir = tempdir();
    let file = dir.join(format!("{name}.wasm"));
    std::fs::write(&file, plan(name).bytes).unwrap();
    (dir, file)
}

/// Replaces the bytes of the component the run in `dir` will be replayed from.
fn tamper(dir: &Path, bytes: &[u8]) {
    std::fs::write(dir.join("plan.wasm"), bytes).unwrap();
}

#[test]
fn replay_refuses_a_modified_plan() {
    // The kept copy with one byte changed.
    let (dir, _) = run_in_dir(&spec(plan("placebo"), "ok", 2, 0));
    let mut bytes = plan("placebo").bytes;
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    tamper(&dir, &bytes);
    let msg = input_error(replay::replay(&dir, None).unwrap_err());
    assert!(msg.starts_with("refusing to replay") && msg.contains("the plan changed"), "{msg}");
    assert_eq!(msg.lines().count(), 1);
    assert!(!dir.join("replay").exists(), "nothing may run");

    // Another plan altogether.
    tamper(&dir, &plan("example").bytes);
    assert!(input_error(replay::replay(&dir, None).unwrap_err()).contains("refusing to replay"));

    // No copy, and the file at the recorded path rebuilt differently.
    let (_copy, file) = private_copy("placebo");
    let (dir, _) = run_in_dir(&spec(tg_wasm::component::load(&file).unwrap(), "ok", 2, 0));
    std::fs::remove_file(dir.join("plan.wasm")).unwrap();
    std::fs::write(&file, plan("example").bytes).unwrap();
    let msg = input_error(replay::replay(&dir, None).unwrap_err());
    assert!(msg.contains(&file.display().to_string()) && msg.contains("the plan changed"), "{msg}");
}

#[test]
fn replay_shows_the_first_divergent_event_when_the_digest_differs() {
    let (dir, _) = run_in_dir(&traced(spec(plan("placebo"), "random", 3, 9)));
    // Make the record say instance 1 drew another number: the replay's digest
    // can no longer match, and the event is where they part.
    let trace = std::fs::read_to_string(dir.join("trace.jsonl")).unwrap();
    let mut lines: Vec<String> = trace.lines().map(String::from).collect();
    let i = lines.iter().position(|l| l.contains("\"node\":1,\"kind\":\"stdout\"")).unwrap();
    lines[i] = lines[i].replace("fnv=", "fnv=f");
    std::fs::write(dir.join("trace.jsonl"), lines.join("\n") + "\n").unwrap();
    let summary = std::fs::read_to_string(dir.join("summary.json")).unwrap();
    let digest = support_digest(&summary);
    std::fs::write(dir.join("summary.json"), summary.replace(&digest, &"0".repeat(64))).unwrap();

    let r = replay::replay(&dir, None).unwrap();
    let Verdict::Diverged(Some(d)) = &r.verdict else { panic!("expected a divergence: {}", r.render()) };
    assert_eq!(d.index, i as u64);
    assert_eq!(d.at(), (0, Some(1)));
    assert_eq!(d.left[0].kind, "stdout");
    assert_ne!(d.left[0], d.right[0]);
    let text = r.render();
    assert!(text.contains("replay DIVERGED") && text.contains("recorded:") && text.contains("replayed:"), "{text}");

    // Without the original trace the replay still says the digests differ, and how to see more.
    std::fs::remove_file(dir.join("trace.jsonl")).unwrap();
    let r = replay::replay(&dir, None).unwrap();
    assert!(matches!(r.verdict, Verdict::Diverged(None)));
    assert!(r.render().contains("re-run it with --trace"));
}

fn support_digest(summary_json: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(summary_json).unwrap();
    v["digest"].as_str().unwrap().to_string()
}

#[test]
fn diff_of_two_seeds_shows_their_first_divergent_event() {
    let (a, _) = run_in_dir(&traced(spec(plan("placebo"), "random", 4, 1)));
    let (b, _) = run_in_dir(&traced(spec(plan("placebo"), "random", 4, 2)));
    let diff = replay::diff_runs(&a, &b).unwrap();
    let d = diff.divergence.as_ref().expect("different seeds must diverge");
    // Instance 0 starts the same way, then prints its own random number.
    assert_eq!(d.index, 1);
    assert_eq!(d.before[0].kind, "instance.start");
    assert_eq!((d.left[0].node, d.left[0].kind.as_str()), (Some(0), "stdout"));
    assert_ne!(d.left[0].detail, d.right[0].detail);
    let text = diff.render();
    assert!(text.contains("first divergence at event #1 (virtual time 0.000000000s, instance 0)"), "{text}");
    // Each run is named by what it ran; the same case needs no note.
    assert!(
        text.contains(": placebo random, seed 1: success") && text.contains(": placebo random, seed 2: "),
        "{text}"
    );
    assert!(!text.contains("note:"), "{text}");
    let (other_case, _) = run_in_dir(&traced(spec(plan("placebo"), "ok", 4, 1)));
    let text = replay::diff_runs(&a, &other_case).unwrap().render();
    assert!(text.contains("note: these are runs of different test cases (placebo random and placebo ok)"), "{text}");

    let same = replay::diff_runs(&a, &a).unwrap();
    assert!(same.identical() && same.events_compared > 0);

    let (untraced, _) = run_in_dir(&spec(plan("placebo"), "random", 4, 1));
    assert!(input_error(replay::diff_runs(&a, &untraced).unwrap_err()).contains("re-run it with --trace"));
}

#[test]
fn check_determinism_runs_n_times_and_agrees() {
    let dir_scratch = tempdir();
    let dir = dir_scratch.join("run");
    let s = spec(plan("example"), "sync", 20, 4);
    let options = tg_wasm::session::RunOptions {
        mode: tg_wasm::session::Mode::CheckDeterminism { runs: 3 },
        ..tg_wasm::session::RunOptions::new(&dir)
    };
    let finished = tg_wasm::session::run(s, &options).unwrap();
    let (summary, check) = (finished.summary, finished.determinism.expect("a determinism check"));
    assert!(summary.success());
    assert_eq!(check.digests.len(), 3);
    assert!(check.deterministic() && check.divergence.is_none(), "{}", check.render());
    assert_eq!(check.digests[0], summary.digest);
    assert!(check.render().contains("determinism check passed: 3 runs"));
}

#[test]
fn cpu_heavy_instances_interleave_under_fuel_and_stay_deterministic() {
    let mut s = traced(spec(plan("placebo"), "spin", 6, 0));
    s.global_params.insert("iterations".into(), "2000000".into());
    let runs: Vec<_> = (0..3).map(|_| support::run(&s)).collect();
    for (summary, _) in &runs {
        assert!(summary.success(), "{}", summary.render());
        assert_eq!(summary.digest, runs[0].0.digest);
    }
    // Fuel preempted the spinning instances many times each (the executor
    // then runs the others: they take turns), the same way each run.
    let polls = runs[0].1.polls;
    assert!(polls > 6 * 10, "instances were not preempted: {polls} polls for 6 instances");
    let trace = runs[0].1.trace.as_ref().unwrap();
    for (_, e) in &runs[1..] {
        assert_eq!(e.polls, polls);
        assert_eq!(e.trace.as_ref().unwrap(), trace);
    }
}

fn tg_wasm(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tg-wasm")).args(args).output().expect("running tg-wasm")
}

#[test]
fn command_line_exit_codes() {
    let placebo = plan("placebo").path.display().to_string();
    let root = tempdir();
    let run_dir = root.join("fail").display().to_string();
    let out = tg_wasm(&["run", &placebo, "-t", "panic", "-i", "2", "--out", &run_dir]);
    assert_eq!(out.status.code(), Some(1));

    // The failure replays: exit 0, because the replay reproduced it.
    let out = tg_wasm(&["replay", &run_dir]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("replay reproduced the recorded run: outcome failure"), "{stdout}");

    // A changed component: exit 2, one line.
    std::fs::write(root.join("fail").join("plan.wasm"), plan("example").bytes).unwrap();
    let out = tg_wasm(&["replay", &run_dir]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("refusing to replay"), "{stderr}");

    // diff: 1 when the runs differ, 2 without traces.
    let (a, b) = (root.join("a").display().to_string(), root.join("b").display().to_string());
    for (dir, seed) in [(&a, "1"), (&b, "2")] {
        let out = tg_wasm(&["run", &placebo, "-t", "random", "-i", "2", "--seed", seed, "--trace", "--out", dir]);
        assert_eq!(out.status.code(), Some(0));
    }
    let out = tg_wasm(&["diff", &a, &b]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("first divergence at event #1"));
    assert_eq!(tg_wasm(&["diff", &a, &a]).status.code(), Some(0));
    assert_eq!(tg_wasm(&["diff", &a, &run_dir]).status.code(), Some(2));

    // --check-determinism: the default of 2 runs, and =N.
    let c = root.join("c").display().to_string();
    let out = tg_wasm(&["run", &placebo, "-t", "random", "-i", "3", "--check-determinism", "--out", &c]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("determinism check passed: 2 runs"));
    let out = tg_wasm(&["run", &placebo, "-t", "random", "-i", "3", "--check-determinism=4", "--out", &c]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("determinism check passed: 4 runs"));
}
