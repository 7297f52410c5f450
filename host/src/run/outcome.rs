//! How an instance ended, and why.
//!
//! An instance is `ok` when its test case returned `ok`, `failed` when it
//! returned an error, `crashed` when it stopped without returning (a panic, a
//! trap, a limit, an injected crash), and `stalled` when it was still waiting
//! when the run stopped (a deadlock, a time limit, an interrupt) — usually on
//! another instance that failed or crashed first. Each non-ok outcome
//! carries a reason a person can act on, and every outcome the virtual time
//! it came at, so that a report can put the first failure first.

use netsim::RunEnd;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use wasmtime::Trap;

/// The ends of an instance: Testground's three, and `stalled`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The test case succeeded.
    Ok,
    /// The test case returned an error.
    Failed,
    /// The instance stopped without returning.
    Crashed,
    /// The instance was still waiting when the run stopped early: on a
    /// barrier, a message, a socket or a timer that nothing would complete.
    Stalled,
}

impl Outcome {
    /// `"ok"`, `"failed"`, `"crashed"` or `"stalled"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "failed",
            Outcome::Crashed => "crashed",
            Outcome::Stalled => "stalled",
        }
    }
}

/// How one instance ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceOutcome {
    /// Which end.
    pub outcome: Outcome,
    /// Why, for every outcome but `ok`.
    pub reason: Option<String>,
    /// Virtual time it ended at, in nanoseconds (for `stalled`, when the run stopped).
    #[serde(default)]
    pub at_ns: u64,
}

impl InstanceOutcome {
    /// Success.
    pub fn ok() -> InstanceOutcome {
        InstanceOutcome { outcome: Outcome::Ok, reason: None, at_ns: 0 }
    }

    /// The test case returned `err(reason)`.
    pub fn failed(reason: impl Into<String>) -> InstanceOutcome {
        InstanceOutcome { outcome: Outcome::Failed, reason: Some(reason.into()), at_ns: 0 }
    }

    /// The instance stopped for `reason`.
    pub fn crashed(reason: impl Into<String>) -> InstanceOutcome {
        InstanceOutcome { outcome: Outcome::Crashed, reason: Some(reason.into()), at_ns: 0 }
    }

    /// The instance was still waiting when the run stopped, for `reason`.
    pub fn stalled(reason: impl Into<String>) -> InstanceOutcome {
        InstanceOutcome { outcome: Outcome::Stalled, reason: Some(reason.into()), at_ns: 0 }
    }

    /// The same outcome, ended at virtual time `at`.
    pub fn at(self, at: netsim::SimTime) -> InstanceOutcome {
        InstanceOutcome { at_ns: at.as_nanos(), ..self }
    }
}

/// Why the run stopped, in the words an instance it stopped is given: the
/// run's end, with the end of the virtual clock named when the limit reached
/// was the clock's own (no `--virtual-timeout`: a latency or a timer took an
/// event past it).
pub fn why_stopped(end: &RunEnd, virtual_timeout: Option<Duration>) -> String {
    match end {
        RunEnd::VirtualTimeout if virtual_timeout.is_none() => {
            "virtual time ran out: an event was due past the end of the virtual clock (about 584 years)".to_string()
        }
        _ => end.to_string(),
    }
}

/// Why the run stopped an instance, and what the instance was waiting on
/// when it did (`waits`, joined; none: it was running, or ready to run).
pub fn stopped_reason(why: &str, waits: &[String]) -> String {
    if waits.is_empty() {
        format!("{why}; it was still running")
    } else {
        format!("{why}; waiting on {}", waits.join("; "))
    }
}

/// Limits an error message may name.
pub struct LimitsInForce {
    /// Memory limit in bytes.
    pub memory_limit: u64,
    /// Fuel budget.
    pub fuel: u64,
    /// Sockets per instance.
    pub sockets: u32,
}

