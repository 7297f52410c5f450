//! Parameter lookup: the run's values, falling back to the running case's
//! manifest defaults, read as the type the plan asks for.
//!
//! The host already applies defaults, but the plan's own manifest is the
//! authority on them: looking them up here too keeps a plan correct under a
//! host (or a test) that passes only what the composition set.
//!
//! This module is pure: it compiles and is tested on any target.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::manifest::{Param, ParamType};
use crate::units;

/// Why a parameter could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParamError {
    /// The run did not set the parameter and it has no default.
    Missing {
        /// The parameter's name.
        name: String,
    },
    /// The value does not parse as the requested type.
    Invalid {
        /// The parameter's name.
        name: String,
        /// The type it was read as.
        ty: ParamType,
        /// The value as given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamError::Missing { name } => {
                write!(f, "parameter `{name}` is required: the run does not set it and it has no default")
            }
            ParamError::Invalid { name, ty, value, reason } => {
                write!(f, "parameter `{name}` = {value:?} is not a valid {ty}: {reason}")
            }
        }
    }
}

impl std::error::Error for ParamError {}

/// The parameters of one instance: what the run set, over the case's defaults.
#[derive(Debug, Clone, Default)]
pub struct Params {
    set: BTreeMap<String, String>,
    defaults: BTreeMap<String, String>,
}

impl Params {
    /// Parameters with the values `set` by the run and the defaults declared by `declared`.
    pub fn new(set: impl IntoIterator<Item = (String, String)>, declared: &[Param]) -> Self {
        Params {
            set: set.into_iter().collect(),
            defaults: declared
                .iter()
                .filter_map(|param| Some((param.name().to_owned(), param.default_value()?.to_owned())))
                .collect(),
        }
    }

    /// The raw value of `name`: the run's, else the default, else `None`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.set.get(name).or_else(|| self.defaults.get(name)).map(String::as_str)
    }

    /// Whether the run set `name` itself (a default does not count), like Testground's `IsParamSet`.
    pub fn is_set(&self, name: &str) -> bool {
        self.set.contains_key(name)
    }

    /// Every parameter with a value, set or defaulted, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        let mut all: BTreeMap<&str, &str> = self.defaults.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        all.extend(self.set.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        all.into_iter()
    }

    fn typed<T, E: fmt::Display>(
        &self,
        name: &str,
        ty: ParamType,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<T, ParamError> {
        let value = self.get(name).ok_or_else(|| ParamError::Missing { name: name.to_owned() })?;
        parse(value).map_err(|err| ParamError::Invalid {
            name: name.to_owned(),
            ty,
            value: value.to_owned(),
            reason: err.to_string(),
        })
    }

    /// `name` as a string.
    pub fn string(&self, name: &str) -> Result<String, ParamError> {
        self.typed(name, ParamType::String, |v| Ok::<_, ParamError>(v.to_owned()))
    }

    /// `name` as a signed integer.
    pub fn int(&self, name: &str) -> Result<i64, ParamError> {
        self.typed(name, ParamType::Int, parse_int)
    }

    /// `name` as a count: a whole number, 0 or more, that fits `T` (`u32`,
    /// `usize`, `u64`, …). A negative value is refused by name here rather
    /// than by a bare "out of range integral type conversion" in the plan.
    pub fn count<T: TryFrom<i64>>(&self, name: &str) -> Result<T, ParamError> {
        self.typed(name, ParamType::Int, |v| {
            let n = parse_int(v).map_err(|e| e.to_string())?;
            if n < 0 {
                return Err("it counts something, so it must be 0 or more".to_string());
            }
            T::try_from(n).map_err(|_| format!("it is too large (at most {})", max_of::<T>()))
        })
    }

    /// `name` as a float.
    pub fn float(&self, name: &str) -> Result<f64, ParamError> {
        self.typed(name, ParamType::Float, |v| v.trim().parse::<f64>())
    }

    /// `name` as a boolean (`true`/`false`, `1`/`0`, `t`/`f`, …).
    pub fn bool(&self, name: &str) -> Result<bool, ParamError> {
        self.typed(name, ParamType::Bool, units::parse_bool)
    }

    /// `name` as a duration (`250ms`, `1.5s`, `2m`, `1h`, `10us`, `5ns`).
    pub fn duration(&self, name: &str) -> Result<Duration, ParamError> {
        self.typed(name, ParamType::Duration, units::parse_duration)
    }

    /// `name` as a byte count (`512`, `64KiB`, `1MB`, `2GiB`).
    pub fn size(&self, name: &str) -> Result<u64, ParamError> {
        self.typed(name, ParamType::Size, units::parse_size)
    }

    /// `name` as a JSON document deserialized into `T`.
    pub fn json<T: DeserializeOwned>(&self, name: &str) -> Result<T, ParamError> {
        self.typed(name, ParamType::Json, |v| serde_json::from_str::<T>(v))
    }
}

