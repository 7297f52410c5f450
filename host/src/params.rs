//! Run parameters: parsing `name=value`, checking them against the manifest,
//! applying defaults.
//!
//! Value syntaxes come from the `tg-units` crate, which the guest SDK reads them with,
//! so a value the host accepts is one the plan can read.

use crate::error::InputError;
use crate::manifest::{ParamKind, TestCaseSpec};
use std::collections::BTreeMap;
use std::time::Duration;

/// Parses `name=value` as given on the command line.
pub fn parse_assignment(text: &str) -> Result<(String, String), InputError> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => Ok((name.trim().to_string(), value.to_string())),
        _ => Err(InputError::new(format!("parameter {text:?} is not of the form name=value"))),
    }
}

/// Parses a duration as plans read it (Go's `time.ParseDuration` syntax: `250ms`,
/// `1.5s`, `1h30m`); see [`tg_units::parse_duration`].
pub fn parse_duration(text: &str) -> Option<Duration> {
    tg_units::parse_duration(text).ok()
}

/// Parses a byte size as plans read it (`512`, `64KiB`, `1MB`); see [`tg_units::parse_size`].
pub fn parse_size(text: &str) -> Option<u64> {
    tg_units::parse_size(text).ok()
}

/// Whether `value` reads as `kind`.
pub fn value_fits(kind: ParamKind, value: &str) -> bool {
    match kind {
        ParamKind::String => true,
        ParamKind::Int => value.trim().parse::<i64>().is_ok(),
        ParamKind::Float => value.trim().parse::<f64>().is_ok(),
        ParamKind::Bool => tg_units::parse_bool(value).is_ok(),
        ParamKind::Duration => parse_duration(value).is_some(),
        ParamKind::Size => parse_size(value).is_some(),
        ParamKind::Json => serde_json::from_str::<serde_json::Value>(value).is_ok(),
    }
}

/// Checks `given` against `case`'s parameters and fills in defaults; `place`
/// names where the values came from, for messages (e.g. `--param`, `group "a"`).
pub fn resolve(
    case: &TestCaseSpec,
    given: &BTreeMap<String, String>,
    place: &str,
) -> Result<Vec<(String, String)>, InputError> {
    let valid = || {
        if case.params.is_empty() {
            "it takes no parameters".to_string()
        } else {
            let list: Vec<String> = case.params.iter().map(|p| format!("{} ({})", p.name, p.kind.as_str())).collect();
            format!("valid parameters: {}", list.join(", "))
        }
    };
    for name in given.keys() {
        if !case.params.iter().any(|p| &p.name == name) {
            return Err(InputError::new(format!(
                "{place}: unknown parameter {name:?} for test case {:?}; {}",
                case.name,
                valid()
            )));
        }
    }
    let mut resolved = Vec::with_capacity(case.params.len());
    for spec in &case.params {
        let value = match (given.get(&spec.name), &spec.default) {
            (Some(v), _) => v.clone(),
            (None, Some(d)) => d.clone(),
            (None, None) => {
                return Err(InputError::new(format!(
                    "{place}: test case {:?} requires parameter {:?} ({}); set it with --param {}=<value>",
                    case.name,
                    spec.name,
                    spec.kind.as_str(),
                    spec.name
                )));
            }
        };
        if spec.kind == ParamKind::Duration
            && let Err(e) = tg_units::parse_duration(&value)
            && e.is_out_of_range()
        {
            // Well written, too long: examples of the syntax would not help.
            return Err(InputError::new(format!("{place}: parameter {:?}: {e}", spec.name)));
        }
        if !value_fits(spec.kind, &value) {
            return Err(InputError::new(format!(
                "{place}: parameter {:?} must be of type {} (e.g. {}), got {value:?}",
                spec.name,
                spec.kind.as_str(),
                example(spec.kind)
            )));
        }
        resolved.push((spec.name.clone(), value));
    }
    resolved.sort();
    Ok(resolved)
}

fn example(kind: ParamKind) -> &'static str {
    match kind {
        ParamKind::String => "text",
        ParamKind::Int => "42",
        ParamKind::Float => "0.5",
        ParamKind::Bool => "true",
        ParamKind::Duration => "250ms, 1.5s, 2m, 1h",
        ParamKind::Size => "512, 64KiB, 1MB",
        ParamKind::Json => "{\"a\": 1}",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::ParamSpec;

    fn case() -> TestCaseSpec {
        let p = |name: &str, kind, default: Option<&str>| ParamSpec {
            name: name.into(),
            kind,
            default: default.map(Into::into),
            description: String::new(),
            unit: None,
        };
        TestCaseSpec {
            name: "c".into(),
            description: String::new(),
            min_instances: 1,
            max_instances: 10,
            params: vec![p("n", ParamKind::Int, Some("3")), p("wait", ParamKind::Duration, None)],
        }
    }

    #[test]
    fn durations_and_sizes_parse() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("5"), None, "a duration needs a unit");
        assert_eq!(parse_duration("5 parsecs"), None);
        assert_eq!(parse_size("64KiB"), Some(65536));
        assert_eq!(parse_size("1MB"), Some(1_000_000));
        assert_eq!(parse_size("512"), Some(512));
        assert_eq!(parse_size("lots"), None);
    }

    #[test]
    fn host_accepts_what_plans_can_read() {
        // Forms the guest SDK reads (Go's syntax) must pass validation too.
        assert!(value_fits(ParamKind::Duration, "1h30m"));
        assert!(value_fits(ParamKind::Duration, "1.1s"));
        assert!(value_fits(ParamKind::Bool, "1"));
        assert!(value_fits(ParamKind::Bool, "F"));
        assert!(!value_fits(ParamKind::Bool, "yes"));
        assert_eq!(parse_duration("1.1s"), Some(Duration::from_nanos(1_100_000_000)));
    }

    #[test]
    fn resolve_applies_defaults_and_rejects_bad_input() {
        let mut given = BTreeMap::new();
        given.insert("wait".to_string(), "2s".to_string());
        assert_eq!(
            resolve(&case(), &given, "--param").unwrap(),
            vec![("n".into(), "3".into()), ("wait".into(), "2s".into())]
        );
        let err = resolve(&case(), &BTreeMap::new(), "--param").unwrap_err().message().to_string();
        assert!(err.contains("requires parameter \"wait\""), "{err}");
        given.insert("bogus".into(), "1".into());
        let err = resolve(&case(), &given, "--param").unwrap_err().message().to_string();
        assert!(err.contains("unknown parameter \"bogus\"") && err.contains("n (int)"), "{err}");
        given.remove("bogus");
        given.insert("n".into(), "three".into());
        let err = resolve(&case(), &given, "--param").unwrap_err().message().to_string();
        assert!(err.contains("must be of type int"), "{err}");
        given.insert("n".into(), "3".into());
        // A duration past what virtual time counts would wrap in the plan's libc.
        given.insert("wait".into(), "100000000h".into());
        let err = resolve(&case(), &given, "--param").unwrap_err().message().to_string();
        assert!(err.contains("\"wait\"") && err.contains("about 584 years"), "{err}");
    }

    #[test]
    fn assignments_need_an_equals_sign() {
        assert_eq!(parse_assignment("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert!(parse_assignment("nope").is_err());
        assert!(parse_assignment("=x").is_err());
    }
}
