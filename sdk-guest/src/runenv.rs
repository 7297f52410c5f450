//! `RunEnv`: who this instance is, in which run, with which parameters — the
//! counterpart of Testground's `runtime.RunEnv` — and the door to the sync
//! service and metrics.

use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::bindings::tg::plan::runenv as host;
use crate::manifest::TestCase;
use crate::metrics::Recorder;
use crate::network::Network;
use crate::params::{ParamError, Params};
use crate::sync::SyncClient;

/// The run environment of one instance, handed to every test case function.
///
/// Identity getters are read once from the host when the case starts.
/// Parameter getters come in two flavours, as in Testground: `int_param` and
/// friends panic on a missing or malformed value (the instance then crashes
/// with a message naming the parameter), and `try_int_param` and friends
/// return a [`ParamError`] instead.
///
/// ```no_run
/// use tg_sdk::prelude::*;
///
/// fn case(env: &RunEnv) -> tg_sdk::Result<()> {
///     let rounds = env.int_param("rounds");
///     let timeout = env.duration_param("timeout");
///     env.record_message(format!("instance {} of {}: {rounds} rounds, timeout {timeout:?}",
///         env.global_seq(), env.test_instance_count()));
///     Ok(())
/// }
/// ```
#[derive(Debug)]
pub struct RunEnv {
    test_plan: String,
    test_case: String,
    test_run: String,
    seed: u64,
    test_instance_count: u32,
    global_seq: u32,
    group_id: String,
    group_seq: u32,
    group_instance_count: u32,
    params: Params,
}

impl RunEnv {
    /// Reads the instance's identity and parameters from the host, with
    /// `case`'s declared defaults under the parameters.
    pub(crate) fn from_host(case: &TestCase) -> Self {
        RunEnv {
            test_plan: host::test_plan(),
            test_case: host::test_case(),
            test_run: host::test_run(),
            seed: host::seed(),
            test_instance_count: host::test_instance_count(),
            global_seq: host::global_seq(),
            group_id: host::group_id(),
            group_seq: host::group_seq(),
            group_instance_count: host::group_instance_count(),
            params: Params::new(host::params(), case.params()),
        }
    }

    /// The plan's name, as in its manifest.
    pub fn test_plan(&self) -> &str {
        &self.test_plan
    }

    /// The test case being run.
    pub fn test_case(&self) -> &str {
        &self.test_case
    }

    /// The run's identifier; the same for every instance of one run.
    pub fn test_run(&self) -> &str {
        &self.test_run
    }

    /// The run's seed. Randomness drawn through WASI is already derived from
    /// it per instance; use this to seed a generator of your own.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// How many instances the run has, over all groups.
    pub fn test_instance_count(&self) -> u32 {
        self.test_instance_count
    }

    /// This instance's index over the whole run: 0-based, stable for a given
    /// composition (unlike Testground's, which came from arrival order).
    pub fn global_seq(&self) -> u32 {
        self.global_seq
    }

    /// The group this instance belongs to.
    pub fn group_id(&self) -> &str {
        &self.group_id
    }

    /// This instance's index within its group: 0-based.
    pub fn group_seq(&self) -> u32 {
        self.group_seq
    }

    /// How many instances this instance's group has.
    pub fn group_instance_count(&self) -> u32 {
        self.group_instance_count
    }

