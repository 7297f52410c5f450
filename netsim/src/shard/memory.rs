//! Shards of one run connected in one process, through channels: what tests
//! use to check that a split run equals the whole one without any transport.

use super::link::{Envelope, LinkError, ShardLink, ShardReport, ShardStatus};
use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, Sender, channel};

type Frame = (u64, ShardReport);

/// One shard's end of an in-process link; make them with [`MemoryLink::group`].
pub struct MemoryLink {
    index: usize,
    peers: Vec<Sender<Frame>>,
    inbox: Receiver<Frame>,
    /// Reports of later windows that arrived while this shard still waited on an earlier one.
    early: BTreeMap<u64, Vec<ShardReport>>,
}

impl MemoryLink {
    /// The links of `count` shards, by shard index; move each to its shard's thread.
    pub fn group(count: usize) -> Vec<MemoryLink> {
        let (senders, receivers): (Vec<_>, Vec<_>) = (0..count).map(|_| channel()).unzip();
        receivers
            .into_iter()
            .enumerate()
            .map(|(index, inbox)| MemoryLink { index, peers: senders.clone(), inbox, early: BTreeMap::new() })
            .collect()
    }
}

impl ShardLink for MemoryLink {
    fn exchange(
        &mut self,
        window: u64,
        status: &ShardStatus,
        outgoing: Vec<Vec<Envelope>>,
    ) -> Result<Vec<ShardReport>, LinkError> {
        for (to, report) in ShardReport::addressed(status, outgoing, self.index) {
            self.peers[to].send((window, report)).map_err(|_| LinkError::new(format!("shard {to} is gone")))?;
        }
        let mut got = self.early.remove(&window).unwrap_or_default();
        while got.len() < self.peers.len() - 1 {
            let (w, report) = self.inbox.recv().map_err(|_| LinkError::new("every other shard is gone"))?;
            if w == window {
                got.push(report);
            } else {
                self.early.entry(w).or_default().push(report);
            }
        }
        got.sort_by_key(|r| r.status.shard);
        Ok(got)
    }
}
