//! Parsing of the human-readable values parameters carry: durations (`1.5s`),
//! byte sizes (`64KiB`) and booleans (`true`, `1`, `F`).
//!
//! The accepted forms follow what Testground plans were written against: Go's
//! `time.ParseDuration`, go-humanize's `ParseBytes` and Go's `strconv.ParseBool`,
//! so a composition written for Testground keeps its meaning. Arithmetic is done
//! on integers so that `1.1s` is exactly 1 100 000 000 ns, never a float's
//! neighbour of it: the host runs on virtual time and plans compare durations
//! exactly.
//!
//! The host validates run parameters with these functions and the guest SDK
//! reads them with the same ones, so a value the runner accepts is one the plan
//! can read. The crate is pure and dependency-free: it compiles and is tested on
//! any target, wasm32-wasip2 included.

use std::fmt;
use std::time::Duration;

/// Why a value could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    message: String,
    out_of_range: bool,
}

impl ParseError {
    fn new(message: impl Into<String>) -> Self {
        ParseError { message: message.into(), out_of_range: false }
    }

    /// Whether the value was well formed but too large to hold, so that a
    /// caller need not show examples of the syntax.
    pub fn is_out_of_range(&self) -> bool {
        self.out_of_range
    }

    /// The message with `hint` (about the syntax) after it, unless the value
    /// was well formed and only too large, where such a hint would not help.
    pub fn with_hint(&self, hint: &str) -> String {
        if self.out_of_range { self.message.clone() } else { format!("{}{hint}", self.message) }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ParseError {}

/// A decimal number split into its integer digits and its fraction digits, so
/// that scaling it by a unit stays exact.
struct Decimal<'a> {
    int: &'a str,
    frac: &'a str,
}

impl Decimal<'_> {
    /// `self × unit`, rounded down; `None` on overflow.
    fn scale(&self, unit: u128) -> Option<u128> {
        let int: u128 = if self.int.is_empty() { 0 } else { self.int.parse().ok()? };
        let mut value = int.checked_mul(unit)?;
        if !self.frac.is_empty() {
            // Past the 19th digit a fraction weighs less than one nanosecond or
            // byte for every unit we know (all are below 10^19), and stopping
            // there keeps `digits × unit` within u128.
            let frac = &self.frac[..self.frac.len().min(19)];
            let scale = 10u128.pow(frac.len() as u32);
            let digits: u128 = frac.parse().ok()?;
            value = value.checked_add(digits.checked_mul(unit)? / scale)?;
        }
        Some(value)
    }
}

/// Splits the leading `123.45` of `s` off; the digits may be absent on one side of the dot.
fn leading_decimal(s: &str) -> Option<(Decimal<'_>, &str)> {
    let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
    let (int, rest) = s.split_at(int_len);
    let (frac, rest) = match rest.strip_prefix('.') {
        Some(after_dot) => {
            let frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
            after_dot.split_at(frac_len)
        }
        None => ("", rest),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    Some((Decimal { int, frac }, rest))
}

/// Parses a duration the way Go's `time.ParseDuration` does: a sequence of
/// decimal numbers, each with a unit, such as `300ms`, `1.5h` or `2h45m`.
///
/// Units are `ns`, `us` (or `µs`, `μs`), `ms`, `s`, `m`, `h`. `0` needs no unit.
/// Negative durations are refused, since [`Duration`] cannot hold them.
///
/// ```
/// use std::time::Duration;
/// use tg_units::parse_duration;
///
/// assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
/// assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
/// assert!(parse_duration("10").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, ParseError> {
    let invalid = |why: &str| ParseError::new(format!("invalid duration {text:?}: {why}"));
    let mut s = text.trim();
    if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    } else if let Some(magnitude) = s.strip_prefix('-') {
        // Go accepts `-0s`; any other negative value has no `Duration`.
        return match parse_duration(magnitude) {
            Ok(Duration::ZERO) => Ok(Duration::ZERO),
            _ => Err(invalid("negative durations are not supported")),
        };
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(invalid("empty"));
    }
    let mut nanos: u128 = 0;
    while !s.is_empty() {
        let (number, rest) = leading_decimal(s).ok_or_else(|| invalid("expected a number"))?;
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let (unit, rest) = rest.split_at(unit_len);
        let unit_nanos: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60 * 1_000_000_000,
            "h" => 3_600 * 1_000_000_000,
            "" => return Err(invalid("missing unit (one of ns, us, ms, s, m, h)")),
            other => return Err(invalid(&format!("unknown unit {other:?} (expected ns, us, ms, s, m, h)"))),
        };
        // Virtual time is u64 nanoseconds: a longer duration could not be
        // slept, waited for or recorded, and would wrap where a guest's libc takes it.
        let too_long = || ParseError {
            out_of_range: true,
            ..invalid("longer than tg-wasm counts time (u64 nanoseconds, about 584 years)")
        };
        let part = number.scale(unit_nanos).ok_or_else(too_long)?;
        nanos = nanos.checked_add(part).filter(|&n| n <= u128::from(u64::MAX)).ok_or_else(too_long)?;
        s = rest;
    }
    Ok(Duration::from_nanos(nanos as u64))
}

