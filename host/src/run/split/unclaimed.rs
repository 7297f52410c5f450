//! Reminding whoever started a run whose shards wait for workers elsewhere
//! which of them still do. `run` says so once as it starts; a worker never
//! started (a wrong `--sync` address, a Job not applied) would otherwise leave
//! it waiting in silence until Ctrl-C.
//!
//! Owns: when to look and what to say. Does not own: the queue
//! ([`crate::shard::JobBoard::queued`]), or ending the run.

use crate::shard::JobBoard;
use crate::sync::redis::RetryPolicy;
use std::time::{Duration, Instant};

/// How often a run with unclaimed shards says so: often enough to be seen
/// by someone watching, rarely enough not to bury the rest.
pub(super) const REMIND_EVERY: Duration = Duration::from_secs(60);

/// Looks at the queue every [`REMIND_EVERY`] and warns while shards of the run wait in it.
pub(super) struct Unclaimed {
    url: String,
    /// The address as messages show it (without a password).
    shown: String,
    run: String,
    started: Instant,
    /// When to look next; `None` once every shard is claimed (none is queued again).
    next: Option<Instant>,
    /// Its own connection: the collector's is busy collecting.
    board: Option<JobBoard>,
}

impl Unclaimed {
    pub(super) fn new(url: &str, run: &str, now: Instant) -> Unclaimed {
        Unclaimed {
            url: url.to_string(),
            shown: crate::sync::redis::redact(url),
            run: run.to_string(),
            started: now,
            next: Some(now + REMIND_EVERY),
            board: None,
        }
    }

    /// Warns if a reminder is due and shards still wait. Never fails: a
    /// server it cannot ask is the collection's to report.
    pub(super) fn check(&mut self, now: Instant) {
        if self.next.is_none_or(|next| now < next) {
            return;
        }
        self.next = Some(now + REMIND_EVERY);
        if self.board.is_none() {
            self.board = JobBoard::connect(&self.url, RetryPolicy::default()).ok();
        }
        let Some(board) = &mut self.board else { return };
        match board.queued(&self.run) {
            Ok(queued) => match reminder(&self.run, &queued, now - self.started, &self.shown) {
                Some(line) => tracing::warn!("{line}"),
                None => self.next = None,
            },
            Err(e) => tracing::debug!("could not list the queued shards: {e}"),
        }
    }
}

/// What to say when `queued` shards of `run` still wait after `waited`; nothing when none do.
fn reminder(run: &str, queued: &[u32], waited: Duration, shown_url: &str) -> Option<String> {
    (!queued.is_empty()).then(|| {
        format!(
            "run {run}: after {} s, shard(s) {queued:?} still wait for `tg-wasm worker --sync {shown_url}` to \
             claim them; Ctrl-C stops the run",
            waited.as_secs()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reminder_names_the_waiting_shards_and_how_to_serve_them_and_none_when_all_are_claimed() {
        let line = reminder("abc-1", &[1, 3], Duration::from_secs(120), "redis://r:6379").unwrap();
        assert_eq!(
            line,
            "run abc-1: after 120 s, shard(s) [1, 3] still wait for `tg-wasm worker --sync redis://r:6379` to \
             claim them; Ctrl-C stops the run"
        );
        assert_eq!(reminder("abc-1", &[], Duration::from_secs(120), "redis://r:6379"), None);
    }
}