    /// All parameters with their values, defaults applied.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The raw value of parameter `name`, default applied; `None` if it has none.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name)
    }

    /// Whether the run set parameter `name` (a default does not count).
    pub fn is_param_set(&self, name: &str) -> bool {
        self.params.is_set(name)
    }

    /// Parameter `name` as a string, or why not.
    pub fn try_string_param(&self, name: &str) -> Result<String, ParamError> {
        self.params.string(name)
    }

    /// Parameter `name` as a signed integer, or why not.
    pub fn try_int_param(&self, name: &str) -> Result<i64, ParamError> {
        self.params.int(name)
    }

    /// Parameter `name` as a count (0 or more, fitting `T`), or why not.
    pub fn try_count_param<T: TryFrom<i64>>(&self, name: &str) -> Result<T, ParamError> {
        self.params.count(name)
    }

    /// Parameter `name` as a float, or why not.
    pub fn try_float_param(&self, name: &str) -> Result<f64, ParamError> {
        self.params.float(name)
    }

    /// Parameter `name` as a boolean, or why not.
    pub fn try_bool_param(&self, name: &str) -> Result<bool, ParamError> {
        self.params.bool(name)
    }

    /// Parameter `name` as a duration (`250ms`, `1.5s`, `2m`, `1h`, `10us`, `5ns`), or why not.
    pub fn try_duration_param(&self, name: &str) -> Result<Duration, ParamError> {
        self.params.duration(name)
    }

    /// Parameter `name` as a byte count (`512`, `64KiB`, `1MB`, `2GiB`), or why not.
    pub fn try_size_param(&self, name: &str) -> Result<u64, ParamError> {
        self.params.size(name)
    }

    /// Parameter `name` as JSON deserialized into `T`, or why not.
    pub fn try_json_param<T: DeserializeOwned>(&self, name: &str) -> Result<T, ParamError> {
        self.params.json(name)
    }

    /// Parameter `name` as a string.
    ///
    /// # Panics
    /// If the parameter is neither set nor defaulted.
    #[track_caller]
    pub fn string_param(&self, name: &str) -> String {
        must(self.params.string(name))
    }

    /// Parameter `name` as a signed integer.
    ///
    /// # Panics
    /// If the parameter is neither set nor defaulted, or is not an integer.
    #[track_caller]
    pub fn int_param(&self, name: &str) -> i64 {
        must(self.params.int(name))
    }

    /// Parameter `name` as a count (0 or more, fitting `T`).
    ///
    /// # Panics
    /// If the parameter is neither set nor defaulted, or is not such a count.
    #[track_caller]
    pub fn count_param<T: TryFrom<i64>>(&self, name: &str) -> T {
        must(self.params.count(name))
    }

    /// Parameter `name` as a float.
    ///
    /// # Panics
    /// If the parameter is neither set nor defaulted, or is not a number.
    #[track_caller]
    pub fn float_param(&self, name: &str) -> f64 {
        must(self.params.float(name))
    }

    /// Parameter `name` as a boolean.
    ///
    /// # Panics
    /// If the parameter is neither set nor defaulted, or is not a boolean.
    #[track_caller]
    pub fn bool_param(&self, name: &str) -> bool {
        must(self.params.bool(name))
    }

    /// Parameter `name` as a duration (`250ms`, `1.5s`, `2m`, `1h`, `10us`, `5ns`).
    ///
    /// # Panics
    /// If the parameter is neither set nor defaulted, or is not a duration.
    #[track_caller]
    pub fn duration_param(&self, name: &str) -> Duration {
        must(self.params.duration(name))
    }

    /// Parameter `name` as a byte count (`512`, `64KiB`, `1MB`, `2GiB`).
    ///
    /// # Panics
    /// If the parameter is neither set nor defaulted, or is not a size.
    #[track_caller]
    pub fn size_param(&self, name: &str) -> u64 {
        must(self.params.size(name))
    }

    /// Parameter `name` as JSON deserialized into `T`.
    ///
    /// # Panics
    /// If the parameter is neither set nor defaulted, or does not deserialize into `T`.
    #[track_caller]
    pub fn json_param<T: DeserializeOwned>(&self, name: &str) -> T {
        must(self.params.json(name))
    }

    /// Records a message in the instance's log, stamped with virtual time
    /// (Testground's `RecordMessage`).
    pub fn record_message(&self, message: impl AsRef<str>) {
        host::record_message(message.as_ref());
    }

    /// The sync service: states, barriers and topics shared by all instances of the run.
    pub fn sync(&self) -> SyncClient {
        SyncClient::new()
    }

    /// The sync service for async code on tokio: the same operations as
    /// [`sync`](Self::sync), awaited without stopping the runtime's other tasks.
    #[cfg(feature = "tokio")]
    pub fn sync_async(&self) -> crate::sync::AsyncClient {
        crate::sync::AsyncClient::new()
    }

    /// The data network: this instance's address and the shape of what it
    /// sends (Testground's `network.Client`).
    pub fn network(&self) -> Network {
        Network::new()
    }

    /// Records results: the figures the test exists to measure (Testground's `R()`).
    pub fn r(&self) -> Recorder {
        Recorder::results()
    }

    /// Records diagnostics: figures that help understand a run (Testground's `D()`).
    pub fn d(&self) -> Recorder {
        Recorder::diagnostics()
    }
}

#[track_caller]
fn must<T>(value: Result<T, ParamError>) -> T {
    match value {
        Ok(value) => value,
        Err(err) => panic!("{err}"),
    }
}
