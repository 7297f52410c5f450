//! JUnit XML for CI reporters: one `<testsuite>` per run, one `<testcase>`
//! per group, a `<failure>` when any instance of the group was not `ok`.
//!
//! The shape is the common denominator that Jenkins, GitLab, GitHub actions
//! reporters and `junit2html` accept: `<testsuites>` → `<testsuite name tests
//! failures errors skipped time>` → `<properties>` and `<testcase name
//! classname time>` → `<failure message type>` with the reasons as text,
//! earliest first (instances a deadlock or timeout stopped are `stalled`, and
//! fail their group too).
//! Text is escaped for XML, and characters XML 1.0 cannot carry at all are
//! replaced with U+FFFD.
//!
//! This module renders from a [`RunSummary`]; it does not run anything.

use crate::run::RunSummary;
use crate::run::summary::GroupSummary;
use crate::text::xml_escape;
use std::fmt::Write as _;

fn failure_message(g: &GroupSummary) -> String {
    let mut parts = Vec::new();
    if g.failed > 0 {
        parts.push(format!("{} failed", g.failed));
    }
    if g.crashed > 0 {
        parts.push(format!("{} crashed", g.crashed));
    }
    if g.stalled > 0 {
        parts.push(format!("{} stalled", g.stalled));
    }
    format!(
        "{} of {} did not succeed ({})",
        g.total - g.ok,
        crate::text::count(u64::from(g.total), "instance"),
        parts.join(", ")
    )
}

/// Renders `summary` as a JUnit XML document.
pub fn render(summary: &RunSummary) -> String {
    let failures = summary.groups.iter().filter(|g| g.ok < g.total).count();
    let time = format!("{:.3}", summary.wall_time_s);
    let suite = format!("{}/{}", summary.plan, summary.test_case);
    let mut x = String::new();
    let _ = writeln!(x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    let _ = writeln!(
        x,
        "<testsuites name=\"tg-wasm\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{time}\">",
        summary.groups.len()
    );
    let _ = writeln!(
        x,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" time=\"{time}\">",
        xml_escape(&suite),
        summary.groups.len()
    );
    let _ = writeln!(x, "    <properties>");
    for (name, value) in [
        ("run_id", summary.run_id.clone()),
        ("seed", summary.seed.to_string()),
        ("instances", summary.instances.to_string()),
        ("end", summary.end.to_string()),
        ("digest", summary.digest.clone()),
        ("virtual_time_ns", summary.virtual_time_ns.to_string()),
        ("component_sha256", summary.component_sha256.clone()),
    ] {
        let _ = writeln!(x, "      <property name=\"{name}\" value=\"{}\"/>", xml_escape(&value));
    }
    let _ = writeln!(x, "    </properties>");
    let classname = xml_escape(&format!("{}.{}", summary.plan, summary.test_case));
    for g in &summary.groups {
        let _ = write!(x, "    <testcase name=\"{}\" classname=\"{classname}\" time=\"{time}\"", xml_escape(&g.id));
        if g.ok == g.total {
            let _ = writeln!(x, "/>");
            continue;
        }
        let _ = writeln!(x, ">");
        let mut body = String::new();
        for r in &g.reasons {
            let _ = writeln!(body, "{}", r.describe());
        }
        let _ = writeln!(
            x,
            "      <failure message=\"{}\" type=\"{}\">{}</failure>",
            xml_escape(&failure_message(g)),
            if g.crashed > 0 {
                "crashed"
            } else if g.failed > 0 {
                "failed"
            } else {
                "stalled"
            },
            xml_escape(&body)
        );
        let _ = writeln!(x, "    </testcase>");
    }
    let _ = writeln!(x, "  </testsuite>");
    let _ = writeln!(x, "</testsuites>");
    x
}
