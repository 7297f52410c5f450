//! What blocked instances wait on: noted by every pending wait on each poll,
//! described only when a report asks (a deadlock, a timeout).

use super::Sim;
use crate::net::SocketId;
use crate::node::NodeId;
use crate::time::SimTime;

/// What a blocked instance waits on, for deadlock and timeout reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WaitReason {
    /// A barrier on a sync state.
    Barrier { state: String, target: u64 },
    /// The next message of a subscription.
    Subscription { topic: String, cursor: usize },
    /// A timer.
    Timer { until: SimTime },
    /// A condition of a socket, e.g. `what` = "tcp read". Described only when
    /// a report needs it: instances note their waits on every poll, and one
    /// with a thousand idle connections notes a thousand.
    Socket { id: SocketId, what: &'static str },
    /// Anything else, described in words.
    Other(String),
}

/// One instance blocked at the end of a run, and on what.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BlockedInstance {
    /// The instance.
    pub node: NodeId,
    /// What it waits on, described with the current state (e.g. `barrier "x": 3/5 arrived`).
    pub waits_on: Vec<String>,
}

impl Sim {
    /// Notes that `node` is blocked on `reason` until it is next polled. A
    /// reason noted twice is reported once; finding it costs only the report.
    pub fn add_wait(&mut self, node: NodeId, reason: WaitReason) {
        if let Some(w) = self.waits.get_mut(node.index()) {
            w.push(reason);
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
        nodes
            .iter()
            .map(|&node| {
                let mut waits_on: Vec<String> = Vec::new();
                for reason in self.waits.get(node.index()).into_iter().flatten() {
                    let described = self.describe_wait(reason);
                    if !waits_on.contains(&described) {
                        waits_on.push(described);
                    }
                }
                BlockedInstance { node, waits_on }
            })
            .collect()
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
            WaitReason::Timer { until } => format!("timer until {until}"),
            WaitReason::Socket { id, what } => format!("{what} on socket {id}"),
            WaitReason::Other(what) => what.clone(),
        }
    }
}
