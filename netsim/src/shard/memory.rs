//! Shards of one run connected in one process, through channels: the
//! transport of a run on several threads, and what tests use to check that a
//! split run equals the whole one without any other transport.
//!
//! A shard that goes away (its run failed, its thread panicked) says so to
//! every other as its link is dropped, so none waits for it forever.

use super::link::{Envelope, LinkError, ShardLink, ShardReport, ShardStatus};
use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, Sender, channel};

enum Frame {
    /// A shard's report for one window.
    Window(u64, ShardReport),
    /// A shard's link was dropped: it sends nothing more.
    Gone(usize),
}

/// One shard's end of an in-process link; make them with [`MemoryLink::group`].
pub struct MemoryLink {
    index: usize,
    /// A sender to every shard but this one (`None` in its own place).
    peers: Vec<Option<Sender<Frame>>>,
    inbox: Receiver<Frame>,
    /// Reports of later windows that arrived while this shard still waited on an earlier one.
    early: BTreeMap<u64, Vec<ShardReport>>,
    /// Shards whose links were dropped.
    gone: Vec<usize>,
}

impl MemoryLink {
    /// The links of `count` shards, by shard index; move each to its shard's thread.
    pub fn group(count: usize) -> Vec<MemoryLink> {
        let (senders, receivers): (Vec<_>, Vec<_>) = (0..count).map(|_| channel()).unzip();
        receivers
            .into_iter()
            .enumerate()
            .map(|(index, inbox)| MemoryLink {
                index,
                peers: senders.iter().enumerate().map(|(to, s)| (to != index).then(|| s.clone())).collect(),
                inbox,
                early: BTreeMap::new(),
                gone: Vec::new(),
            })
            .collect()
    }
}

impl Drop for MemoryLink {
    fn drop(&mut self) {
        for peer in self.peers.iter().flatten() {
            // A peer already gone needs no word.
            let _ = peer.send(Frame::Gone(self.index));
        }
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
            let peer = self.peers[to].as_ref().expect("a report for another shard");
            peer.send(Frame::Window(window, report)).map_err(|_| LinkError::new(format!("shard {to} is gone")))?;
        }
        let mut got = self.early.remove(&window).unwrap_or_default();
        while got.len() < self.peers.len() - 1 {
            // A shard that is gone fails the exchange only if its report is missing: one that
            // finished the run with this window may go before the others' reports reach us.
            let missing = |shard: &usize| !got.iter().any(|r| r.status.shard as usize == *shard);
            if let Some(shard) = self.gone.iter().find(|s| missing(s)) {
                return Err(LinkError::new(format!("shard {shard} is gone")));
            }
            match self.inbox.recv() {
                Ok(Frame::Window(w, report)) if w == window => got.push(report),
                Ok(Frame::Window(w, report)) => self.early.entry(w).or_default().push(report),
                Ok(Frame::Gone(shard)) => self.gone.push(shard),
                // Not reached while this link holds the inbox and every peer's link says when it goes.
                Err(_) => return Err(LinkError::new("every other shard is gone")),
            }
        }
        got.sort_by_key(|r| r.status.shard);
        Ok(got)
    }
}
