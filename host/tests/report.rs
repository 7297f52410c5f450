//! What a run tells its user: per-group outcomes and metric aggregates in
//! `summary.json`, the table and `--json`; JUnit XML; `metrics.jsonl`;
//! `report.html` (drawn in headless Chromium when it is installed).

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::{plan, tempdir};

fn tg_wasm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tg-wasm")).args(args).output().expect("running tg-wasm")
}

/// A composition of placebo's `metrics` case: `small` (3 instances, 20 points,
/// scale 1) and `large` (7 instances, the default 100 points, scale 3).
fn composition(dir: &Path) -> PathBuf {
    let file = dir.join("metrics.toml");
    std::fs::write(
        &file,
        format!(
            "[metadata]\nname = \"metrics\"\n[global]\nplan = {:?}\ncase = \"metrics\"\ntotal_instances = 10\n\
             [[groups]]\nid = \"small\"\ninstances = {{ count = 3 }}\nparams = {{ points = \"20\", scale = \"1\" }}\n\
             [[groups]]\nid = \"large\"\ninstances = {{ count = 7 }}\nparams = {{ scale = \"3\" }}\n",
            plan("placebo").path
        ),
    )
    .unwrap();
    file
}

fn result<'a>(summary: &'a serde_json::Value, name: &str, group: &str) -> &'a serde_json::Value {
    summary["metrics"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == name && a["group"] == group)
        .unwrap_or_else(|| panic!("no result aggregate {name}/{group} in {}", summary["metrics"]))
}

