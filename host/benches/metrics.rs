//! What results cost: 5000 placebo `metrics` instances recording 100 result
//! histogram values each (500,000 points), then aggregation and writing.
//!
//! Prints one JSON line per figure. Run with `cargo bench -p tg-wasm --bench metrics`.
//! Each round executes the run, then times separately the summary (which
//! aggregates every point), the run directory's files and the report files
//! (`metrics.jsonl`, `states.jsonl`, `report.html`). The share is
//! (aggregation + writing) / (execution + aggregation + writing), median of
//! the rounds.

use std::collections::BTreeMap;
use std::time::Instant;
use tg_wasm::run::RunSpec;

const ROUNDS: usize = 3;
const INSTANCES: u32 = 5000;
const POINTS: u32 = 100;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let plans = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plans/placebo");
    let path = tg_wasm::builder::build(&plans).expect("building plans/placebo");
    let component = tg_wasm::component::load(&path).expect("loading placebo");
    let spec = RunSpec {
        global_params: BTreeMap::from([("points".to_string(), POINTS.to_string())]),
        ..RunSpec::single_group(component, "metrics", INSTANCES)
    };
    let run = tg_wasm::run::Run::prepare(spec, INSTANCES).expect("preparing placebo's metrics case");
    let dir = std::env::temp_dir().join(format!("tg-wasm-bench-metrics-{}", std::process::id()));
    let (mut exec_s, mut agg_s, mut write_s, mut share) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut metrics_bytes = 0;
    for _ in 0..ROUNDS {
        let _ = std::fs::remove_dir_all(&dir);
        tg_wasm::outputs::write_inputs(&dir, run.spec()).expect("run.json");
        let execution = run.execute(None, &tg_wasm::sync::SyncSetting::Embedded).expect("the run");
        assert_eq!(execution.metrics.len(), (INSTANCES * (POINTS + 2)) as usize, "every point recorded");
        let t = Instant::now();
        let mut summary = run.summarize(&execution);
        let aggregation = t.elapsed();
        assert!(summary.success(), "every instance ok");
        let t = Instant::now();
        tg_wasm::outputs::write_results(&dir, &mut summary, &execution);
        assert_eq!(summary.incomplete, None, "the run directory written whole");
        let writing = t.elapsed();
        metrics_bytes = std::fs::metadata(dir.join("metrics.jsonl")).map_or(0, |m| m.len());
        let exec = execution.wall_time.as_secs_f64();
        let cost = aggregation.as_secs_f64() + writing.as_secs_f64();
        exec_s.push(exec);
        agg_s.push(aggregation.as_secs_f64());
        write_s.push(writing.as_secs_f64());
        share.push(cost / (exec + cost));
    }
    let _ = std::fs::remove_dir_all(&dir);
    let points = u64::from(INSTANCES) * u64::from(POINTS + 2);
    for (figure, value, unit) in [
        ("execution_s", median(exec_s), "s"),
        ("aggregation_s", median(agg_s), "s"),
        ("writing_s", median(write_s), "s"),
        ("aggregation_and_writing_share", median(share), "fraction of the run's wall time"),
        ("metrics_jsonl_bytes", metrics_bytes as f64, "bytes"),
    ] {
        println!(
            "{{\"bench\":\"metrics\",\"instances\":{INSTANCES},\"points\":{points},\"figure\":\"{figure}\",\"value\":{value:.4},\"unit\":\"{unit}\",\"rounds\":{ROUNDS}}}"
        );
    }
}
