//! The library's layers point one way (see `src/lib.rs`): a module may name
//! what sits in its own layer or below, never above. Read from the sources'
//! `crate::` paths, so a cycle between the run, the report and the metrics
//! model — or any import that climbs — fails here before it settles in.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Each top-level module of the library and its layer, from the top.
const LAYERS: &[(&str, u8)] = &[
    ("replay", 8),
    ("session", 7),
    ("composition", 7),
    ("testground", 7),
    ("outputs", 6),
    ("report", 5),
    ("run", 4),
    ("instance", 3),
    ("wasi", 3),
    ("plan", 3),
    ("bindings", 3),
    ("engine", 3),
    ("component", 3),
    ("manifest", 3),
    ("params", 3),
    ("builder", 3),
    ("scaffold", 3),
    ("sync", 3),
    ("shard", 3),
    ("metrics", 2),
    ("divergence", 2),
    ("limits", 2),
    ("error", 1),
    ("files", 1),
    ("text", 1),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules `text` names through `crate::`, outside comments.
fn named_modules(text: &str) -> Vec<String> {
    let mut named = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            named.push(name);
        }
        // `use crate::{a, b}` names several at once.
        if let Some(list) = code.trim().strip_prefix("use crate::{") {
            for item in list.split(',') {
                let name: String = item.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                named.push(name);
            }
        }
    }
    named.retain(|n| !n.is_empty());
    named
}

#[test]
fn no_module_names_a_layer_above_its_own() {
    let layers: BTreeMap<&str, u8> = LAYERS.iter().copied().collect();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut climbing = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        let top = relative.components().next().unwrap().as_os_str().to_string_lossy();
        let top = top.trim_end_matches(".rs");
        if matches!(top, "lib" | "main" | "cli") {
            continue;
        }
        let own = *layers.get(top).unwrap_or_else(|| panic!("src/{top} is in no layer: add it to LAYERS"));
        let text = std::fs::read_to_string(&file).unwrap();
        for named in named_modules(&text) {
            let Some(&theirs) = layers.get(named.as_str()) else { continue };
            if theirs > own {
                climbing
                    .push(format!("src/{} (layer {own}) names crate::{named} (layer {theirs})", relative.display()));
            }
        }
    }
    climbing.sort();
    climbing.dedup();
    assert!(climbing.is_empty(), "imports that climb:\n{}", climbing.join("\n"));
}

#[test]
fn a_climbing_import_is_found() {
    assert_eq!(
        named_modules("use crate::report::html;\nlet x = crate::run::Run::prepare(s, 1); // crate::outputs"),
        ["report", "run"]
    );
    assert_eq!(named_modules("use crate::{files, text::num};"), ["files", "text"]);
}
