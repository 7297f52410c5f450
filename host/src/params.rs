//! Run parameters: parsing `name=value`, checking them against the manifest,
//! applying defaults.
//!
//! The value syntaxes match the guest SDK's accessors, so a value the host
//! accepts is one the plan can read.

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

/// Parses a duration: a decimal number and a unit (`ns`, `us`, `ms`, `s`, `m`, `h`, `d`).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    let nanos_per_unit = match unit.trim() {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" => 60e9,
        "h" => 3600e9,
        "d" => 86400e9,
        _ => return None,
    };
    let nanos = value * nanos_per_unit;
    (nanos.is_finite() && nanos >= 0.0 && nanos < u64::MAX as f64).then(|| Duration::from_nanos(nanos as u64))
}

/// Parses a byte size: a number with an optional unit (`B`, `KB`, `KiB`, `MB`, `MiB`, `GB`, `GiB`, `TB`, `TiB`).
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    let factor = match unit.trim() {
        "" | "B" => 1.0,
        "KB" | "kB" => 1e3,
        "KiB" => 1024.0,
        "MB" => 1e6,
        "MiB" => 1024.0 * 1024.0,
        "GB" => 1e9,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "TB" => 1e12,
        "TiB" => 1024.0f64.powi(4),
        _ => return None,
    };
    let bytes = value * factor;
    (bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

/// Whether `value` reads as `kind`.
pub fn value_fits(kind: ParamKind, value: &str) -> bool {
    match kind {
        ParamKind::String => true,
        ParamKind::Int => value.trim().parse::<i64>().is_ok(),
        ParamKind::Float => value.trim().parse::<f64>().is_ok(),
        ParamKind::Bool => matches!(value.trim(), "true" | "false"),
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
    fn resolve_applies_defaults_and_rejects_bad_input() {
        let mut given = BTreeMap::new();
        given.insert("wait".to_string(), "2s".to_string());
        assert_eq!(
            resolve(&case(), &given, "--param").unwrap(),
            vec![("n".into(), "3".into()), ("wait".into(), "2s".into())]
        );
        let err = resolve(&case(), &BTreeMap::new(), "--param").unwrap_err().0;
        assert!(err.contains("requires parameter \"wait\""), "{err}");
        given.insert("bogus".into(), "1".into());
        let err = resolve(&case(), &given, "--param").unwrap_err().0;
        assert!(err.contains("unknown parameter \"bogus\"") && err.contains("n (int)"), "{err}");
        given.remove("bogus");
        given.insert("n".into(), "three".into());
        let err = resolve(&case(), &given, "--param").unwrap_err().0;
        assert!(err.contains("must be of type int"), "{err}");
    }

    #[test]
    fn assignments_need_an_equals_sign() {
        assert_eq!(parse_assignment("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert!(parse_assignment("nope").is_err());
        assert!(parse_assignment("=x").is_err());
    }
}
