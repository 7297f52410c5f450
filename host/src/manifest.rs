//! A plan's manifest as the host uses it: what `describe` returned, in plain types.

use crate::bindings::types;
use serde::Serialize;

/// The plan's name and test cases.
#[derive(Clone, Debug, Serialize)]
pub struct Manifest {
    /// Plan name.
    pub name: String,
    /// Its test cases, in declaration order.
    pub test_cases: Vec<TestCaseSpec>,
}

/// One test case.
#[derive(Clone, Debug, Serialize)]
pub struct TestCaseSpec {
    /// Case name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// Fewest instances it supports.
    pub min_instances: u32,
    /// Most instances it supports.
    pub max_instances: u32,
    /// Its parameters.
    pub params: Vec<ParamSpec>,
}

/// One parameter.
#[derive(Clone, Debug, Serialize)]
pub struct ParamSpec {
    /// Name.
    pub name: String,
    /// Type, as in the WIT `param-type` (`string`, `int`, `float`, `bool`, `duration`, `size`, `json`).
    #[serde(rename = "type")]
    pub kind: ParamKind,
    /// Default value; `None` makes it required.
    pub default: Option<String>,
    /// What it means.
    pub description: String,
    /// Its unit, if any.
    pub unit: Option<String>,
}

/// How a parameter's value is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamKind {
    /// Any text.
    String,
    /// A signed integer.
    Int,
    /// A float.
    Float,
    /// `true` or `false`.
    Bool,
    /// A number with a time unit: `250ms`, `1.5s`, `2m`, `1h`.
    Duration,
    /// A byte count with an optional unit: `512`, `64KiB`, `1MB`.
    Size,
    /// A JSON document.
    Json,
}

impl ParamKind {
    /// The type's name as users write it.
    pub fn as_str(self) -> &'static str {
        match self {
            ParamKind::String => "string",
            ParamKind::Int => "int",
            ParamKind::Float => "float",
            ParamKind::Bool => "bool",
            ParamKind::Duration => "duration",
            ParamKind::Size => "size",
            ParamKind::Json => "json",
        }
    }
}

impl From<types::ParamType> for ParamKind {
    fn from(t: types::ParamType) -> ParamKind {
        match t {
            types::ParamType::String => ParamKind::String,
            types::ParamType::Int => ParamKind::Int,
            types::ParamType::Float => ParamKind::Float,
            types::ParamType::Bool => ParamKind::Bool,
            types::ParamType::Duration => ParamKind::Duration,
            types::ParamType::Size => ParamKind::Size,
            types::ParamType::Json => ParamKind::Json,
        }
    }
}

impl From<types::Manifest> for Manifest {
    fn from(m: types::Manifest) -> Manifest {
        Manifest {
            name: m.name,
            test_cases: m
                .test_cases
                .into_iter()
                .map(|c| TestCaseSpec {
                    name: c.name,
                    description: c.description,
                    min_instances: c.instances.min,
                    max_instances: c.instances.max,
                    params: c
                        .params
                        .into_iter()
                        .map(|p| ParamSpec {
                            name: p.name,
                            kind: p.type_.into(),
                            default: p.default,
                            description: p.description,
                            unit: p.unit,
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

impl Manifest {
    /// The test case called `name`.
    pub fn case(&self, name: &str) -> Option<&TestCaseSpec> {
        self.test_cases.iter().find(|c| c.name == name)
    }

    /// The names of all test cases, comma-separated.
    pub fn case_names(&self) -> String {
        self.test_cases.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
    }

    /// A human-readable description of the plan, for `tg-wasm describe`.
    pub fn render(&self) -> String {
        use crate::text::terminal;
        use std::fmt::Write as _;
        let mut out = format!("plan {}\n", terminal(&self.name));
        for c in &self.test_cases {
            let _ =
                writeln!(out, "\n  case {} ({}..={} instances)", terminal(&c.name), c.min_instances, c.max_instances);
            if !c.description.is_empty() {
                let _ = writeln!(out, "    {}", terminal(&c.description));
            }
            for p in &c.params {
                let default = p.default.as_deref().map_or("required".to_string(), |d| format!("default {d}"));
                let unit = p.unit.as_deref().map(|u| format!(" [{u}]")).unwrap_or_default();
                let line = format!("--param {}=<{}>{unit}  ({default})  {}", p.name, p.kind.as_str(), p.description);
                let _ = writeln!(out, "    {}", terminal(&line));
            }
        }
        out
    }
}
