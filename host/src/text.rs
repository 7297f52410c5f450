//! Text for people: numbers and durations as reports print them, errors on
//! one line, and escaping for the terminal and for the XML and HTML files a
//! run writes.
//!
//! One function per job, shared by the terminal summary, `report.html`, the
//! JUnit file and error messages, so that they print the same things alike.

/// A number in at most four significant digits, exponent form when far from 1.
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e7).contains(&a) {
        return format!("{v:.3e}");
    }
    let digits = (3 - a.log10().floor() as i32).clamp(0, 6) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

/// `n` things: "1 instance", "2 instances" (`noun` takes an `s` for more or none).
pub fn count(n: u64, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// `part` as a whole-number percentage of `whole`, rounded down (of a
/// `whole` of 0, as of 1); exact for any two `u64`s.
pub fn percent(part: u64, whole: u64) -> u128 {
    u128::from(part) * 100 / u128::from(whole.max(1))
}

/// A virtual duration in the largest unit that keeps it above 1.
pub fn duration_ns(ns: u64) -> String {
    let n = ns as f64;
    match ns {
        0 => "0 s".into(),
        1..1_000 => format!("{ns} ns"),
        1_000..1_000_000 => format!("{} µs", num(n / 1e3)),
        1_000_000..1_000_000_000 => format!("{} ms", num(n / 1e6)),
        _ => format!("{} s", num(n / 1e9)),
    }
}

/// `s` for a line on a terminal: its control characters — a line break, a
/// carriage return, the escape that starts a sequence recolouring or
/// clearing the screen — written as escapes (`\n`, `\u{1b}`). A plan
/// chooses its names, descriptions and failure messages; on the terminal
/// they stay on their line and are only shown. The files keep them whole.
pub fn terminal(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Escapes `s` for XML text and attribute values.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Line breaks in attributes would be normalized away; keep them as references.
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if is_xml_char(c) => out.push(c),
            _ => out.push('\u{FFFD}'),
        }
    }
    out
}

/// Whether XML 1.0 allows `c` in a document.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// An error and its causes on one line.
pub fn one_line(e: &impl std::fmt::Display) -> String {
    format!("{e:#}").replace('\n', " ")
}

/// The longest prefix of `text` of at most `max` bytes that ends at a
/// character boundary.
pub fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_percentage_is_rounded_down_and_exact_at_the_ends_of_u64() {
        assert_eq!(percent(40133, 60199), 66);
        assert_eq!(percent(u64::MAX, u64::MAX), 100);
        assert_eq!(percent(7, 0), 700);
    }

    #[test]
    fn one_of_a_thing_is_singular() {
        assert_eq!(count(1, "instance"), "1 instance");
        assert_eq!((count(0, "event"), count(2, "record")), ("0 events".into(), "2 records".into()));
    }

    #[test]
    fn a_terminal_line_shows_control_characters_as_escapes_and_keeps_the_rest() {
        assert!(matches!(terminal("time-to-find µs"), std::borrow::Cow::Borrowed("time-to-find µs")));
        assert_eq!(terminal("a\nb\r\u{1b}[2J\t"), r"a\nb\r\u{1b}[2J\t");
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(num(1.0), "1");
        assert_eq!(num(0.5), "0.5");
        assert_eq!(num(1234.5678), "1235");
        assert_eq!(num(1.23456), "1.235");
        assert_eq!(num(1e-9), "1.000e-9");
        assert_eq!(duration_ns(1_500_000_000), "1.5 s");
        assert_eq!(duration_ns(250_000_000), "250 ms");
    }

    #[test]
    fn escapes_markup_and_drops_what_xml_cannot_hold() {
        assert_eq!(xml_escape("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&apos;");
        assert_eq!(xml_escape("x\u{1}y\u{FFFE}"), "x\u{FFFD}y\u{FFFD}");
        assert_eq!(xml_escape("l1\nl2"), "l1&#10;l2");
        assert_eq!(xml_escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&apos;");
    }

    #[test]
    fn an_error_chain_fits_one_line() {
        let e = anyhow::anyhow!("inner\nmore").context("outer");
        assert_eq!(one_line(&e), "outer: inner more");
    }

    #[test]
    fn truncate_keeps_whole_characters() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("héllo", 3), "hé");
        assert_eq!(truncate("hi", 10), "hi");
    }
}