/// Parses a byte count the way go-humanize's `ParseBytes` does: a decimal
/// number, optional spaces, and an optional case-insensitive unit.
///
/// SI units (`kB`/`k`, `MB`/`M`, `GB`, `TB`, `PB`, `EB`) are powers of 1000;
/// IEC units (`KiB`/`Ki`, `MiB`, `GiB`, `TiB`, `PiB`, `EiB`) are powers of 1024.
/// A plain number, or the unit `B`, is bytes. Fractions round down to a whole byte.
///
/// ```
/// use tg_units::parse_size;
///
/// assert_eq!(parse_size("512").unwrap(), 512);
/// assert_eq!(parse_size("64KiB").unwrap(), 65_536);
/// assert_eq!(parse_size("1.5 MB").unwrap(), 1_500_000);
/// ```
pub fn parse_size(text: &str) -> Result<u64, ParseError> {
    let invalid = |why: &str| ParseError::new(format!("invalid size {text:?}: {why}"));
    let s = text.trim();
    let (number, rest) = leading_decimal(s).ok_or_else(|| invalid("expected a number"))?;
    let unit = rest.trim_start().to_ascii_lowercase();
    let multiplier: u128 = match unit.as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000u128.pow(2),
        "g" | "gb" => 1_000u128.pow(3),
        "t" | "tb" => 1_000u128.pow(4),
        "p" | "pb" => 1_000u128.pow(5),
        "e" | "eb" => 1_000u128.pow(6),
        "ki" | "kib" => 1 << 10,
        "mi" | "mib" => 1 << 20,
        "gi" | "gib" => 1 << 30,
        "ti" | "tib" => 1 << 40,
        "pi" | "pib" => 1 << 50,
        "ei" | "eib" => 1 << 60,
        other => return Err(invalid(&format!("unknown unit {other:?}"))),
    };
    let bytes = number.scale(multiplier).ok_or_else(|| invalid("out of range"))?;
    u64::try_from(bytes).map_err(|_| invalid("larger than 2^64-1 bytes"))
}

/// Parses a boolean the way Go's `strconv.ParseBool` does: `1`, `t`, `T`,
/// `TRUE`, `true`, `True`, and their false counterparts `0`, `f`, `F`,
/// `FALSE`, `false`, `False`.
pub fn parse_bool(text: &str) -> Result<bool, ParseError> {
    match text.trim() {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(ParseError::new(format!("invalid boolean {text:?}: expected true or false"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_every_unit() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("10us").unwrap(), Duration::from_micros(10));
        assert_eq!(parse_duration("10µs").unwrap(), Duration::from_micros(10));
        assert_eq!(parse_duration("5ns").unwrap(), Duration::from_nanos(5));
    }

    #[test]
    fn durations_are_exact() {
        assert_eq!(parse_duration("1.1s").unwrap(), Duration::from_nanos(1_100_000_000));
        assert_eq!(parse_duration("0.000000001s").unwrap(), Duration::from_nanos(1));
        assert_eq!(parse_duration(".5s").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1.s").unwrap(), Duration::from_secs(1));
    }

    #[test]
    fn durations_compound_and_zero() {
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("2h45m10.5s").unwrap(), Duration::from_millis((2 * 3600 + 45 * 60) * 1000 + 10_500));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("-0").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("+3s").unwrap(), Duration::from_secs(3));
        assert_eq!(parse_duration(" 3s ").unwrap(), Duration::from_secs(3));
    }

    #[test]
    fn durations_refused() {
        for bad in ["", "-", "10", "s", "1x", "1.5", "-1s", "1s2", "..1s", "1 s", "99999999999999999999999h"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be refused");
        }
        let message = parse_duration("3 parsecs").unwrap_err().to_string();
        assert!(message.contains("3 parsecs"), "{message}");
        // Up to u64 nanoseconds, what virtual time counts in; one more is refused.
        assert_eq!(parse_duration("18446744073709551615ns").unwrap(), Duration::from_nanos(u64::MAX));
        let past = parse_duration("18446744073709551616ns").unwrap_err();
        assert!(past.to_string().contains("about 584 years") && past.is_out_of_range(), "{past}");
        assert!(parse_duration("100000000h").unwrap_err().is_out_of_range(), "11,000 years");
        assert!(parse_duration("99999999999999999999999h").unwrap_err().is_out_of_range());
        assert!(!parse_duration("10").unwrap_err().is_out_of_range());
        // A syntax hint follows a malformed value, not one that is only too long.
        assert!(parse_duration("10").unwrap_err().with_hint(" (e.g. 1s)").ends_with(" (e.g. 1s)"));
        assert!(past.with_hint(" (e.g. 1s)").ends_with("about 584 years)"));
    }

    #[test]
    fn sizes_si_and_iec() {
        assert_eq!(parse_size("512").unwrap(), 512);
        assert_eq!(parse_size("512B").unwrap(), 512);
        assert_eq!(parse_size("64KiB").unwrap(), 64 * 1024);
        assert_eq!(parse_size("1MB").unwrap(), 1_000_000);
        assert_eq!(parse_size("2GiB").unwrap(), 2 << 30);
        assert_eq!(parse_size("2 gib").unwrap(), 2 << 30);
        assert_eq!(parse_size("1.5kB").unwrap(), 1500);
        assert_eq!(parse_size("1.5Ki").unwrap(), 1536);
        assert_eq!(parse_size("16EiB").unwrap_err().to_string(), "invalid size \"16EiB\": larger than 2^64-1 bytes");
        assert_eq!(parse_size("15EiB").unwrap(), 15 << 60);
    }

    #[test]
    fn sizes_refused() {
        for bad in ["", "KiB", "12 parsecs", "-1", "1..5MB"] {
            assert!(parse_size(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn booleans_like_go() {
        for yes in ["1", "t", "T", "true", "TRUE", "True"] {
            assert!(parse_bool(yes).unwrap());
        }
        for no in ["0", "f", "F", "false", "FALSE", "False"] {
            assert!(!parse_bool(no).unwrap());
        }
        assert!(parse_bool("yes").is_err());
    }
}