/// Classifies the error that ended an instance. `plan_reason` is what the plan
/// reported before crashing (its panic message), which beats the bare trap.
pub fn classify_error(error: &wasmtime::Error, plan_reason: Option<String>, limits: &LimitsInForce) -> InstanceOutcome {
    if let Some(exit) = error.downcast_ref::<wasmtime_wasi::I32Exit>() {
        // WASI 0.2's `exit` carries only success or failure, so any non-zero status arrives as 1.
        let status = if exit.0 == 0 { "success" } else { "failure" };
        return InstanceOutcome::crashed(format!("called exit with {status} status before its test case returned"));
    }
    let text = format!("{error:#}");
    if text.contains("forcing trap when growing memory") {
        return InstanceOutcome::crashed(format!(
            "memory limit exceeded: linear memory may not grow past {} MiB (raise it with --memory-limit)",
            limits.memory_limit >> 20
        ));
    }
    if text.contains("forcing trap when growing table") {
        return InstanceOutcome::crashed(format!(
            "table limit exceeded: a table may not grow past {} elements (tg-wasm's fixed limit per \
             instance: a plan that grows a table of function references or resources without bound leaks them)",
            crate::engine::TABLE_ELEMENTS
        ));
    }
    if let Some(limit) = error.downcast_ref::<crate::limits::LimitExceeded>() {
        return InstanceOutcome::crashed(limit.to_string());
    }
    if let Some(trap) = error.downcast_ref::<Trap>() {
        if let Some(reason) = plan_reason {
            return InstanceOutcome::crashed(reason);
        }
        let why = match trap {
            Trap::OutOfFuel => format!(
                "CPU budget exhausted: used all {} fuel units without finishing (an endless loop? raise it with --fuel)",
                limits.fuel
            ),
            Trap::StackOverflow => "stack overflow".to_string(),
            Trap::UnreachableCodeReached => {
                "trap: wasm `unreachable` executed (an abort or a failed allocation)".into()
            }
            other => format!("trap: {other}"),
        };
        return InstanceOutcome::crashed(why);
    }
    if let Some(reason) = plan_reason {
        return InstanceOutcome::crashed(reason);
    }
    if error.downcast_ref::<wasmtime::WasmBacktrace>().is_some() {
        // The backtrace is the outermost layer, frame by frame: the cause alone is the reason.
        return InstanceOutcome::crashed(crate::text::one_line(&error.root_cause()));
    }
    InstanceOutcome::crashed(crate::text::one_line(error))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::{Engine, Instance, Module, Store, StoreLimits, StoreLimitsBuilder};

    #[test]
    fn a_table_grown_past_its_limit_names_the_limit_not_a_backtrace() {
        let engine = Engine::default();
        // Grows its table by 1000 elements until a grow fails.
        let module = Module::new(
            &engine,
            r#"(module (table 1 funcref)
                 (func (export "grow")
                   (loop $more
                     (br_if $more (i32.ne (table.grow (ref.null func) (i32.const 1000)) (i32.const -1))))))"#,
        )
        .unwrap();
        // As each instance's store is limited (see `InstanceState::new`).
        let limits =
            StoreLimitsBuilder::new().table_elements(crate::engine::TABLE_ELEMENTS).trap_on_grow_failure(true).build();
        let mut store: Store<StoreLimits> = Store::new(&engine, limits);
        store.limiter(|l| l);
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        let grow = instance.get_typed_func::<(), ()>(&mut store, "grow").unwrap();
        let error = grow.call(&mut store, ()).expect_err("the grow past the limit traps");
        let outcome = classify_error(&error, None, &LimitsInForce { memory_limit: 1 << 20, fuel: 1, sockets: 1 });
        assert_eq!(outcome.outcome, Outcome::Crashed);
        let reason = outcome.reason.unwrap();
        assert!(reason.starts_with("table limit exceeded: a table may not grow past 10000 elements"), "{reason}");
        assert!(!reason.contains('\n') && !reason.contains("backtrace"), "{reason}");
    }
}
