//! The plan's entry points: `describe` and `run` as the host calls them,
//! dispatching on the manifest the plan exports with
//! [`export_plan!`](crate::export_plan) — Testground's `run.InvokeMap`.

use std::io::Write as _;
use std::panic;
use std::sync::Once;

use crate::bindings::tg::plan::runenv as host;
use crate::bindings::tg::plan::types as wit;
use crate::manifest::Manifest;
use crate::runenv::RunEnv;

/// `describe`: the manifest as the WIT record.
pub fn describe(manifest: &Manifest) -> wit::Manifest {
    manifest.to_wit()
}

/// `run`: runs `test_case` of `manifest`, turning its error into the reason the instance failed.
pub fn run(manifest: &Manifest, test_case: &str) -> Result<(), String> {
    let Some(case) = manifest.find(test_case) else {
        let known: Vec<&str> = manifest.cases().iter().map(|case| case.name()).collect();
        return Err(format!(
            "plan `{}` has no test case `{test_case}`; known cases: {}",
            manifest.name(),
            known.join(", ")
        ));
    };
    install_panic_hook();
    let env = RunEnv::from_host(case);
    (case.runner())(&env).map_err(|err| error_chain(&*err))
}

/// The error and its sources, outermost first, as one line.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut reason = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    reason
}

/// Tells the host why the instance is about to trap, then prints the panic to
/// stderr as std's hook does; the abort that follows is the trap the host sees.
///
/// std's own hook ends with advice to set `RUST_BACKTRACE`, which a plan
/// cannot follow: an instance's environment is the run's `TEST_*` variables
/// only, and wasm32-wasip2 has no backtrace to print. So the message and its place are printed here, and
/// nothing else.
fn install_panic_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        panic::set_hook(Box::new(|info| {
            let message = info.payload_as_str().unwrap_or("Box<dyn Any>");
            host::record_crash(&crash_reason(message, info.location()));
            let at = info.location().map(|l| format!(" at {l}")).unwrap_or_default();
            // A failed write to stderr has nowhere to be reported: the trap that follows says enough.
            let _ = writeln!(std::io::stderr(), "panicked{at}:\n{message}");
        }));
    });
}

/// The reason a panic with `message` at `location` gives the host: one line,
/// with a hint when the cause is a known gap of `wasm32-wasip2` (a thread
/// tokio could not start) and what to use instead.
fn crash_reason(message: &str, location: Option<&panic::Location<'_>>) -> String {
    let mut reason = match location {
        Some(location) => format!("panicked at {location}: {message}"),
        None => format!("panicked: {message}"),
    };
    if let Some(hint) = crate::wasi_compat::panic_hint(message, location.map(|l| l.file())) {
        reason.push_str(" (");
        reason.push_str(hint);
        reason.push(')');
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Outer(std::io::Error);

    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("could not connect")
        }
    }

    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    fn ok(_env: &RunEnv) -> crate::Result<()> {
        Ok(())
    }

    #[test]
    fn unknown_case_lists_known_ones() {
        let manifest = Manifest::new("p").case(crate::TestCase::new("a", ok)).case(crate::TestCase::new("b", ok));
        assert_eq!(run(&manifest, "c").unwrap_err(), "plan `p` has no test case `c`; known cases: a, b");
    }

    #[test]
    fn a_missing_thread_names_the_resolver() {
        let reason = crash_reason("OS can't spawn worker thread: Not supported (os error 58)", None);
        assert!(reason.starts_with("panicked: OS can't spawn worker thread"), "{reason}");
        assert!(reason.contains("tg_sdk::wasi_compat::resolve"), "{reason}");
        assert!(!reason.contains('\n'), "{reason}");
    }

    #[test]
    fn other_panics_keep_their_message() {
        let location = panic::Location::caller();
        let reason = crash_reason("boom", Some(location));
        assert_eq!(reason, format!("panicked at {location}: boom"));
    }

    #[test]
    fn reason_names_every_cause() {
        let err = Outer(std::io::Error::other("refused"));
        assert_eq!(error_chain(&err), "could not connect: refused");
    }
}
