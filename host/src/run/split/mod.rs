//! Runs split across worker processes (`--workers N`), with the digest of the
//! same run in one process.
//!
//! The coordinator ([`coordinator`]) publishes the run's inputs and plan in
//! Redis, starts local workers (or leaves shards for `tg-wasm worker` on other
//! machines), collects each shard's results and merges them into one
//! [`crate::run::Execution`]. A worker ([`worker`]) runs one shard with
//! netsim's window driver, trading events through Redis ([`link`]), and sends
//! back what its instances did ([`result`]). What makes the split run equal to
//! the whole one is netsim's business (see `netsim::shard`); this module only
//! moves inputs, frames and results between processes.

pub mod coordinator;
pub mod lifeline;
pub mod link;
pub mod result;
mod unclaimed;
pub mod worker;

pub use coordinator::{SplitExecution, SplitSettings, run_split};
pub use worker::{WorkerSettings, run_worker};

use crate::error::InputError;
use std::time::Duration;

/// The lookahead a split run uses: `requested`, or the sync latency. Refuses
/// what cannot work: a zero lookahead never advances, and one above the sync
/// latency would let a sync operation arrive inside the window it was made in.
pub fn lookahead(sync_latency: Duration, requested: Option<Duration>) -> Result<Duration, InputError> {
    let lookahead = requested.unwrap_or(sync_latency);
    if sync_latency.is_zero() {
        return Err(InputError::new(
            "--workers needs a sync latency above zero: the workers advance in windows no longer than it; \
             add e.g. --sync-latency 1ms (and give the same to any single-process run you compare with)",
        ));
    }
    if lookahead.is_zero() || lookahead > sync_latency {
        return Err(InputError::new(format!(
            "--lookahead must be above zero and at most the sync latency ({sync_latency:?}), not {lookahead:?}"
        )));
    }
    Ok(lookahead)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookahead_defaults_to_the_sync_latency_and_refuses_what_cannot_work() {
        let ms = Duration::from_millis;
        assert_eq!(lookahead(ms(2), None).unwrap(), ms(2));
        assert_eq!(lookahead(ms(2), Some(ms(1))).unwrap(), ms(1));
        assert!(lookahead(Duration::ZERO, None).unwrap_err().to_string().contains("--sync-latency"));
        assert!(lookahead(ms(2), Some(ms(3))).is_err());
        assert!(lookahead(ms(2), Some(Duration::ZERO)).is_err());
    }
}
