//! What blocked instances wait on: noted by every pending wait on each poll,
//! described only when a report asks (a deadlock, a timeout) — precisely for
//! the instance, in general terms for grouping instances alike, and with the
//! instances they wait for, as far as the simulation can tell.

use super::Sim;
use crate::net::SocketId;
use crate::node::NodeId;
use crate::time::SimTime;
use std::collections::{BTreeMap, BTreeSet};

/// What a blocked instance waits on, for deadlock and timeout reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WaitReason {
    /// A barrier on a sync state.
    Barrier { state: String, target: u64 },
    /// The next message of a subscription.
    Subscription { topic: String, cursor: usize },
    /// A timer.
    Timer { until: SimTime },
    /// The sync service's answer to an operation, on its way (the sync
    /// latency): the operation is done, the instance has not heard yet.
    SyncReply { due: SimTime },
    /// A condition of a socket, e.g. `what` = "tcp read". Described only when
    /// a report needs it: instances note their waits on every poll, and one
    /// with a thousand idle connections notes a thousand.
    Socket { id: SocketId, what: &'static str },
    /// Anything else, described in words.
    Other(String),
}

/// At most this many instances are named as those a blocked instance waits
/// for: a barrier of thousands that nobody reached names the first few.
pub const MAX_WAITING_FOR: usize = 16;

/// One instance blocked at the end of a run, and on what.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BlockedInstance {
    /// The instance.
    pub node: NodeId,
    /// What it waits on, described with the current state (e.g. `barrier "x": 3/5 arrived`).
    pub waits_on: Vec<String>,
    /// The same waits in words shared by every instance waiting on the same
    /// kind of thing — no socket number, timer deadline or message position
    /// (e.g. `tcp read`, `a timer`) — so that reports can count them together.
    pub waits_on_kind: Vec<String>,
    /// The instances it waits for, ascending, at most [`MAX_WAITING_FOR`]:
    /// for a barrier, those that never signalled its state; for a socket,
    /// the peer of its connection. Empty when nobody in particular (a timer,
    /// a topic anyone may publish on).
    pub waiting_for: Vec<NodeId>,
}

impl Sim {
    /// Notes that `node` is blocked on `reason` until it is next polled. A
    /// reason noted twice is reported once; finding it costs only the report.
    pub fn add_wait(&mut self, node: NodeId, reason: WaitReason) {
        if let Some(w) = self.waits.get_mut(node.index()) {
            w.push(reason);
        }
    }

    /// Forgets the waits of `node` that `done` says are over, before it is
    /// polled again (a barrier it waited on passed).
    pub(super) fn forget_wait(&mut self, node: NodeId, done: impl Fn(&WaitReason) -> bool) {
        if let Some(w) = self.waits.get_mut(node.index()) {
            w.retain(|reason| !done(reason));
        }
    }

    /// Forgets what `node` waited on (it is being polled again).
    pub fn clear_waits(&mut self, node: NodeId) {
        if let Some(w) = self.waits.get_mut(node.index()) {
            w.clear();
        }
    }

    /// What each of `nodes` waits on, described with the current sync state.
    pub fn blocked(&self, nodes: &[NodeId]) -> Vec<BlockedInstance> {
        // Who has not signalled a state is the same for every waiter: found once per state.
        let mut not_signalled: BTreeMap<&str, Vec<NodeId>> = BTreeMap::new();
        nodes
            .iter()
            .map(|&node| {
                let mut waits_on: Vec<String> = Vec::new();
                let mut waits_on_kind: Vec<String> = Vec::new();
                let mut waiting_for: Vec<NodeId> = Vec::new();
                for reason in self.waits.get(node.index()).into_iter().flatten() {
                    let described = self.describe_wait(reason);
                    if !waits_on.contains(&described) {
                        waits_on.push(described);
                    }
                    let kind = self.describe_wait_kind(reason);
                    if !waits_on_kind.contains(&kind) {
                        waits_on_kind.push(kind);
                    }
                    waiting_for.extend(self.waited_for(node, reason, &mut not_signalled));
                }
                waiting_for.sort_unstable();
                waiting_for.dedup();
                waiting_for.truncate(MAX_WAITING_FOR);
                BlockedInstance { node, waits_on, waits_on_kind, waiting_for }
            })
            .collect()
    }

    /// The instances `node` waits for on `reason`, in any order.
    fn waited_for<'a>(
        &'a self,
        node: NodeId,
        reason: &'a WaitReason,
        not_signalled: &mut BTreeMap<&'a str, Vec<NodeId>>,
    ) -> Vec<NodeId> {
        match reason {
            WaitReason::Barrier { state, .. } => {
                let missing = not_signalled.entry(state.as_str()).or_insert_with(|| {
                    let signalled: BTreeSet<NodeId> =
                        self.signallers.get(state).into_iter().flatten().copied().collect();
                    // One more than can be named, so that the waiter itself may be left out.
                    (0..self.config.instances)
                        .map(NodeId)
                        .filter(|n| !signalled.contains(n))
                        .take(MAX_WAITING_FOR + 1)
                        .collect()
                });
                missing.iter().copied().filter(|&n| n != node).collect()
            }
            WaitReason::Socket { id, .. } => self
                .net
                .remote_addr(*id)
                .ok()
                .and_then(|peer| self.net.node_of(peer.ip()))
                .filter(|&peer| peer != node)
                .into_iter()
                .collect(),
            WaitReason::Subscription { .. }
            | WaitReason::Timer { .. }
            | WaitReason::SyncReply { .. }
            | WaitReason::Other(_) => Vec::new(),
        }
    }

    /// `reason` in words shared by every instance waiting on the same kind of thing.
    fn describe_wait_kind(&self, reason: &WaitReason) -> String {
        match reason {
            // The count is the same for every waiter when the report is made.
            WaitReason::Barrier { .. } | WaitReason::Other(_) => self.describe_wait(reason),
            WaitReason::Subscription { topic, .. } => format!("subscription {topic:?}"),
            WaitReason::Timer { .. } => "a timer".to_string(),
            WaitReason::SyncReply { .. } => "the sync service's reply".to_string(),
            WaitReason::Socket { id, what } if self.net.tcp_peer_window_closed(*id) => {
                format!("{what} to a peer that has stopped reading")
            }
            WaitReason::Socket { what, .. } => (*what).to_string(),
        }
    }

    fn describe_wait(&self, reason: &WaitReason) -> String {
        match reason {
            WaitReason::Barrier { state, target } => {
                format!("barrier {state:?}: {}/{target} arrived", self.counts.get(state).copied().unwrap_or(0))
            }
            WaitReason::Subscription { topic, cursor } => {
                let published = self.topic_visible.get(topic).map_or(0, Vec::len);
                format!("subscription {topic:?}: waiting for message {} ({published} published)", cursor + 1)
            }
            WaitReason::Timer { until } if *until == SimTime::MAX => "timer past the end of virtual time".to_string(),
            WaitReason::Timer { until } => format!("timer until {until}"),
            WaitReason::SyncReply { due } if *due == SimTime::MAX => {
                "the sync service's reply, due past the end of virtual time".to_string()
            }
            WaitReason::SyncReply { due } => format!("the sync service's reply, due at {due}"),
            WaitReason::Socket { id, what } if self.net.tcp_peer_window_closed(*id) => {
                format!("{what} on socket {id}, whose peer has stopped reading (its receive window is closed)")
            }
            WaitReason::Socket { id, what } => format!("{what} on socket {id}"),
            WaitReason::Other(what) => what.clone(),
        }
    }
}
