//! Where a run keeps its sync states and topics: in memory, or in a Redis server.
//!
//! The simulation decides when each sync operation happens and who it wakes
//! (see `netsim::Sim`); the backend chosen here only stores the counters and
//! logs. A run therefore gives the same trace digest with either backend, and
//! a run made with Redis replays with the embedded service.

pub mod redis;

use crate::error::InputError;
use netsim::{SyncBackend, SyncService};

/// The sync backend a run uses, as given on the command line (`--sync`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum SyncSetting {
    /// In memory, in this process (the default).
    #[default]
    Embedded,
    /// A Redis server, by URL: `redis://HOST:PORT[/DB]`.
    Redis(String),
}

impl SyncSetting {
    /// Parses `embedded` or a `redis://` URL.
    pub fn parse(s: &str) -> Result<SyncSetting, InputError> {
        if s == "embedded" {
            return Ok(SyncSetting::Embedded);
        }
        if !(s.starts_with("redis://") || s.starts_with("rediss://")) {
            return Err(InputError::new(format!(
                "expected `embedded` or a URL like redis://127.0.0.1:6379/0, not {s:?}"
            )));
        }
        ::redis::Client::open(s).map_err(|e| InputError::new(format!("not a Redis URL ({e}): {s:?}")))?;
        Ok(SyncSetting::Redis(s.to_string()))
    }

    /// Checks, before anything is written, that the backend can be opened:
    /// that a Redis server answers (and has the database asked for), with
    /// the refusal [`SyncSetting::open`] would give later. A run refused
    /// then would already have cleared an earlier run out of its `--out`.
    pub fn check(&self) -> Result<(), InputError> {
        match self {
            SyncSetting::Embedded => Ok(()),
            SyncSetting::Redis(url) => {
                redis::RedisLink::open(url, redis::RetryPolicy::default()).map(drop).map_err(|e| refused(url, e))
            }
        }
    }

    /// Opens the backend for the run identified by `run_id`.
    ///
    /// A Redis server that cannot be reached now is bad input (exit code 2):
    /// nothing has run yet, and the message says where it looked.
    pub fn open(&self, run_id: &str) -> Result<Box<dyn SyncBackend>, InputError> {
        match self {
            SyncSetting::Embedded => Ok(Box::new(SyncService::new())),
            SyncSetting::Redis(url) => redis::RedisBackend::connect(url, run_id, redis::RetryPolicy::default())
                .map(|b| Box::new(b) as Box<dyn SyncBackend>)
                .map_err(|e| refused(url, e)),
        }
    }
}

/// A Redis server that cannot serve the run: bad input (exit code 2), since
/// nothing has run yet, saying where it looked.
fn refused(url: &str, e: redis::RedisSetupError) -> InputError {
    InputError::new(format!("--sync {}: {e}", redis::redact(url)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_embedded_and_redis_urls() {
        assert_eq!(SyncSetting::parse("embedded").unwrap(), SyncSetting::Embedded);
        assert_eq!(
            SyncSetting::parse("redis://127.0.0.1:6379/2").unwrap(),
            SyncSetting::Redis("redis://127.0.0.1:6379/2".into())
        );
        assert!(SyncSetting::parse("127.0.0.1:6379").is_err());
    }
}
