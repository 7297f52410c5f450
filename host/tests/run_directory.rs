//! The run directory as a user leans on it: one run's files at a time, never
//! two runs' mixed, an earlier run's cleared, and the outcome printed with
//! the right exit code even when the directory cannot be written whole.
//! Each `tg-wasm` here runs as a child held to a memory and a time limit, as
//! the bad-input corpus does, and its peak RSS must stay under [`RSS_BOUND`].

#[path = "support/bounded.rs"]
mod bounded;
mod support;

use std::path::Path;
use std::process::{Command, Output};
use support::{plan, tempdir};

/// What a run of a few placebo instances, or a refusal, may cost at most.
const RSS_BOUND: u64 = 256 << 20;

/// The memory a child may take before allocations fail: a runaway dies here.
const DATA_LIMIT: u64 = 2 << 30;

fn tg_wasm(args: &[&str]) -> Output {
    use std::os::unix::process::ExitStatusExt as _;
    let run = bounded::run_bounded(Command::new(env!("CARGO_BIN_EXE_tg-wasm")).args(args), DATA_LIMIT);
    assert!(run.status.signal().is_none(), "{args:?} was killed by signal {:?}", run.status.signal());
    assert!(run.peak_rss < RSS_BOUND, "{args:?}: peak RSS {} MiB, bound {} MiB", run.peak_rss >> 20, RSS_BOUND >> 20);
    Output { status: run.status, stdout: run.stdout, stderr: run.stderr }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn seed_of(file: &Path) -> u64 {
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    json["seed"].as_u64().unwrap_or_else(|| panic!("no seed in {}", file.display()))
}

#[test]
fn a_reused_out_holds_only_the_latest_runs_files() {
    let placebo = plan("placebo");
    let path = placebo.path.to_str().unwrap();
    let out_scratch = tempdir();
    let out = out_scratch.join("run");
    let o = out.to_str().unwrap();
    let first = tg_wasm(&["run", path, "-t", "identity", "-i", "3", "--trace", "-s", "1", "-o", o]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    assert!(out.join("trace.jsonl").is_file() && out.join("instances/2/stdout.log").is_file());
    std::fs::create_dir_all(out.join("determinism-2")).unwrap();
    std::fs::write(out.join("notes.txt"), "mine").unwrap();

    let second = tg_wasm(&["run", path, "-t", "ok", "-i", "1", "-s", "2", "-o", o]);
    assert_eq!(second.status.code(), Some(0), "{}", text(&second.stderr));
    assert!(!out.join("trace.jsonl").exists(), "the first run's trace is gone");
    assert!(!out.join("instances").exists(), "the first run's instance logs are gone");
    assert!(!out.join("determinism-2").exists());
    assert_eq!(std::fs::read_to_string(out.join("notes.txt")).unwrap(), "mine", "what tg-wasm did not write stays");
    assert_eq!((seed_of(&out.join("run.json")), seed_of(&out.join("summary.json"))), (2, 2));
    assert!(!out.join(".tg-wasm.lock").exists(), "the lock is released");
}

#[test]
fn concurrent_runs_on_one_out_never_mix_their_files() {
    let example = plan("example");
    let path = example.path.to_str().unwrap().to_string();
    let out_scratch = tempdir();
    let out = out_scratch.join("run");
    for pair in 0..4u64 {
        let start = |seed: u64| {
            Command::new(env!("CARGO_BIN_EXE_tg-wasm"))
                .args(["run", &path, "-t", "barrier-storm", "-i", "200", "-s", &seed.to_string()])
                .args(["-o", out.to_str().unwrap()])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (start(10 + 2 * pair), start(11 + 2 * pair));
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        let mut finished = Vec::new();
        for (seed, o) in [(10 + 2 * pair, &a), (11 + 2 * pair, &b)] {
            match o.status.code() {
                Some(0) => finished.push(seed),
                Some(2) => assert!(
                    text(&o.stderr).contains("is being written by another tg-wasm run"),
                    "refused saying why: {}",
                    text(&o.stderr)
                ),
                code => panic!("exit {code:?}: {}", text(&o.stderr)),
            }
        }
        assert!(!finished.is_empty(), "one of the two runs at least finishes");
        let (recorded, summarized) = (seed_of(&out.join("run.json")), seed_of(&out.join("summary.json")));
        assert_eq!(recorded, summarized, "run.json and summary.json are one run's");
        assert!(finished.contains(&recorded));
        assert!(!out.join(".tg-wasm.lock").exists());
    }
}

#[test]
fn concurrent_runs_without_out_each_get_a_directory_of_their_own() {
    // Started together, in one directory, they name their default run
    // directories alike (`runs/<second>-<plan>-<case>`): none may be refused for it.
    let placebo = plan("placebo");
    let cwd = tempdir();
    let runs: Vec<_> = (0..4u64)
        .map(|seed| {
            Command::new(env!("CARGO_BIN_EXE_tg-wasm"))
                .args(["run", placebo.path.to_str().unwrap(), "-t", "sleep", "-i", "200", "-s", &seed.to_string()])
                .current_dir(&cwd)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut seeds = Vec::new();
    for (seed, run) in runs.into_iter().enumerate() {
        let out = run.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let stdout = text(&out.stdout);
        let dir = stdout.lines().find_map(|l| l.strip_prefix("run directory: ")).expect("the run directory is printed");
        assert_eq!(seed_of(&cwd.join(dir).join("summary.json")), seed as u64, "{dir} is this run's");
        seeds.push(dir.to_string());
    }
    seeds.sort();
    seeds.dedup();
    assert_eq!(seeds.len(), 4, "four runs, four directories: {seeds:?}");
}

#[test]
fn junit_into_a_missing_directory_is_written_and_an_unwritable_one_still_prints_the_outcome() {
    let placebo = plan("placebo");
    let path = placebo.path.to_str().unwrap();
    let dir = tempdir();
    let junit = dir.join("reports/ci/junit.xml");
    let o = dir.join("run");
    let ok =
        tg_wasm(&["run", path, "-t", "ok", "-i", "2", "-o", o.to_str().unwrap(), "--junit", junit.to_str().unwrap()]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    assert!(std::fs::read_to_string(&junit).unwrap().contains("<testsuite"));

    let blocked = dir.join("a-file");
    std::fs::write(&blocked, "x").unwrap();
    let under_a_file = blocked.join("junit.xml");
    let failed = tg_wasm(&[
        "run",
        path,
        "-t",
        "ok",
        "-i",
        "2",
        "-o",
        o.to_str().unwrap(),
        "--junit",
        under_a_file.to_str().unwrap(),
    ]);
    assert_eq!(failed.status.code(), Some(3), "{}", text(&failed.stderr));
    assert!(text(&failed.stdout).contains("run directory:"), "the outcome is printed: {}", text(&failed.stdout));
    assert!(text(&failed.stderr).contains("a-file"), "{}", text(&failed.stderr));

    // A directory can never become the file: refused before the run, not after it.
    let refused =
        tg_wasm(&["run", path, "-t", "ok", "-i", "2", "-o", o.to_str().unwrap(), "--junit", dir.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));
    assert!(
        text(&refused.stderr).contains("is a directory; give a file for the JUnit XML"),
        "{}",
        text(&refused.stderr)
    );
    assert!(!text(&refused.stdout).contains("run directory:"), "nothing ran: {}", text(&refused.stdout));
}

#[test]
fn out_that_cannot_be_a_run_directory_is_bad_input() {
    let placebo = plan("placebo");
    let path = placebo.path.to_str().unwrap();
    let dir = tempdir();
    let file = dir.join("a-file");
    std::fs::write(&file, "x").unwrap();
    let project = dir.join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(project.join("Cargo.toml"), "[package]").unwrap();
    let cases = [
        (file.clone(), "is not a directory"),
        (file.join("under"), "cannot create run directory"),
        ("/dev/null".into(), "is not a directory"),
        (project.clone(), "is not a run directory"),
    ];
    for (out, needle) in cases {
        let o = tg_wasm(&["run", path, "-t", "ok", "-o", out.to_str().unwrap()]);
        let stderr = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "--out {}: {stderr}", out.display());
        assert!(stderr.contains(needle) && stderr.trim().lines().count() == 1, "--out {}: {stderr}", out.display());
    }
    assert_eq!(std::fs::read_dir(&project).unwrap().count(), 1, "a project directory is left untouched");
}

#[test]
fn a_run_refused_as_it_starts_leaves_no_run_directory() {
    let example = plan("example");
    let path = example.path.to_str().unwrap();
    let scratch = tempdir();
    // Nothing listens on port 1: found only when the run connects, after it took its directory.
    let unreachable = ["--sync", "redis://127.0.0.1:1"];
    let split = ["--workers", "2", "--sync-latency", "1ms"];
    for (name, extra) in [("one-process", &[][..]), ("split", &split[..])] {
        let out = scratch.join(name);
        let args =
            [&["run", path, "-t", "sync", "-i", "4", "-o", out.to_str().unwrap()][..], &unreachable, extra].concat();
        let refused = tg_wasm(&args);
        assert_eq!(refused.status.code(), Some(2), "{name}: {}", text(&refused.stderr));
        assert!(
            text(&refused.stderr).contains("cannot reach Redis at 127.0.0.1:1"),
            "{name}: {}",
            text(&refused.stderr)
        );
        assert!(!out.exists(), "{name}: {} was left behind", out.display());
    }
    // An earlier run's directory keeps that run: the refusal comes before it is cleared.
    let earlier = scratch.join("earlier");
    let made = tg_wasm(&["run", path, "-t", "sync", "-i", "4", "-o", earlier.to_str().unwrap()]);
    assert_eq!(made.status.code(), Some(0), "{}", text(&made.stderr));
    let refused =
        tg_wasm(&[&["run", path, "-t", "sync", "-i", "4", "-o", earlier.to_str().unwrap()][..], &unreachable].concat());
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));
    assert!(earlier.join("summary.json").is_file(), "the earlier run's results are still there");
    // A directory the user made stays, empty as it was given.
    let given = scratch.join("given");
    std::fs::create_dir(&given).unwrap();
    let refused =
        tg_wasm(&[&["run", path, "-t", "sync", "-i", "4", "-o", given.to_str().unwrap()][..], &unreachable].concat());
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));
    assert_eq!(std::fs::read_dir(&given).unwrap().count(), 0, "the given directory is left as it was");
}

#[test]
fn replay_diff_and_report_given_something_else_than_a_run_directory_say_what_to_give() {
    let placebo = plan("placebo");
    let scratch = tempdir();
    let run = scratch.join("run");
    let r = run.to_str().unwrap();
    let made = tg_wasm(&["run", placebo.path.to_str().unwrap(), "-t", "ok", "-i", "2", "--trace", "-o", r]);
    assert_eq!(made.status.code(), Some(0), "{}", text(&made.stderr));
    let (run_json, summary_json) = (run.join("run.json"), run.join("summary.json"));
    let (other, missing) = (scratch.join("plain-file"), scratch.join("missing"));
    std::fs::write(&other, "x").unwrap();
    let given = |path: &std::path::Path| path.to_str().unwrap().to_string();
    let of_the_run = format!("is a file of run directory {r}; give the directory");
    let cases = [
        (vec!["replay".into(), given(&run_json)], of_the_run.as_str()),
        (vec!["diff".into(), r.into(), given(&run_json)], &of_the_run),
        (vec!["report".into(), given(&summary_json)], &of_the_run),
        (vec!["replay".into(), given(&missing)], "does not exist; give the directory a run wrote (its --out)"),
        (vec!["diff".into(), given(&other), r.into()], "is a file, not a run directory"),
        (vec!["report".into(), "/dev/null".into()], "/dev/null is not a directory"),
    ];
    for (args, needle) in cases {
        let out = tg_wasm(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle) && stderr.trim().lines().count() == 1, "{args:?}: {stderr}");
    }
}

