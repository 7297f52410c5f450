//! What a plan declares about itself: its test cases, their instance bounds and
//! parameters, and the function that runs each case — Testground's
//! `manifest.toml` and `run.InvokeMap` in one value.
//!
//! The builder is pure Rust; turning it into the WIT `manifest` record that
//! `describe` returns is the only place it meets the bindings.
//!
//! Every instance builds the whole manifest to find the case it runs, so
//! names and descriptions given as literals are kept as references to them:
//! building one copies no text, and reads none of the plan's descriptions
//! (pages of its memory image every instance would otherwise hold).

use std::borrow::Cow;
use std::fmt;
use std::ops::RangeInclusive;

use crate::bindings::tg::plan::types as wit;
use crate::runenv::RunEnv;

/// The function that runs one test case.
///
/// It returns `Ok(())` for success; an `Err` fails the instance with the
/// error's message (and its sources) as the reason.
pub type CaseFn = fn(&RunEnv) -> crate::Result<()>;

/// How a parameter's string value is to be read; mirrors the WIT `param-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamType {
    /// Any string.
    String,
    /// A signed 64-bit integer, such as `-3` or `1000`.
    Int,
    /// A 64-bit float, such as `0.25`.
    Float,
    /// `true`/`false` (or `1`/`0`, `t`/`f`, as Go accepts).
    Bool,
    /// A number with a time unit: `250ms`, `1.5s`, `2m`, `1h`, `10us`, `5ns`.
    Duration,
    /// A byte count: `512`, `64KiB`, `1MB`, `2GiB`.
    Size,
    /// A JSON document.
    Json,
}

impl ParamType {
    /// The type's name as the WIT and compositions spell it.
    pub fn name(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Int => "int",
            ParamType::Float => "float",
            ParamType::Bool => "bool",
            ParamType::Duration => "duration",
            ParamType::Size => "size",
            ParamType::Json => "json",
        }
    }
}

impl fmt::Display for ParamType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One parameter a test case accepts.
///
/// ```
/// use tg_sdk::prelude::*;
///
/// let latency = Param::duration("latency", "100ms").describe("one-way link latency");
/// let payload = Param::size("payload", "64KiB").describe("bytes sent per message").unit("bytes");
/// let peer = Param::required("peer", ParamType::String).describe("who to dial");
/// assert_eq!(peer.default_value(), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    name: Cow<'static, str>,
    ty: ParamType,
    default: Option<String>,
    description: Cow<'static, str>,
    unit: Option<Cow<'static, str>>,
}

impl Param {
    /// A parameter of type `ty` whose value is `default` unless the run sets it.
    pub fn new(name: impl Into<Cow<'static, str>>, ty: ParamType, default: impl fmt::Display) -> Self {
        Param { name: name.into(), ty, default: Some(default.to_string()), description: Cow::Borrowed(""), unit: None }
    }

    /// A parameter without a default: a run that does not set it makes reading it panic.
    pub fn required(name: impl Into<Cow<'static, str>>, ty: ParamType) -> Self {
        Param { name: name.into(), ty, default: None, description: Cow::Borrowed(""), unit: None }
    }

    /// A string parameter.
    pub fn string(name: impl Into<Cow<'static, str>>, default: impl fmt::Display) -> Self {
        Param::new(name, ParamType::String, default)
    }

    /// An integer parameter.
    pub fn int(name: impl Into<Cow<'static, str>>, default: impl fmt::Display) -> Self {
        Param::new(name, ParamType::Int, default)
    }

    /// A float parameter.
    pub fn float(name: impl Into<Cow<'static, str>>, default: impl fmt::Display) -> Self {
        Param::new(name, ParamType::Float, default)
    }

    /// A boolean parameter.
    pub fn bool(name: impl Into<Cow<'static, str>>, default: impl fmt::Display) -> Self {
        Param::new(name, ParamType::Bool, default)
    }

    /// A duration parameter; `default` is written like `"250ms"`.
    pub fn duration(name: impl Into<Cow<'static, str>>, default: impl fmt::Display) -> Self {
        Param::new(name, ParamType::Duration, default)
    }

    /// A byte-size parameter; `default` is written like `"64KiB"`.
    pub fn size(name: impl Into<Cow<'static, str>>, default: impl fmt::Display) -> Self {
        Param::new(name, ParamType::Size, default)
    }

    /// A JSON parameter; `default` is a JSON document.
    pub fn json(name: impl Into<Cow<'static, str>>, default: impl fmt::Display) -> Self {
        Param::new(name, ParamType::Json, default)
    }

    /// Sets the description shown by `tg-wasm describe`.
    pub fn describe(mut self, description: impl Into<Cow<'static, str>>) -> Self {
        self.description = description.into();
        self
    }

    /// Sets the unit the value is expressed in, for display.
    pub fn unit(mut self, unit: impl Into<Cow<'static, str>>) -> Self {
        self.unit = Some(unit.into());
        self
    }

    /// The parameter's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The parameter's type.
    pub fn ty(&self) -> ParamType {
        self.ty
    }

    /// The value used when the run does not set the parameter; `None` if it is required.
    pub fn default_value(&self) -> Option<&str> {
        self.default.as_deref()
    }

    /// The parameter's description.
    pub fn description(&self) -> &str {
        &self.description
    }
}

