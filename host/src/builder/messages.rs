//! Cargo's JSON messages from a plan build: the artifacts it made, and
//! rustc's diagnostics, shown as Cargo would show them as they come.
//!
//! The builder asks Cargo for JSON rather than rendered diagnostics for one
//! reason: a libp2p plan builds with `-Ctarget-feature=+wide-arithmetic`, on
//! purpose and explained where it is set, and rustc answers that flag with a
//! warning that the feature is unstable in every crate of the plan's own, on
//! every build (Cargo replays a local crate's warnings even when it is
//! fresh): nine lines before every `tg-wasm run` of such a plan. That
//! warning, for the target features tg-wasm's engine enables, is the only
//! thing left out; every other diagnostic is shown once, as Cargo shows it
//! (Cargo too shows a diagnostic repeated by another crate only once).

use std::collections::HashSet;
use std::io::{BufRead, Write};

/// Target features a plan may ask rustc for that rustc calls unstable and
/// tg-wasm's engine enables (see `engine.rs`).
const ENGINE_FEATURES: &[&str] = &["wide-arithmetic"];

/// What the builder keeps of Cargo's messages once the diagnostics are shown.
#[derive(Debug, Default)]
pub(super) struct Relayed {
    /// The `compiler-artifact` messages: what was built, and where.
    pub artifacts: Vec<serde_json::Value>,
    /// The `build-script-executed` messages: among them, the cfgs build
    /// scripts chose (see [`super::advice`]).
    pub build_scripts: Vec<serde_json::Value>,
}

/// Shows the diagnostics among Cargo's `messages` on `shown_to` as they come
/// and returns the messages about what was built.
pub(super) fn relay(messages: impl BufRead, shown_to: &mut impl Write) -> Relayed {
    let mut relayed = Relayed::default();
    let mut shown = HashSet::new();
    for line in messages.lines().map_while(Result::ok) {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
        match message["reason"].as_str() {
            Some("compiler-artifact") => relayed.artifacts.push(message),
            Some("build-script-executed") => relayed.build_scripts.push(message),
            Some("compiler-message") => {
                let diagnostic = &message["message"];
                let Some(rendered) = diagnostic["rendered"].as_str() else { continue };
                if is_engine_feature_warning(diagnostic) || !shown.insert(rendered.to_string()) {
                    continue;
                }
                // A closed stderr loses the text, not the build.
                let _ = shown_to.write_all(rendered.as_bytes()).and_then(|()| shown_to.flush());
            }
            _ => {}
        }
    }
    relayed
}

/// Whether `diagnostic` is rustc's warning that a target feature tg-wasm's
/// engine enables is unstable.
fn is_engine_feature_warning(diagnostic: &serde_json::Value) -> bool {
    let text = diagnostic["message"].as_str().unwrap_or_default();
    diagnostic["level"] == "warning"
        && text
            .strip_prefix("unstable feature specified for `-Ctarget-feature`: ")
            .is_some_and(|feature| ENGINE_FEATURES.iter().any(|f| feature.trim_matches('`') == *f))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn diagnostic(level: &str, message: &str, rendered: &str) -> String {
        json!({"reason": "compiler-message", "message": {"level": level, "message": message, "rendered": rendered}})
            .to_string()
    }

    #[test]
    fn diagnostics_are_shown_once_each_and_artifacts_and_build_scripts_returned() {
        let unused = diagnostic("warning", "unused variable: `x`", "warning: unused variable: `x`\n");
        let error = diagnostic("error", "mismatched types", "error[E0308]: mismatched types\n");
        let artifact = json!({"reason": "compiler-artifact", "target": {"name": "plan"}}).to_string();
        let script = json!({"reason": "build-script-executed", "cfgs": ["x"]}).to_string();
        let input =
            [unused.as_str(), "not json", &artifact, &unused, &script, &error, r#"{"reason":"build-finished"}"#];
        let mut shown = Vec::new();
        let Relayed { artifacts, build_scripts } = relay(input.join("\n").as_bytes(), &mut shown);
        assert_eq!(
            String::from_utf8(shown).unwrap(),
            "warning: unused variable: `x`\nerror[E0308]: mismatched types\n"
        );
        assert_eq!(artifacts, vec![serde_json::from_str::<serde_json::Value>(&artifact).unwrap()]);
        assert_eq!(build_scripts, vec![serde_json::from_str::<serde_json::Value>(&script).unwrap()]);
    }

    #[test]
    fn only_the_unstable_warning_of_a_feature_the_engine_enables_is_left_out() {
        let ours = "unstable feature specified for `-Ctarget-feature`: `wide-arithmetic`";
        let other = "unstable feature specified for `-Ctarget-feature`: `gc`";
        let input = [
            diagnostic("warning", ours, "warning: wide\n"),
            diagnostic("warning", other, "warning: gc\n"),
            diagnostic("error", ours, "error: wide\n"),
        ];
        let mut shown = Vec::new();
        relay(input.join("\n").as_bytes(), &mut shown);
        assert_eq!(String::from_utf8(shown).unwrap(), "warning: gc\nerror: wide\n");
    }
}