/// A run into a filesystem too small for its outputs: the summary is printed,
/// the exit code is 3, the directory says it is incomplete, and `report` and
/// `replay` refuse it. The filesystem is a tmpfs mounted in a user and mount
/// namespace of the test's own, so no privilege is needed.
#[test]
fn a_full_filesystem_gives_an_incomplete_directory_that_report_and_replay_refuse() {
    let placebo = plan("placebo");
    let size_kib = std::fs::metadata(&placebo.path).unwrap().len() / 1024 + 64;
    let mount_scratch = tempdir();
    let mount = mount_scratch.join("small");
    std::fs::create_dir_all(&mount).unwrap();
    // 2000 instances each write a stdout.log: far more than 64 KiB of pages.
    let script = format!(
        r#"set -e
mount -t tmpfs -o size={size_kib}k tmpfs "$1"
set +e
"$2" run "$3" -t identity -i 2000 -o "$1/run"; echo "run-exit=$?"
"$2" report "$1/run"; echo "report-exit=$?"
"$2" replay "$1/run"; echo "replay-exit=$?"
ls -a "$1/run"
"#
    );
    let out = Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "sh", "-c", &script, "sh"])
        .args([mount.as_os_str(), Path::new(env!("CARGO_BIN_EXE_tg-wasm")).as_os_str(), placebo.path.as_os_str()])
        .output()
        .expect("unshare (util-linux) runs the test in a namespace of its own");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "the namespace could not be set up: {stderr}");
    assert!(stdout.contains("run-exit=3"), "{stdout}\n{stderr}");
    assert!(stdout.contains("single") && stdout.contains("run directory:"), "the outcome is printed: {stdout}");
    assert!(stderr.contains("is incomplete"), "{stderr}");
    assert!(stdout.contains("report-exit=2") && stdout.contains("replay-exit=2"), "{stdout}\n{stderr}");
    assert!(!stdout.lines().any(|l| l.contains(".tmp")), "no temporary file is left: {stdout}");
}