/// One test case: its name, description, instance bounds, parameters, and the
/// function that runs it.
///
/// ```
/// use tg_sdk::prelude::*;
///
/// fn ping(env: &RunEnv) -> tg_sdk::Result<()> {
///     let _count = env.int_param("count");
///     Ok(())
/// }
///
/// let case = TestCase::new("ping", ping)
///     .describe("pings its neighbours")
///     .instances(2..=1000)
///     .param(Param::int("count", 10).describe("pings per neighbour"));
/// assert_eq!(case.name(), "ping");
/// ```
#[derive(Clone)]
pub struct TestCase {
    name: Cow<'static, str>,
    description: Cow<'static, str>,
    instances: RangeInclusive<u32>,
    params: Vec<Param>,
    run: CaseFn,
}

impl TestCase {
    /// A case named `name`, run by `run`, for any number of instances from 1
    /// up, with no parameters.
    pub fn new(name: impl Into<Cow<'static, str>>, run: CaseFn) -> Self {
        TestCase { name: name.into(), description: Cow::Borrowed(""), instances: 1..=u32::MAX, params: Vec::new(), run }
    }

    /// Sets the description shown by `tg-wasm describe`.
    pub fn describe(mut self, description: impl Into<Cow<'static, str>>) -> Self {
        self.description = description.into();
        self
    }

    /// Sets how many instances the case supports, both ends included.
    pub fn instances(mut self, bounds: RangeInclusive<u32>) -> Self {
        self.instances = bounds;
        self
    }

    /// Adds a parameter.
    pub fn param(mut self, param: Param) -> Self {
        self.params.push(param);
        self
    }

    /// The case's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The case's description.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The number of instances the case supports, both ends included.
    pub fn instance_bounds(&self) -> RangeInclusive<u32> {
        self.instances.clone()
    }

    /// The case's parameters, in declaration order.
    pub fn params(&self) -> &[Param] {
        &self.params
    }

    /// The function that runs the case.
    pub fn runner(&self) -> CaseFn {
        self.run
    }
}

impl fmt::Debug for TestCase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestCase")
            .field("name", &self.name)
            .field("description", &self.description)
            .field("instances", &self.instances)
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

/// A plan's name and its test cases: what `describe` returns and what `run`
/// dispatches on.
///
/// ```
/// use tg_sdk::prelude::*;
///
/// fn ok(_env: &RunEnv) -> tg_sdk::Result<()> {
///     Ok(())
/// }
///
/// let manifest = Manifest::new("placebo").case(TestCase::new("ok", ok).describe("succeeds at once"));
/// assert!(manifest.find("ok").is_some());
/// ```
#[derive(Debug, Clone)]
pub struct Manifest {
    name: Cow<'static, str>,
    cases: Vec<TestCase>,
}

impl Manifest {
    /// A manifest for the plan `name`, with no test cases yet.
    pub fn new(name: impl Into<Cow<'static, str>>) -> Self {
        Manifest { name: name.into(), cases: Vec::new() }
    }

    /// Adds a test case.
    pub fn case(mut self, case: TestCase) -> Self {
        self.cases.push(case);
        self
    }

    /// The plan's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The test cases, in declaration order.
    pub fn cases(&self) -> &[TestCase] {
        &self.cases
    }

    /// The test case named `name`.
    pub fn find(&self, name: &str) -> Option<&TestCase> {
        self.cases.iter().find(|case| case.name == name)
    }

    /// The WIT record `describe` returns.
    pub(crate) fn to_wit(&self) -> wit::Manifest {
        wit::Manifest {
            name: self.name.to_string(),
            test_cases: self
                .cases
                .iter()
                .map(|case| wit::TestCaseSpec {
                    name: case.name.to_string(),
                    description: case.description.to_string(),
                    instances: wit::InstanceBounds { min: *case.instances.start(), max: *case.instances.end() },
                    params: case.params.iter().map(Param::to_wit).collect(),
                })
                .collect(),
        }
    }
}

impl Param {
    fn to_wit(&self) -> wit::ParamSpec {
        wit::ParamSpec {
            name: self.name.to_string(),
            type_: match self.ty {
                ParamType::String => wit::ParamType::String,
                ParamType::Int => wit::ParamType::Int,
                ParamType::Float => wit::ParamType::Float,
                ParamType::Bool => wit::ParamType::Bool,
                ParamType::Duration => wit::ParamType::Duration,
                ParamType::Size => wit::ParamType::Size,
                ParamType::Json => wit::ParamType::Json,
            },
            default: self.default.clone(),
            description: self.description.to_string(),
            unit: self.unit.as_deref().map(str::to_string),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nothing(_env: &RunEnv) -> crate::Result<()> {
        Ok(())
    }

    #[test]
    fn manifest_converts_to_wit() {
        let manifest = Manifest::new("p").case(
            TestCase::new("c", nothing)
                .describe("d")
                .instances(2..=9)
                .param(Param::size("s", "1KiB").describe("bytes").unit("B"))
                .param(Param::required("r", ParamType::Json)),
        );
        let wit = manifest.to_wit();
        assert_eq!(wit.name, "p");
        let case = &wit.test_cases[0];
        assert_eq!((case.name.as_str(), case.description.as_str()), ("c", "d"));
        assert_eq!((case.instances.min, case.instances.max), (2, 9));
        assert_eq!(case.params[0].name, "s");
        assert!(matches!(case.params[0].type_, wit::ParamType::Size));
        assert_eq!(case.params[0].default.as_deref(), Some("1KiB"));
        assert_eq!(case.params[0].unit.as_deref(), Some("B"));
        assert_eq!(case.params[1].default, None);
    }

    #[test]
    fn numeric_defaults_are_written_out() {
        assert_eq!(Param::int("n", 10).default_value(), Some("10"));
        assert_eq!(Param::float("x", 0.5).default_value(), Some("0.5"));
        assert_eq!(Param::bool("b", true).default_value(), Some("true"));
    }
}
