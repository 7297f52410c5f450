//! `tg-sdk`: the API a tg-wasm test plan is written against.
//!
//! A plan is a WASI 0.2 component that the host instantiates once per test
//! instance. With this crate it reads like a Testground Go plan: declare a
//! [`Manifest`] of [`TestCase`]s with their [`Param`]s, give each case a
//! function taking the [`RunEnv`], and export it all with [`export_plan!`].
//!
//! ```no_run
//! use std::time::Duration;
//! use tg_sdk::prelude::*;
//!
//! fn manifest() -> Manifest {
//!     Manifest::new("placebo")
//!         .case(TestCase::new("ok", ok).describe("succeeds at once"))
//!         .case(
//!             TestCase::new("sleep", sleep)
//!                 .describe("sleeps, on virtual time")
//!                 .param(Param::duration("duration", "1h").describe("how long to sleep")),
//!         )
//! }
//!
//! fn ok(_env: &RunEnv) -> tg_sdk::Result<()> {
//!     Ok(())
//! }
//!
//! fn sleep(env: &RunEnv) -> tg_sdk::Result<()> {
//!     let duration: Duration = env.duration_param("duration");
//!     std::thread::sleep(duration);
//!     env.r().timer("slept", duration);
//!     Ok(())
//! }
//!
//! tg_sdk::export_plan!(manifest);
//! ```
//!
//! What a case returns decides its outcome: `Ok(())` succeeds, `Err(e)` fails
//! the instance with `e`'s message, and a panic crashes it with the panic's
//! message and location. Clocks, randomness, stdout and sockets are plain
//! `std` (virtualized by the host); coordination goes through
//! [`RunEnv::sync`], figures through [`RunEnv::r`] and [`RunEnv::d`].
//!
//! Only [`bindings`], [`invoke`], [`runenv`], [`sync`], [`metrics`] and
//! [`network`] call the host; [`units`], [`params`] and [`manifest`] are plain Rust and are
//! unit-tested natively.

#![warn(missing_docs)]

pub mod bindings;
pub mod invoke;
pub mod manifest;
pub mod metrics;
pub mod network;
pub mod params;
pub mod runenv;
pub mod sync;
pub mod wait;
pub mod wasi_compat;
pub use tg_units as units;

pub use manifest::{CaseFn, Manifest, Param, ParamType, TestCase};
pub use metrics::Recorder;
pub use network::{Filter, LinkRule, LinkShape, Network, NetworkConfig, NetworkError, RoutingPolicy};
pub use params::{ParamError, Params};
pub use runenv::RunEnv;
#[cfg(feature = "tokio")]
pub use sync::{AsyncClient, AsyncSubscription};
pub use sync::{Subscription, SyncClient, SyncError};

/// The `wasip2` crate, re-exported so plans can poll, draw randomness or use
/// any WASI interface directly without a version of their own to keep in step.
pub use wasip2;

/// The error a test case returns: anything that implements
/// [`std::error::Error`], or a message (`"…".into()`, [`bail!`]).
pub type Error = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The result of a test case, and of most things it calls.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Returns from the enclosing test case with an error built from a format string.
///
/// ```
/// fn check(received: usize, expected: usize) -> tg_sdk::Result<()> {
///     if received != expected {
///         tg_sdk::bail!("received {received} messages, expected {expected}");
///     }
///     Ok(())
/// }
/// assert_eq!(check(1, 2).unwrap_err().to_string(), "received 1 messages, expected 2");
/// ```
#[macro_export]
macro_rules! bail {
    ($($format:tt)+) => {
        return ::core::result::Result::Err(::std::format!($($format)+).into())
    };
}

/// Returns from the enclosing test case with an error unless a condition holds.
///
/// ```
/// fn check(seqs: &[u64]) -> tg_sdk::Result<()> {
///     tg_sdk::ensure!(!seqs.is_empty(), "no sequence numbers received");
///     Ok(())
/// }
/// assert!(check(&[]).is_err());
/// ```
#[macro_export]
macro_rules! ensure {
    ($condition:expr, $($format:tt)+) => {
        if !$condition {
            $crate::bail!($($format)+);
        }
    };
}

/// Exports a plan: makes the component's `describe` return the manifest built
/// by the given function, and its `run` dispatch to the manifest's cases.
///
/// Use it once, at the root of the plan's `cdylib` crate:
///
/// ```text
/// fn manifest() -> tg_sdk::Manifest { /* … */ }
/// tg_sdk::export_plan!(manifest);
/// ```
#[macro_export]
macro_rules! export_plan {
    ($manifest:path) => {
        struct __TgPlan;

        impl $crate::bindings::Guest for __TgPlan {
            fn describe() -> $crate::bindings::tg::plan::types::Manifest {
                $crate::invoke::describe(&$manifest())
            }

            fn run(test_case: ::std::string::String) -> ::core::result::Result<(), ::std::string::String> {
                $crate::invoke::run(&$manifest(), &test_case)
            }
        }

        $crate::bindings::export_plan_world!(__TgPlan with_types_in $crate::bindings);
    };
}

/// What a plan usually needs, in one `use tg_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::network::{Filter, LinkRule, LinkShape, Network, NetworkConfig, NetworkError, RoutingPolicy};
    pub use crate::{
        Manifest, Param, ParamType, Recorder, RunEnv, Subscription, SyncClient, SyncError, TestCase, bail, ensure,
    };
}