#[test]
fn damaged_files_in_a_run_directory_are_bad_input_for_report_replay_and_diff() {
    let placebo = plan("placebo");
    let path = placebo.path.to_str().unwrap();
    let dir = tempdir();
    let (a, b) = (dir.join("a"), dir.join("b"));
    for out in [&a, &b] {
        let o = tg_wasm(&["run", path, "-t", "random", "-i", "2", "--trace", "-o", out.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    }
    let (a_str, b_str) = (a.to_str().unwrap(), b.to_str().unwrap());
    let damaged: [(&str, &[&[&str]]); 3] = [
        ("summary.json", &[&["report", a_str], &["replay", a_str]]),
        ("trace.jsonl", &[&["diff", a_str, b_str]]),
        ("metrics.jsonl", &[&["report", a_str]]),
    ];
    for (file, commands) in damaged {
        let original = std::fs::read(a.join(file)).unwrap();
        std::fs::write(a.join(file), b"{ not json\n").unwrap();
        for args in commands {
            let o = tg_wasm(args);
            let stderr = text(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{file}, {args:?}: {stderr}");
            assert!(stderr.contains(file) && stderr.trim().lines().count() == 1, "{file}, {args:?}: {stderr}");
        }
        std::fs::write(a.join(file), original).unwrap();
    }
}