/// An int parameter's value, as `int` and `count` read it.
fn parse_int(value: &str) -> Result<i64, std::num::ParseIntError> {
    value.trim().parse()
}

/// The largest `i64` that fits `T`, found by halving: `T` is any integer type.
fn max_of<T: TryFrom<i64>>() -> i64 {
    let (mut fits, mut above) = (0i64, i64::MAX);
    if T::try_from(above).is_ok() {
        return above;
    }
    while above - fits > 1 {
        let mid = fits + (above - fits) / 2;
        if T::try_from(mid).is_ok() { fits = mid } else { above = mid }
    }
    fits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(set: &[(&str, &str)]) -> Params {
        let declared = [
            Param::duration("duration", "1h"),
            Param::int("count", 3),
            Param::size("payload", "64KiB"),
            Param::bool("verbose", false),
            Param::json("peers", r#"["a","b"]"#),
            Param::required("target", ParamType::String),
        ];
        Params::new(set.iter().map(|(k, v)| (k.to_string(), v.to_string())), &declared)
    }

    #[test]
    fn defaults_apply_when_unset() {
        let p = params(&[]);
        assert_eq!(p.duration("duration").unwrap(), Duration::from_secs(3600));
        assert_eq!(p.int("count").unwrap(), 3);
        assert_eq!(p.size("payload").unwrap(), 65_536);
        assert!(!p.bool("verbose").unwrap());
        assert_eq!(p.json::<Vec<String>>("peers").unwrap(), ["a", "b"]);
        assert!(!p.is_set("count"));
    }

    #[test]
    fn run_values_override_defaults() {
        let p = params(&[("duration", "250ms"), ("count", "-7"), ("target", "x"), ("extra", "1.5")]);
        assert_eq!(p.duration("duration").unwrap(), Duration::from_millis(250));
        assert_eq!(p.int("count").unwrap(), -7);
        assert_eq!(p.string("target").unwrap(), "x");
        assert_eq!(p.float("extra").unwrap(), 1.5);
        assert!(p.is_set("count"));
    }

    #[test]
    fn missing_required_is_named() {
        let err = params(&[]).string("target").unwrap_err();
        assert_eq!(err, ParamError::Missing { name: "target".into() });
        assert!(err.to_string().contains("`target` is required"), "{err}");
        assert!(matches!(params(&[]).int("undeclared"), Err(ParamError::Missing { .. })));
    }

    #[test]
    fn unparsable_value_says_what_and_why() {
        let err = params(&[("duration", "soon")]).duration("duration").unwrap_err();
        let message = err.to_string();
        assert!(message.starts_with("parameter `duration` = \"soon\" is not a valid duration: "), "{message}");
        assert!(matches!(params(&[("count", "3.5")]).int("count"), Err(ParamError::Invalid { .. })));
    }

    #[test]
    fn counts_refuse_negative_and_oversized_values_by_name() {
        assert_eq!(params(&[]).count::<u32>("count").unwrap(), 3);
        assert_eq!(params(&[("count", "0")]).count::<usize>("count").unwrap(), 0);
        let negative = params(&[("count", "-1")]).count::<u32>("count").unwrap_err().to_string();
        assert_eq!(
            negative,
            "parameter `count` = \"-1\" is not a valid int: it counts something, so it must be 0 or more"
        );
        let large = params(&[("count", "4294967296")]).count::<u32>("count").unwrap_err().to_string();
        assert!(large.ends_with("it is too large (at most 4294967295)"), "{large}");
        assert!(matches!(params(&[("count", "x")]).count::<u64>("count"), Err(ParamError::Invalid { .. })));
    }

    #[test]
    fn iter_merges_set_over_defaults() {
        let p = params(&[("count", "9"), ("extra", "e")]);
        let all: Vec<_> = p.iter().collect();
        assert!(all.contains(&("count", "9")));
        assert!(all.contains(&("extra", "e")));
        assert!(all.contains(&("duration", "1h")));
        assert!(!all.iter().any(|(k, _)| *k == "target"));
    }
}
