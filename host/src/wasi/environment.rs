//! The environment variables and arguments an instance starts with.
//!
//! Testground handed a plan its run environment in `TEST_*` variables; every
//! instance here gets them too, so a program built for `wasm32-wasip2` that
//! knows nothing of `tg:plan` learns who it is the Testground way. Testground
//! had no per-instance index (a plan drew one from the sync service, in
//! arrival order); here `TEST_GLOBAL_SEQ` and `TEST_GROUP_SEQ` give the stable
//! ones, and `TEST_SEED` the run's seed. Arguments are a program's only: the
//! composition's `args`, with `${NAME}` replaced by the variable of that name.
//!
//! Nothing of the host's own environment reaches an instance.
//!
//! `wasi:cli/environment` is served from here: the variables and arguments
//! are derived from the run and the instance's place when the plan asks
//! (usually once, at its start), not kept as strings in every instance.

use crate::instance::{InstanceState, Placement, RunEnv};
use wasmtime::component::{HasSelf, Linker};
use wasmtime_wasi::p2::bindings::cli::environment;

/// The names of the variables [`variables`] gives, sorted.
pub const VARIABLES: [&str; 11] = [
    "TEST_CASE",
    "TEST_GLOBAL_SEQ",
    "TEST_GROUP_ID",
    "TEST_GROUP_INSTANCE_COUNT",
    "TEST_GROUP_SEQ",
    "TEST_INSTANCE_COUNT",
    "TEST_INSTANCE_PARAMS",
    "TEST_PLAN",
    "TEST_RUN",
    "TEST_SEED",
    "TEST_SUBNET",
];

/// Every `TEST_*` variable an instance at `placement` sees, sorted by name.
pub fn variables(run: &RunEnv, placement: &Placement) -> Vec<(String, String)> {
    let group = &placement.group;
    let params: Vec<String> = group.params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut vars = vec![
        ("TEST_CASE", run.test_case.clone()),
        ("TEST_GLOBAL_SEQ", placement.node.0.to_string()),
        ("TEST_GROUP_ID", group.id.clone()),
        ("TEST_GROUP_INSTANCE_COUNT", group.instance_count.to_string()),
        ("TEST_GROUP_SEQ", placement.group_seq.to_string()),
        ("TEST_INSTANCE_COUNT", run.instance_count.to_string()),
        ("TEST_INSTANCE_PARAMS", params.join("|")),
        ("TEST_PLAN", run.test_plan.clone()),
        ("TEST_RUN", run.test_run.clone()),
        ("TEST_SEED", run.seed.to_string()),
        ("TEST_SUBNET", group.subnet.clone()),
    ];
    vars.sort();
    vars.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// A program's argument vector: `args` (its name first) with every
/// `${NAME}` of `vars` replaced by its value. Anything else is left as written.
pub fn arguments(args: &[String], vars: &[(String, String)]) -> Vec<String> {
    let mut argv = Vec::with_capacity(args.len());
    for arg in args {
        let mut arg = arg.clone();
        if arg.contains("${") {
            for (name, value) in vars {
                arg = arg.replace(&format!("${{{name}}}"), value);
            }
        }
        argv.push(arg);
    }
    argv
}

impl environment::Host for InstanceState {
    fn get_environment(&mut self) -> wasmtime::Result<Vec<(String, String)>> {
        Ok(variables(&self.env, &self.placement))
    }

    fn get_arguments(&mut self) -> wasmtime::Result<Vec<String>> {
        Ok(arguments(&self.placement.group.args, &variables(&self.env, &self.placement)))
    }

    /// None: an instance has no host directory to start in.
    fn initial_cwd(&mut self) -> wasmtime::Result<Option<String>> {
        Ok(None)
    }
}

/// Adds `wasi:cli/environment` to `linker`.
pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> anyhow::Result<()> {
    environment::add_to_linker::<InstanceState, HasSelf<InstanceState>>(linker, |s| s)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instance::GroupEnv;
    use netsim::NodeId;
    use std::sync::Arc;

    fn placement() -> (RunEnv, Placement) {
        let run = RunEnv {
            test_plan: "interop".into(),
            test_case: "ping".into(),
            test_run: "abc".into(),
            seed: 7,
            instance_count: 12,
        };
        let group = GroupEnv {
            id: "clients".into(),
            instance_count: 10,
            params: vec![("count".into(), "3".into()), ("mode".into(), "v2".into())],
            subnet: "16.0.0.0/4".into(),
            args: Vec::new(),
            component: 0,
        };
        (run, Placement { node: NodeId(5), group: Arc::new(group), group_seq: 3 })
    }

    #[test]
    fn the_variables_are_testgrounds_with_the_seqs_and_seed() {
        let (run, placement) = placement();
        let vars = variables(&run, &placement);
        let get = |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        assert_eq!(get("TEST_INSTANCE_PARAMS"), Some("count=3|mode=v2"));
        assert_eq!((get("TEST_GLOBAL_SEQ"), get("TEST_GROUP_SEQ")), (Some("5"), Some("3")));
        assert_eq!((get("TEST_INSTANCE_COUNT"), get("TEST_GROUP_INSTANCE_COUNT")), (Some("12"), Some("10")));
        assert_eq!((get("TEST_PLAN"), get("TEST_CASE"), get("TEST_RUN")), (Some("interop"), Some("ping"), Some("abc")));
        assert_eq!(
            (get("TEST_SUBNET"), get("TEST_SEED"), get("TEST_GROUP_ID")),
            (Some("16.0.0.0/4"), Some("7"), Some("clients"))
        );
        let names: Vec<&str> = vars.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, VARIABLES, "sorted by name, as documented");
    }

    #[test]
    fn arguments_substitute_variables_and_leave_the_rest() {
        let (run, placement) = placement();
        let vars = variables(&run, &placement);
        let args = [
            "client",
            "--id=${TEST_GLOBAL_SEQ}",
            "${TEST_GROUP_SEQ}/${TEST_GROUP_INSTANCE_COUNT}",
            "${HOME}",
            "$TEST_SEED",
        ];
        let argv = arguments(&args.map(String::from), &vars);
        assert_eq!(argv, ["client", "--id=5", "3/10", "${HOME}", "$TEST_SEED"]);
    }
}
