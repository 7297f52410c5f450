//! Compositions: groups of different sizes and params in one run.

mod support;

use std::process::Command;
use support::{plan, tempdir};

#[test]
fn two_groups_get_their_own_sizes_params_and_seqs() {
    let placebo = plan("placebo");
    let dir = tempdir();
    let file = dir.join("two.toml");
    std::fs::write(
        &file,
        format!(
            "[metadata]\nname = \"two\"\n[global]\nplan = {:?}\ncase = \"identity\"\ntotal_instances = 10\nparams = {{ label = \"global\" }}\n\
             [[groups]]\nid = \"small\"\ninstances = {{ count = 3 }}\nparams = {{ label = \"s\" }}\n\
             [[groups]]\nid = \"large\"\ninstances = {{ percentage = 0.7 }}\n",
            placebo.path
        ),
    )
    .unwrap();
    let out_dir = dir.join("run");
    let out = Command::new(env!("CARGO_BIN_EXE_tg-wasm"))
        .args(["run", "--composition", file.to_str().unwrap(), "--json", "-o", out_dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let groups = summary["groups"].as_array().unwrap();
    assert_eq!((groups[0]["id"].as_str(), groups[0]["ok"].as_u64()), (Some("small"), Some(3)));
    assert_eq!((groups[1]["id"].as_str(), groups[1]["ok"].as_u64()), (Some("large"), Some(7)));
    for global in 0..10 {
        let line = std::fs::read_to_string(out_dir.join(format!("instances/{global}/stdout.log"))).unwrap();
        let expected = if global < 3 {
            format!("group=small group_seq={global} group_count=3 global_seq={global} total=10 label=s\n")
        } else {
            format!("group=large group_seq={} group_count=7 global_seq={global} total=10 label=global\n", global - 3)
        };
        assert_eq!(line, expected);
    }
}

#[test]
fn malformed_composition_is_bad_input_naming_the_place() {
    let dir = tempdir();
    let file = dir.join("bad.toml");
    let cases = [
        (
            "[global]\nplan = \"p.wasm\"\ncase = \"c\"\nflavour = 1\n[[groups]]\nid = \"g\"\ninstances = { count = 1 }\n",
            "unknown field `flavour`",
        ),
        (
            "[global]\nplan = \"p.wasm\"\ncase = \"c\"\n[[groups]]\nid = \"g\"\ninstances = { count = 0 }\n",
            "group \"g\": instances.count must be between 1 and 4294967295",
        ),
    ];
    for (text, needle) in cases {
        std::fs::write(&file, text).unwrap();
        let out =
            Command::new(env!("CARGO_BIN_EXE_tg-wasm")).args(["run", "-c", file.to_str().unwrap()]).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(needle) && stderr.contains("bad.toml"), "{stderr}");
    }
}

/// Runs placebo `sleep` as one group `g` with the TOML inline table `params`;
/// returns stderr after checking the run was refused with exit 2 and one line.
fn refused_group_params(params: &str) -> String {
    let placebo = plan("placebo");
    let dir = tempdir();
    let file = dir.join("params.toml");
    std::fs::write(
        &file,
        format!(
            "[global]\nplan = {:?}\ncase = \"sleep\"\n[[groups]]\nid = \"g\"\ninstances = {{ count = 1 }}\nparams = {params}\n",
            placebo.path
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tg-wasm"))
        .args(["run", "-c", file.to_str().unwrap(), "-o", dir.join("r").to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    stderr
}

#[test]
fn a_group_param_of_the_wrong_type_is_bad_input() {
    let stderr = refused_group_params("{ duration = \"soon\" }");
    assert!(stderr.contains("group \"g\": parameter \"duration\" must be of type duration"), "{stderr}");
}

#[test]
fn an_unknown_group_param_is_bad_input_listing_the_valid_ones() {
    let stderr = refused_group_params("{ durration = \"1s\" }");
    assert!(stderr.contains("group \"g\": unknown parameter \"durration\""), "{stderr}");
    assert!(stderr.contains("valid parameters: duration (duration)"), "{stderr}");
}

#[test]
fn a_group_id_longer_than_any_format_width_runs_and_is_summarized() {
    let placebo = plan("placebo");
    let dir = tempdir();
    let file = dir.join("long.toml");
    let id = "g".repeat(70_000);
    std::fs::write(
        &file,
        format!(
            "[global]\nplan = {:?}\ncase = \"ok\"\n[[groups]]\nid = \"{id}\"\ninstances = {{ count = 2 }}\n",
            placebo.path
        ),
    )
    .unwrap();
    let out_dir = dir.join("run");
    let out = Command::new(env!("CARGO_BIN_EXE_tg-wasm"))
        .args(["run", "--composition", file.to_str().unwrap(), "-o", out_dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.lines().any(|l| l.starts_with(&id) && l.split_whitespace().nth(1) == Some("2")), "{stdout:.300}");
}

#[test]
fn names_with_control_characters_stay_on_their_line_of_the_summary() {
    // A group id (here) or a plan's failure message or metric name may hold a
    // line break or the escape that clears a terminal: the summary shows them
    // escaped, on their line, and the JSON summary keeps them whole.
    let placebo = plan("placebo");
    let dir = tempdir();
    let file = dir.join("evil.toml");
    std::fs::write(
        &file,
        format!(
            "[global]\nplan = {:?}\ncase = \"one-panics\"\n[[groups]]\nid = \"evil\\u001b[2J\\nnext\"\ninstances = {{ count = 2 }}\n",
            placebo.path
        ),
    )
    .unwrap();
    let run = |json: bool| {
        let out_dir = dir.join(if json { "json" } else { "text" });
        let mut args = vec!["run", "--composition", file.to_str().unwrap(), "-o", out_dir.to_str().unwrap()];
        args.extend(json.then_some("--json"));
        Command::new(env!("CARGO_BIN_EXE_tg-wasm")).args(&args).output().unwrap()
    };
    let text = run(false);
    assert_eq!(text.status.code(), Some(1), "{}", String::from_utf8_lossy(&text.stderr));
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(!stdout.contains('\u{1b}') && !stdout.contains("\nnext"), "{stdout}");
    let escaped = r"evil\u{1b}[2J\nnext";
    let row: Vec<&str> =
        stdout.lines().find(|l| l.starts_with(escaped)).expect("the group's row").split_whitespace().collect();
    assert_eq!(row, [escaped, "0", "0", "1", "1", "2"], "{stdout}");
    assert!(stdout.lines().any(|l| l.starts_with(&format!("  {escaped}: 1 × crashed"))), "{stdout}");
    assert!(stdout.contains(&format!("({escaped}:0/2)")), "{stdout}");
    let json = run(true);
    let summary: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(summary["groups"][0]["id"], "evil\u{1b}[2J\nnext");
}
