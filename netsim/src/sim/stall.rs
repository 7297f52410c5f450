//! Whether the world is stalled: no instance can ever run again, though
//! events keep coming, because every pending event is TCP probing a closed
//! window (see `net::tcp::stall`) and no connection hides a window its peer
//! would find by probing. The executor asks when a run has been quiet for a
//! while (see [`crate::quiet`]) and ends the run as a deadlock if so; a run
//! with no event at all is a deadlock without asking.

use super::{Sim, SimEvent};

impl Sim {
    /// Whether nothing pending can make any instance run again. Only true
    /// when no instance is ready to run, which the caller knows; the answer
    /// does not depend on the order of the pending events.
    ///
    /// On one shard of a split run, this is the shard's part of the answer:
    /// the run is stalled when every shard is.
    pub fn is_stalled(&self) -> bool {
        self.controls.is_empty()
            && self.restarts_pending == 0
            && self.queue.pending().all(|event| match event {
                SimEvent::Net(event) => self.net.event_is_idle(event),
                SimEvent::Wake { .. }
                | SimEvent::SyncArrive { .. }
                | SimEvent::SyncReply { .. }
                | SimEvent::TopicVisible { .. }
                | SimEvent::Fault(_) => false,
            })
            && !self.net.tcp_hides_window()
    }
}