#[test]
fn two_groups_show_outcomes_and_metric_aggregates_in_summary_and_table() {
    let dir = tempdir();
    let file = composition(&dir);
    let out_dir = dir.join("run");
    let out = tg_wasm(&["run", "-c", file.to_str().unwrap(), "-o", out_dir.to_str().unwrap()]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{table}{}", String::from_utf8_lossy(&out.stderr));

    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("summary.json")).unwrap()).unwrap();
    let groups = summary["groups"].as_array().unwrap();
    assert_eq!((groups[0]["id"].as_str(), groups[0]["ok"].as_u64()), (Some("small"), Some(3)));
    assert_eq!((groups[1]["id"].as_str(), groups[1]["ok"].as_u64()), (Some("large"), Some(7)));

    // Histogram values: every point; the larger scale shifts the whole distribution.
    let (small, large) = (result(&summary, "latency", "small"), result(&summary, "latency", "large"));
    assert_eq!((small["count"].as_u64(), large["count"].as_u64()), (Some(60), Some(700)));
    assert_eq!((small["instances"].as_u64(), large["instances"].as_u64()), (Some(3), Some(7)));
    assert_eq!(small["unit"], "ms");
    for a in [small, large] {
        let q: Vec<f64> = ["min", "p50", "p90", "p99", "p999", "max"].iter().map(|k| a[k].as_f64().unwrap()).collect();
        assert!(q.windows(2).all(|w| w[0] <= w[1]), "quantiles must not decrease: {q:?}");
        let mean = a["sum"].as_f64().unwrap() / a["count"].as_f64().unwrap();
        assert!((a["mean"].as_f64().unwrap() - mean).abs() < 1e-9);
    }
    assert!(large["p50"].as_f64().unwrap() > small["p50"].as_f64().unwrap());
    assert!(large["min"].as_f64().unwrap() >= 3.0 && small["max"].as_f64().unwrap() <= 100.0);
    // Counters: one value per instance, its total.
    let (small, large) = (result(&summary, "values-recorded", "small"), result(&summary, "values-recorded", "large"));
    assert_eq!(
        (small["count"].as_u64(), small["mean"].as_f64(), small["sum"].as_f64()),
        (Some(3), Some(20.0), Some(60.0))
    );
    assert_eq!(
        (large["count"].as_u64(), large["p50"].as_f64(), large["sum"].as_f64()),
        (Some(7), Some(100.0), Some(700.0))
    );
    // Diagnostics are kept apart from results.
    let diagnostics = summary["metrics"]["diagnostics"].as_array().unwrap();
    assert!(diagnostics.iter().all(|a| a["name"] == "last-raw") && diagnostics.len() == 2);
    assert_eq!(summary["metrics"]["points"].as_u64(), Some(60 + 700 + 10 + 10));

    // The table: one row per result metric and group, diagnostics left out.
    let row = |name: &str, unit: &str, group: &str, count: u32| {
        table
            .lines()
            .any(|l| l.split_whitespace().take(4).eq([name, unit, group, &count.to_string()].iter().map(|s| &**s)))
    };
    assert!(
        table
            .lines()
            .any(|l| l.split_whitespace().eq(["metric", "unit", "group", "count", "mean", "p50", "p99", "max"])),
        "{table}"
    );
    assert!(row("latency", "ms", "small", 60) && row("latency", "ms", "large", 700), "{table}");
    assert!(row("values-recorded", "-", "small", 3) && row("values-recorded", "-", "large", 7), "{table}");
    assert!(!table.contains("last-raw"), "{table}");

    // metrics.jsonl: every point with its virtual time, instance and group.
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(out_dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 780);
    for field in ["t_ns", "instance", "group", "name", "kind", "category", "unit", "tags", "value"] {
        assert!(lines.iter().all(|l| l.get(field).is_some()), "every point has {field}");
    }
    assert!(lines.iter().filter(|l| l["group"] == "small").all(|l| l["instance"].as_u64().unwrap() < 3));
    // states.jsonl: the barrier every instance met.
    let states = std::fs::read_to_string(out_dir.join("states.jsonl")).unwrap();
    assert!(states.contains(r#""state":"recorded","kind":"signal","count":10"#), "{states}");
}

/// Top-level fields of `--json`, as docs/summary-schema.md lists them, with their JSON types.
const DOCUMENTED: &[(&str, &str)] = &[
    ("outcome", "string"),
    ("plan", "string"),
    ("test_case", "string"),
    ("run_id", "string"),
    ("seed", "number"),
    ("instances", "number"),
    ("groups", "array"),
    ("end", "string"),
    ("first_failure", "null"),
    ("blocked", "array"),
    ("blocked_count", "number"),
    ("fuel", "object"),
    ("digest", "string"),
    ("trace_events", "number"),
    ("virtual_time_ns", "number"),
    ("wall_time_s", "number"),
    ("sim_events", "number"),
    ("metrics", "object"),
    ("component_sha256", "string"),
    ("tg_wasm_version", "string"),
];

fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

#[test]
fn json_output_parses_and_has_the_documented_fields() {
    let schema =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/summary-schema.md")).unwrap();
    let dir = tempdir();
    let file = composition(&dir);
    let out = tg_wasm(&["run", "-c", file.to_str().unwrap(), "--json", "-o", dir.join("run").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    for (field, ty) in DOCUMENTED {
        assert!(schema.contains(&format!("| `{field}` | {ty}")), "docs/summary-schema.md documents {field} as {ty}");
        assert_eq!(json_type(&summary[field]), *ty, "{field}");
    }
    for field in ["instance", "used", "budget"] {
        assert_eq!(json_type(&summary["fuel"][field]), "number", "fuel.{field}");
    }
    let documented: Vec<&str> = DOCUMENTED.iter().map(|(f, _)| *f).collect();
    for key in summary.as_object().unwrap().keys() {
        assert!(documented.contains(&key.as_str()), "{key} is in the output but not documented");
    }
    for (field, ty) in [
        ("id", "string"),
        ("total", "number"),
        ("ok", "number"),
        ("failed", "number"),
        ("crashed", "number"),
        ("stalled", "number"),
        ("reasons", "array"),
    ] {
        assert!(schema.contains(&format!("| `{field}` | {ty}")), "group field {field}");
        assert_eq!(json_type(&summary["groups"][0][field]), ty, "groups[].{field}");
    }
    let aggregate = &summary["metrics"]["results"][0];
    for field in [
        "name",
        "kind",
        "unit",
        "group",
        "instances",
        "count",
        "non_finite",
        "sum",
        "min",
        "max",
        "mean",
        "p50",
        "p90",
        "p99",
        "p999",
    ] {
        assert!(schema.contains(&format!("| `{field}` |")), "aggregate field {field}");
        assert!(aggregate.get(field).is_some(), "metrics.results[].{field}");
    }
}

#[test]
fn junit_is_well_formed_with_a_testcase_per_group_and_failures_with_reasons() {
    let dir = tempdir();
    let placebo = plan("placebo").path.display().to_string();
    // A failing run: every instance of the only group fails.
    let xml_path = dir.join("junit.xml");
    let out = tg_wasm(&[
        "run",
        &placebo,
        "--testcase",
        "fail",
        "--instances",
        "3",
        "-o",
        dir.join("fail").to_str().unwrap(),
        "--junit",
        xml_path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let xml = std::fs::read_to_string(&xml_path).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suite = root.children().find(|n| n.has_tag_name("testsuite")).unwrap();
    assert_eq!(
        (suite.attribute("name"), suite.attribute("tests"), suite.attribute("failures")),
        (Some("placebo/fail"), Some("1"), Some("1"))
    );
    let cases: Vec<_> = suite.children().filter(|n| n.has_tag_name("testcase")).collect();
    assert_eq!(cases.len(), 1);
    assert_eq!(cases[0].attribute("name"), Some("single"));
    let failure = cases[0].children().find(|n| n.has_tag_name("failure")).expect("a failure element");
    assert_eq!(failure.attribute("message"), Some("3 of 3 instances did not succeed (3 failed)"));
    assert!(failure.text().unwrap().contains("3 × failed at 0 s (first: instance 0): placebo failure as requested"));

    // A passing composition: a testcase per group, no failure.
    let file = composition(&dir);
    let xml_path = dir.join("ok.xml");
    let out = tg_wasm(&[
        "run",
        "-c",
        file.to_str().unwrap(),
        "-o",
        dir.join("ok").to_str().unwrap(),
        "--junit",
        xml_path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let xml = std::fs::read_to_string(&xml_path).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
    let names: Vec<&str> =
        doc.descendants().filter(|n| n.has_tag_name("testcase")).filter_map(|n| n.attribute("name")).collect();
    assert_eq!(names, ["small", "large"]);
    assert_eq!(doc.descendants().filter(|n| n.has_tag_name("failure")).count(), 0);
}

/// Headless Chromium, if this machine has it.
fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"].iter().find_map(|name| {
        let ok = Command::new(name).arg("--version").output().is_ok_and(|o| o.status.success());
        ok.then(|| PathBuf::from(name))
    })
}

#[test]
fn report_html_is_self_contained_draws_its_plots_and_regenerates() {
    let dir = tempdir();
    let file = composition(&dir);
    let run_dir = dir.join("run");
    let out = tg_wasm(&["run", "-c", file.to_str().unwrap(), "--sync-latency", "1ms", "-o", run_dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let report = run_dir.join("report.html");
    let html = std::fs::read_to_string(&report).unwrap();

    // Structure: the three sections, an SVG plot each (two metrics), nothing fetched from elsewhere.
    for section in ["id=\"inputs\"", "id=\"outcomes\"", "id=\"metrics\"", "id=\"states\""] {
        assert!(html.contains(section), "missing section {section}");
    }
    let plots = html.matches("<svg class=\"plot").count();
    assert!(plots >= 4, "outcomes, two metrics, states: {plots} plots");
    for external in ["http:", "https:", "src=", "href=", "@import", "url("] {
        assert!(!html.contains(external), "report refers outside itself: {external}");
    }
    assert!(html.contains(">small (n=60)<") && html.contains(">large (n=700)<"), "legend per group");
    assert!(html.contains(">recorded<"), "the state timeline names the state");
    // The instance tables say what each listed instance burned, of the budget.
    assert!(html.contains("<th>fuel burned</th>"), "a fuel column");
    let outcomes = std::fs::read_to_string(run_dir.join("outcomes.jsonl")).unwrap();
    let burned: Vec<u64> = outcomes
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["fuel_used"].as_u64().unwrap())
        .collect();
    assert!(burned.iter().all(|&f| f > 0), "every instance's fuel is counted");
    assert!(burned.iter().any(|f| html.contains(&format!("<td>{f} (0%)</td>"))), "a listed instance's fuel");

    // `tg-wasm report` rebuilds the same page from the directory's files.
    std::fs::remove_file(&report).unwrap();
    let out = tg_wasm(&["report", run_dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(&report).unwrap(), html, "regenerated report differs");

    let dom = render_in_chromium(&report, &dir.join("chromium-profile"), None);
    let (drawn, total) = (attribute(&dom, "data-plots-drawn"), attribute(&dom, "data-plots-total"));
    assert!(
        drawn == total && total == plots as u64,
        "Chromium laid out {drawn} of {total} plots ({plots} in the file)"
    );
}

/// Headless Chromium, which CI installs (`.ci/run`): the report is checked as people see it.
fn browser() -> PathBuf {
    chromium().expect("headless Chromium is needed to check report.html (chromium, chromium-browser or google-chrome)")
}

/// `page` as Chromium laid it out (`--dump-dom`, after its inline script ran),
/// and a full-page screenshot at `screenshot` if given.
fn render_in_chromium(page: &Path, profile: &Path, screenshot: Option<&Path>) -> String {
    let common = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        "--window-size=1200,6000",
    ];
    let profile = format!("--user-data-dir={}", profile.display());
    let out = Command::new(browser()).args(common).arg(&profile).arg("--dump-dom").arg(page).output().unwrap();
    assert!(out.status.success(), "chromium: {}", String::from_utf8_lossy(&out.stderr));
    if let Some(png) = screenshot {
        let shot = Command::new(browser())
            .args(common)
            .arg(&profile)
            .arg(format!("--screenshot={}", png.display()))
            .arg(page)
            .output()
            .unwrap();
        assert!(
            shot.status.success() && png.is_file(),
            "chromium screenshot: {}",
            String::from_utf8_lossy(&shot.stderr)
        );
        println!("screenshot of {}: {}", page.display(), png.display());
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The number in attribute `name` of the laid-out page's root element (0 if absent).
fn attribute(dom: &str, name: &str) -> u64 {
    let root = dom.lines().find(|l| l.starts_with("<html")).unwrap_or("");
    root.split(&format!("{name}=\"")).nth(1).and_then(|r| r.split('"').next()).and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// Where screenshots go: kept after the test, for people to look at.
fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn dht_1000_report_lays_out_its_inputs_and_metrics_over_time_in_chromium() {
    let dir = tempdir();
    let run_dir = dir.join("run");
    let dht = plan("dht").path.display().to_string();
    let out = tg_wasm(&["run", &dht, "-t", "find-peers", "-i", "1000", "-o", run_dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let report = run_dir.join("report.html");
    let dom = render_in_chromium(&report, &dir.join("profile"), Some(&screenshot_dir().join("dht-1000.png")));
    assert!(attribute(&dom, "data-input-rows-drawn") >= 5, "the inputs table is laid out");
    // time-to-join, time-to-find and hops, each with its median and quantile band.
    assert!(attribute(&dom, "data-timeseries-drawn") >= 3, "metric time series are laid out");
    assert_eq!(attribute(&dom, "data-plots-drawn"), attribute(&dom, "data-plots-total"), "every plot is drawn");
    assert!(dom.contains("find-peers") && dom.contains("time-to-join"), "the case and its metrics are named");
    assert_eq!(attribute(&dom, "data-fault-marks-drawn"), 0, "a run without faults marks none");
}

#[test]
fn a_partition_composition_marks_its_faults_on_every_time_axis_in_chromium() {
    let dir = tempdir();
    let file = dir.join("partition.toml");
    std::fs::write(
        &file,
        format!(
            "[metadata]\nname = \"dht-partition\"\n[global]\nplan = {:?}\ncase = \"find-peers\"\ntotal_instances = 200\n\
             [[groups]]\nid = \"east\"\ninstances = {{ count = 100 }}\n\
             [[groups]]\nid = \"west\"\ninstances = {{ count = 100 }}\nparams = {{ latency = \"80ms\" }}\n\
             [[events]]\nat = \"2s\"\naction = \"partition\"\ngroups = [\"east\", \"west\"]\n\
             [[events]]\nat = \"4s\"\naction = \"heal\"\ngroups = [\"east\", \"west\"]\n",
            plan("dht").path
        ),
    )
    .unwrap();
    let run_dir = dir.join("run");
    let out = tg_wasm(&["run", "-c", file.to_str().unwrap(), "-o", run_dir.to_str().unwrap()]);
    assert!(out.status.code().is_some_and(|c| c <= 1), "{}", String::from_utf8_lossy(&out.stderr));
    let report = run_dir.join("report.html");
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("dht-partition") && html.contains("80ms"), "the composition and a group's params are shown");
    let dom = render_in_chromium(&report, &dir.join("profile"), Some(&screenshot_dir().join("dht-partition.png")));
    assert!(attribute(&dom, "data-input-rows-drawn") >= 5, "the inputs table is laid out");
    assert!(attribute(&dom, "data-timeseries-drawn") >= 3, "metric time series are laid out");
    // The partition, from 2 s to 4 s, on the outcomes, every metric's series and the states' time axes.
    assert!(
        attribute(&dom, "data-fault-marks-drawn") >= 5,
        "fault marks are laid out: {}",
        dom.lines().find(|l| l.starts_with("<html")).unwrap_or("")
    );
    assert_eq!(attribute(&dom, "data-plots-drawn"), attribute(&dom, "data-plots-total"), "every plot is drawn");
}

#[test]
fn two_runs_side_by_side() {
    let dir = tempdir();
    let dht = plan("dht").path.display().to_string();
    for (name, latency) in [("a", "20ms"), ("b", "80ms")] {
        let out_dir = dir.join(name);
        let out = tg_wasm(&[
            "run",
            &dht,
            "-t",
            "find-peers",
            "-i",
            "50",
            "-p",
            &format!("latency={latency}"),
            "-o",
            out_dir.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let page = dir.join("compare.html");
    let out = tg_wasm(&[
        "report",
        dir.join("a").to_str().unwrap(),
        dir.join("b").to_str().unwrap(),
        "--out",
        page.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("20ms") && html.contains("80ms"), "both runs' inputs are shown");
    let dom = render_in_chromium(&page, &dir.join("profile"), Some(&screenshot_dir().join("compare.png")));
    assert!(attribute(&dom, "data-plots-total") > 0);
    assert_eq!(attribute(&dom, "data-plots-drawn"), attribute(&dom, "data-plots-total"), "every plot is drawn");
    // A comparison goes into a file: missing directories are made, a directory is refused up front.
    let (a, b) = (dir.join("a"), dir.join("b"));
    let nested = dir.join("pages/of/comparisons.html");
    let out = tg_wasm(&["report", a.to_str().unwrap(), b.to_str().unwrap(), "--out", nested.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(&nested).unwrap(), html, "the same page");
    let out = tg_wasm(&["report", a.to_str().unwrap(), b.to_str().unwrap(), "--out", a.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is a directory; give a file for the comparison"), "{stderr}");
}
