//! netsim's window exchange over a Redis mailbox: each shard's report for each
//! other shard travels as one postcard-encoded frame.

use crate::shard::mailbox::{MailboxError, ShardMailbox};
use netsim::shard::{Envelope, LinkError, ShardLink, ShardReport, ShardStatus};

/// A [`ShardLink`] through Redis.
pub struct MailboxLink {
    mailbox: ShardMailbox,
}

impl MailboxLink {
    /// Trades windows through `mailbox`.
    pub fn new(mailbox: ShardMailbox) -> MailboxLink {
        MailboxLink { mailbox }
    }

    /// The mailbox, to abort or close the run's exchange.
    pub fn mailbox(&mut self) -> &mut ShardMailbox {
        &mut self.mailbox
    }
}

impl ShardLink for MailboxLink {
    fn exchange(
        &mut self,
        window: u64,
        status: &ShardStatus,
        outgoing: Vec<Vec<Envelope>>,
    ) -> Result<Vec<ShardReport>, LinkError> {
        let me = self.mailbox.index() as usize;
        // This shard's own slot stays empty: the mailbox does not send it.
        let mut frames = vec![Vec::new(); outgoing.len()];
        for (to, report) in ShardReport::addressed(status, outgoing, me) {
            frames[to] =
                postcard::to_allocvec(&report).map_err(|e| LinkError::new(format!("encoding a window: {e}")))?;
        }
        let received = self.mailbox.exchange(window, frames).map_err(|e| match e {
            MailboxError::KeysLost { .. } => LinkError::store_lost(e.to_string()),
            e => LinkError::new(e.to_string()),
        })?;
        received
            .into_iter()
            .enumerate()
            .filter(|(from, _)| *from != me)
            .map(|(from, frame)| {
                postcard::from_bytes(&frame)
                    .map_err(|e| LinkError::new(format!("worker {from} sent an unreadable window: {e}")))
            })
            .collect()
    }
}
