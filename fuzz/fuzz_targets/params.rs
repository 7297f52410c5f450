//! Parameter values come from the command line, composition files and plan
//! manifests. Parsing any of them must never panic, numbers that are exact in
//! `f64` must parse exactly, and whatever `resolve` accepts must be readable as
//! its declared type.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;
use std::time::Duration;
use tg_wasm::manifest::{ParamKind, ParamSpec, TestCaseSpec};
use tg_wasm::params::{parse_assignment, parse_duration, parse_size, resolve, value_fits};

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Kind {
    String,
    Int,
    Float,
    Bool,
    Duration,
    Size,
    Json,
}

impl From<Kind> for ParamKind {
    fn from(k: Kind) -> ParamKind {
        match k {
            Kind::String => ParamKind::String,
            Kind::Int => ParamKind::Int,
            Kind::Float => ParamKind::Float,
            Kind::Bool => ParamKind::Bool,
            Kind::Duration => ParamKind::Duration,
            Kind::Size => ParamKind::Size,
            Kind::Json => ParamKind::Json,
        }
    }
}

const DURATION_UNITS: [(&str, u64); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("d", 86_400_000_000_000),
];

const SIZE_UNITS: [(&str, u64); 11] = [
    ("", 1),
    ("B", 1),
    ("KB", 1_000),
    ("kB", 1_000),
    ("KiB", 1 << 10),
    ("MB", 1_000_000),
    ("MiB", 1 << 20),
    ("GB", 1_000_000_000),
    ("GiB", 1 << 30),
    ("TB", 1_000_000_000_000),
    ("TiB", 1 << 40),
];

/// A value as text: either anything at all, or shaped like what the parsers
/// expect so that the fuzzer reaches past the first character.
#[derive(Arbitrary, Debug, Clone)]
enum Value {
    Raw(String),
    Duration { n: u64, unit: u8, frac: Option<u16>, space: bool },
    Size { n: u64, unit: u8, frac: Option<u16>, space: bool },
    Int(i64),
    Float(f64),
    Bool(bool),
    Json(String),
}

impl Value {
    fn text(&self) -> String {
        let number = |n: u64, frac: Option<u16>| match frac {
            Some(f) => format!("{n}.{f}"),
            None => n.to_string(),
        };
        match self {
            Value::Raw(s) => s.clone(),
            Value::Duration { n, unit, frac, space } => {
                let (u, _) = DURATION_UNITS[usize::from(*unit) % DURATION_UNITS.len()];
                format!("{}{}{u}", number(*n, *frac), if *space { " " } else { "" })
            }
            Value::Size { n, unit, frac, space } => {
                let (u, _) = SIZE_UNITS[usize::from(*unit) % SIZE_UNITS.len()];
                format!("{}{}{u}", number(*n, *frac), if *space { " " } else { "" })
            }
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Json(s) => serde_json_string(s),
        }
    }
}

/// `s` as a JSON string literal, built by hand so the target needs no JSON crate of its own.
fn serde_json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[derive(Arbitrary, Debug)]
struct Param {
    name: String,
    kind: Kind,
    default: Option<Value>,
}

#[derive(Arbitrary, Debug)]
enum Name {
    /// One of the case's parameters (by index, modulo their number).
    Declared(u8),
    /// Anything, most likely unknown to the case.
    Other(String),
}

#[derive(Arbitrary, Debug)]
struct Input {
    assignments: Vec<String>,
    texts: Vec<Value>,
    params: Vec<Param>,
    given: Vec<(Name, Value)>,
}

/// Exact expectations for a number and unit whose product `f64` holds exactly.
fn check_exact(value: &Value) {
    const EXACT: u64 = 1 << 53;
    match *value {
        Value::Duration { n, unit, frac: None, .. } => {
            let (_, factor) = DURATION_UNITS[usize::from(unit) % DURATION_UNITS.len()];
            if let Some(nanos) = n.checked_mul(factor).filter(|&x| x < EXACT) {
                assert_eq!(parse_duration(&value.text()), Some(Duration::from_nanos(nanos)), "{value:?}");
            }
        }
        Value::Size { n, unit, frac: None, .. } => {
            let (_, factor) = SIZE_UNITS[usize::from(unit) % SIZE_UNITS.len()];
            if let Some(bytes) = n.checked_mul(factor).filter(|&x| x < EXACT) {
                assert_eq!(parse_size(&value.text()), Some(bytes), "{value:?}");
            }
        }
        _ => {}
    }
}

fuzz_target!(|input: Input| {
    for text in &input.assignments {
        if let Ok((name, value)) = parse_assignment(text) {
            assert!(!name.is_empty() && name == name.trim());
            let (raw_name, raw_value) = text.split_once('=').expect("an assignment has '='");
            assert_eq!(raw_name.trim(), name);
            assert_eq!(raw_value, value);
        }
    }
    for value in &input.texts {
        let text = value.text();
        let d = parse_duration(&text);
        let s = parse_size(&text);
        assert_eq!(value_fits(ParamKind::Duration, &text), d.is_some());
        assert_eq!(value_fits(ParamKind::Size, &text), s.is_some());
        check_exact(value);
    }

    let params: Vec<ParamSpec> = input
        .params
        .iter()
        .map(|p| ParamSpec {
            name: p.name.clone(),
            kind: p.kind.into(),
            default: p.default.as_ref().map(Value::text),
            description: String::new(),
            unit: None,
        })
        .collect();
    let case =
        TestCaseSpec { name: "case".into(), description: String::new(), min_instances: 1, max_instances: 1, params };
    let mut given = BTreeMap::new();
    for (name, value) in &input.given {
        let name = match name {
            Name::Declared(i) if !case.params.is_empty() => {
                case.params[usize::from(*i) % case.params.len()].name.clone()
            }
            Name::Declared(_) => continue,
            Name::Other(s) => s.clone(),
        };
        given.insert(name, value.text());
    }
    if let Ok(resolved) = resolve(&case, &given, "--param") {
        assert_eq!(resolved.len(), case.params.len());
        for name in given.keys() {
            assert!(case.params.iter().any(|p| &p.name == name), "unknown {name:?} accepted");
        }
        for (name, value) in &resolved {
            let spec = case.params.iter().find(|p| &p.name == name).expect("resolved names are declared");
            let fits = case.params.iter().filter(|p| &p.name == name).any(|p| value_fits(p.kind, value));
            assert!(fits, "{name:?} = {value:?} does not read as {:?}", spec.kind);
            match given.get(name) {
                Some(v) => assert_eq!(v, value, "a given value is kept as given"),
                None => assert!(
                    case.params.iter().any(|p| &p.name == name && p.default.as_deref() == Some(value.as_str())),
                    "a missing value takes its default"
                ),
            }
        }
    }
});
