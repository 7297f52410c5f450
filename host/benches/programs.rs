//! What a program instance costs beside a plan instance: instantiate, run and
//! drop, per instance, for placebo's `ok` (a `tg:plan` component) and
//! `plans/program`'s `ok` (a `wasi:cli` command that exits 0), each a whole
//! run of 1000 instances in this process.
//!
//! Prints one JSON line per figure and their ratio. Run with
//! `cargo bench -p tg-wasm --bench programs`. Medians of several rounds in
//! one process, so the two compare on a noisy machine.

use tg_wasm::run::{Run, RunSpec};
use tg_wasm::sync::SyncSetting;

const INSTANCES: u32 = 1000;
const ROUNDS: usize = 7;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Median microseconds per instance of whole runs of `plan`'s `case`.
fn per_instance(plan: &str, case: &str) -> f64 {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plans").join(plan);
    let path = tg_wasm::builder::build(&dir).unwrap_or_else(|e| panic!("building plans/{plan}: {e}"));
    let component = tg_wasm::component::load(&path).expect("loading the component");
    let run = Run::prepare(RunSpec::single_group(component, case, INSTANCES), INSTANCES).expect("preparing");
    let rounds: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let execution = run.execute(None, &SyncSetting::Embedded).expect("running");
            assert!(execution.outcomes.iter().all(|o| o.outcome == tg_wasm::run::Outcome::Ok), "{plan} {case} failed");
            execution.wall_time.as_secs_f64() * 1e6 / f64::from(INSTANCES)
        })
        .collect();
    median(rounds)
}

fn main() {
    let plan = per_instance("placebo", "ok");
    let program = per_instance("program", "ok");
    for (kind, us) in [("plan", plan), ("program", program)] {
        println!(
            "{{\"bench\":\"instance_lifecycle\",\"kind\":\"{kind}\",\"instances\":{INSTANCES},\"us_per_instance_median\":{us:.2},\"rounds\":{ROUNDS}}}"
        );
    }
    println!("{{\"bench\":\"instance_lifecycle\",\"program_over_plan\":{:.2}}}", program / plan);
}
