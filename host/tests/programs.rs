//! Programs as instances, and compositions whose groups run different
//! components: a plain `wasm32-wasip2` program gets Testground's `TEST_*`
//! variables and its arguments, and its exit status is its outcome;
//! `plans/interop` runs revision-1 and revision-2 servers and clients side by
//! side and shows which pairings work; every component is recorded and
//! checked on replay.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::{plans_dir, tempdir};

fn tg_wasm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tg-wasm")).args(args).output().expect("running tg-wasm")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn summary_of(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("not JSON: {}\n{}", text(&out.stdout), text(&out.stderr)))
}

fn program() -> PathBuf {
    support::plan("program").path
}

/// The group `id` of a `--json` summary.
fn group<'a>(summary: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    summary["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["id"] == id)
        .unwrap_or_else(|| panic!("no group {id}: {summary}"))
}

#[test]
fn a_programs_exit_status_panic_or_trap_is_its_outcome_with_a_reason() {
    let program = program();
    let expected = [
        ("exit-3", "failed", "exited with a failure status: giving up with status 3"),
        ("main-error", "failed", "exited with a failure status"),
        ("panic", "crashed", "panicked at program/src/main.rs"),
        ("missing-variable", "crashed", "PEER_ADDRESS is not set"),
        ("trap", "crashed", "unreachable"),
        // No case given: a program is run with `default`, and this one says what it knows.
        ("default", "failed", "this program's cases are environment, ok,"),
    ];
    for (case, outcome, reason) in expected {
        let dir = tempdir();
        let out =
            tg_wasm(&["run", program.to_str().unwrap(), "-t", case, "-i", "3", "--json", "-o", dir.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{case}: {}", text(&out.stderr));
        let summary = summary_of(&out);
        let given = &summary["groups"][0]["reasons"][0];
        assert_eq!(
            (given["outcome"].as_str(), summary["groups"][0][outcome].as_u64()),
            (Some(outcome), Some(3)),
            "{case}: {summary}"
        );
        assert!(given["reason"].as_str().unwrap().contains(reason), "{case}: {given}");
    }
    let dir = tempdir();
    let out =
        tg_wasm(&["run", program.to_str().unwrap(), "-t", "sleep", "-i", "2", "--json", "-o", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(summary_of(&out)["virtual_time_ns"], 3_600_000_000_000u64, "a program's clock is virtual");
}

#[test]
fn a_program_gets_the_run_environment_and_its_arguments_with_seqs_in_them() {
    let dir = tempdir();
    let composition = dir.join("composition.toml");
    std::fs::write(
        &composition,
        format!(
            r#"
[global]
plan = {program:?}
case = "environment"
params = {{ mode = "fast" }}
[[groups]]
id = "first"
instances = {{ count = 2 }}
[[groups]]
id = "second"
instances = {{ count = 3 }}
params = {{ mode = "slow", size = 4 }}
run = {{ args = ["--id", "${{TEST_GLOBAL_SEQ}}", "g${{TEST_GROUP_SEQ}}", "${{NOT_OURS}}"] }}
"#,
            program = program()
        ),
    )
    .unwrap();
    let out_dir = dir.join("run");
    let out = tg_wasm(&["run", "-c", composition.to_str().unwrap(), "-o", out_dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = std::fs::read_to_string(out_dir.join("instances/3/stdout.log")).unwrap();
    for line in [
        "TEST_CASE=environment",
        "TEST_GLOBAL_SEQ=3",
        "TEST_GROUP_ID=second",
        "TEST_GROUP_INSTANCE_COUNT=3",
        "TEST_GROUP_SEQ=1",
        "TEST_INSTANCE_COUNT=5",
        "TEST_INSTANCE_PARAMS=mode=slow|size=4",
        "TEST_PLAN=program",
        "TEST_SEED=0",
        "TEST_SUBNET=16.0.0.0/4",
        r#"args=["program", "--id", "3", "g1", "${NOT_OURS}"]"#,
    ] {
        assert!(stdout.lines().any(|l| l == line), "no line {line:?} in:\n{stdout}");
    }
    assert!(stdout.contains("TEST_RUN="), "{stdout}");
    let first = std::fs::read_to_string(out_dir.join("instances/0/stdout.log")).unwrap();
    assert!(first.contains("TEST_INSTANCE_PARAMS=mode=fast\n") && first.contains(r#"args=["program"]"#), "{first}");
    assert_eq!(
        first.lines().filter(|l| l.starts_with("TEST_")).count(),
        11,
        "nothing of the host's environment: {first}"
    );
}

#[test]
fn describe_says_what_a_program_is() {
    let out = tg_wasm(&["describe", program().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.starts_with("program program (a wasi:cli command"), "{said}");
    assert!(said.contains("TEST_GLOBAL_SEQ") && said.contains("exit status"), "{said}");
}

/// Runs `plans/interop`'s composition into `out`.
fn interop(out: &Path) -> Output {
    let composition = plans_dir().join("interop/composition.toml");
    tg_wasm(&["run", "-c", composition.to_str().unwrap(), "--json", "-o", out.to_str().unwrap()])
}

#[test]
fn interop_shows_which_pairings_work_the_same_every_run_and_replay_checks_every_component() {
    let mut digests = Vec::new();
    let scratch = tempdir();
    let mut last = PathBuf::new();
    for run in 0..5 {
        last = scratch.join(format!("run-{run}"));
        let out = interop(&last);
        assert_eq!(out.status.code(), Some(1), "one pairing fails: {}", text(&out.stderr));
        let summary = summary_of(&out);
        for (id, ok, failed) in [
            ("server-v1", 1, 0),
            ("server-v2", 1, 0),
            ("v1-to-v1", 3, 0),
            ("v1-to-v2", 3, 0),
            ("v2-to-v1", 0, 3),
            ("v2-to-v2", 3, 0),
        ] {
            let g = group(&summary, id);
            assert_eq!((g["ok"].as_u64(), g["failed"].as_u64()), (Some(ok), Some(failed)), "{id}: {g}");
        }
        let refused = group(&summary, "v2-to-v1")["reasons"][0]["reason"].as_str().unwrap().to_string();
        assert!(refused.contains("ERR unsupported revision 2; this server speaks 1..=1"), "{refused}");
        digests.push(summary["digest"].as_str().unwrap().to_string());
    }
    assert!(digests.iter().all(|d| *d == digests[0]), "{digests:#?}");

    // run.json names each group's component and keeps a copy of each.
    let recorded: serde_json::Value = serde_json::from_slice(&std::fs::read(last.join("run.json")).unwrap()).unwrap();
    let client = &recorded["groups"][2]["component"];
    assert!(client["path"].as_str().unwrap().ends_with("client.wasm"), "{client}");
    let copy = last.join(client["copy"].as_str().unwrap());
    assert!(copy.is_file());

    let replayed = tg_wasm(&["replay", last.to_str().unwrap()]);
    assert_eq!(replayed.status.code(), Some(0), "{}\n{}", text(&replayed.stdout), text(&replayed.stderr));
    assert!(text(&replayed.stdout).contains("reproduced"), "{}", text(&replayed.stdout));

    // Another client than the one that ran: the replay proves nothing, so it is refused.
    let mut bytes = std::fs::read(&copy).unwrap();
    bytes.extend_from_slice(&[0, 4, 3, b'x', b'y', b'z']); // a custom section: still a valid component
    std::fs::write(&copy, bytes).unwrap();
    let refused = tg_wasm(&["replay", last.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused.stderr));
    assert!(text(&refused.stderr).contains("group \"v1-to-v1\"'s component"), "{}", text(&refused.stderr));
}

#[test]
fn group_components_and_arguments_refuse_what_cannot_be() {
    let dir = tempdir();
    let cases = [
        (
            // Arguments are a program's; a plan takes parameters.
            format!(
                "[global]\nplan = {:?}\ncase = \"ok\"\n[[groups]]\nid = \"a\"\ninstances = {{ count = 1 }}\nrun = {{ args = [\"-v\"] }}\n",
                support::plan("placebo").path
            ),
            "takes parameters (params), not arguments",
        ),
        (
            format!(
                "[global]\ncase = \"ok\"\n[[groups]]\nid = \"a\"\nplan = {:?}\ninstances = {{ count = 1 }}\n[[groups]]\nid = \"b\"\ninstances = {{ count = 1 }}\n",
                program()
            ),
            "[global] has no plan",
        ),
        (
            format!(
                "[global]\ncase = \"ok\"\n[[groups]]\nid = \"a\"\nplan = {:?}\ninstances = {{ count = 1 }}\n",
                dir.join("missing.wasm")
            ),
            "missing.wasm",
        ),
    ];
    for (i, (composition, needle)) in cases.iter().enumerate() {
        let file = dir.join(format!("c{i}.toml"));
        std::fs::write(&file, composition).unwrap();
        let out = tg_wasm(&["run", "-c", file.to_str().unwrap(), "-o", dir.join(format!("r{i}")).to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{composition}\n{}", text(&out.stderr));
        assert!(text(&out.stderr).contains(needle), "{needle}: {}", text(&out.stderr));
    }
}
