//! Being one shard of a split run (see [`crate::shard`]): the layout, the
//! current window, the events this shard schedules for others, and filing
//! what others send it under the keys their senders gave.

use super::{Sim, SimEvent};
use crate::event::{EventKey, EventQueue};
use crate::net::{NetEvent, NetScheduler};
use crate::node::NodeId;
use crate::shard::{CrossEvent, Envelope, ShardLayout};
use crate::time::SimTime;
use crate::trace::{Cause, Trace, TraceScope};

/// What a shard of a split run keeps besides a whole run's state.
pub(super) struct Split {
    layout: ShardLayout,
    /// The current window's end: nothing sent to another shard may arrive before it.
    window_end: SimTime,
    /// Events for other shards, with their destination (`None`: every other shard).
    outgoing: Vec<(Option<u32>, Envelope)>,
    /// Why the run cannot stay equal to the whole run, once it cannot.
    violation: Option<String>,
    /// Keys of the current window's events that count toward [`Sim::events_processed`].
    window_events: Vec<EventKey>,
}

impl Split {
    /// Counts an event processed in this window; a replicated event happens
    /// on every shard, so it counts once, on shard 0.
    pub(super) fn count(&mut self, key: EventKey, replicated: bool) {
        if !replicated || self.layout.index() == 0 {
            self.window_events.push(key);
        }
    }

    pub(super) fn send(&mut self, to: Option<u32>, key: EventKey, now: SimTime, event: CrossEvent) {
        if key.time < self.window_end && self.violation.is_none() {
            let what = match &event {
                CrossEvent::Packet(p) => format!("a packet from instance {} to instance {}", p.src_node, p.dst_node),
                CrossEvent::Sync { ticket, .. } => format!("a sync operation of instance {}", ticket.node),
                CrossEvent::Fault(fault) => format!("a fault ({fault}) asked for by instance {}", key.source),
            };
            self.violation = Some(format!(
                "{what}, on another shard, was sent at {now} to arrive {:?} later, sooner than the window \
                 of a split run allows (it ends at {}); give every link at least the lookahead's latency, or \
                 lower --lookahead",
                key.time.duration_since(now),
                self.window_end
            ));
        }
        self.outgoing.push((to, Envelope { key, event }));
    }
}

/// Where the network's events go: this shard's queue, or, for a packet to an
/// instance of another shard, that shard's.
pub(super) struct Router<'a> {
    pub(super) queue: &'a mut EventQueue<SimEvent>,
    pub(super) split: Option<&'a mut Split>,
    pub(super) now: SimTime,
}

impl NetScheduler for Router<'_> {
    fn schedule_net(&mut self, at: SimTime, source: NodeId, event: NetEvent) {
        if let Some(split) = self.split.as_deref_mut()
            && let Some(dst) = event.destination()
            && dst.0 < split.layout.instances()
            && !split.layout.is_local(dst)
        {
            let key = self.queue.allocate_key(at, source);
            if let Ok(packet) = event.into_packet() {
                split.send(Some(split.layout.owner(dst)), key, self.now, CrossEvent::Packet(packet));
            }
            return;
        }
        self.queue.schedule_net(at, source, event);
    }
}

impl Sim {
    /// Makes this world the shard `layout` of a split run (see [`crate::shard`]):
    /// it hosts only `layout`'s instances, sends what they do to the others
    /// through [`Sim::take_outgoing`], and keeps the sync service as a replica.
    /// Call before anything happens in the world.
    ///
    /// # Panics
    /// If the layout is not for this run's instance count, or events were already processed.
    pub fn split(&mut self, layout: ShardLayout) {
        assert_eq!(layout.instances(), self.config.instances, "the layout is for another run");
        assert_eq!(self.events_processed, 0, "a world is split before it runs");
        let scope = TraceScope { nodes: layout.nodes(), sim: layout.index() == 0 };
        self.trace = Trace::scoped(self.config.keep_trace, scope);
        self.trace.hold_windows();
        self.split = Some(Split {
            layout,
            window_end: SimTime::ZERO,
            outgoing: Vec::new(),
            violation: None,
            window_events: Vec::new(),
        });
    }

    /// The shard this world is, if the run is split.
    pub fn layout(&self) -> Option<ShardLayout> {
        self.split.as_ref().map(|s| s.layout)
    }

    /// Whether this world hosts `node` (every node, unless the run is split).
    pub fn is_local(&self, node: NodeId) -> bool {
        self.split.as_ref().is_none_or(|s| s.layout.is_local(node))
    }

    /// Starts a window of a split run that ends at `end` (exclusive).
    pub fn set_window_end(&mut self, end: SimTime) {
        if let Some(split) = &mut self.split {
            split.window_end = end;
        }
    }

    /// The events this shard scheduled for others since the last call, by
    /// destination shard (this shard's own entry stays empty).
    pub fn take_outgoing(&mut self) -> Vec<Vec<Envelope>> {
        let Some(split) = &mut self.split else { return Vec::new() };
        let count = split.layout.count() as usize;
        let me = split.layout.index() as usize;
        let mut by_shard = vec![Vec::new(); count];
        for (to, envelope) in split.outgoing.drain(..) {
            match to {
                Some(to) => by_shard[to as usize].push(envelope),
                None => {
                    for (shard, events) in by_shard.iter_mut().enumerate() {
                        if shard != me {
                            events.push(envelope.clone());
                        }
                    }
                }
            }
        }
        by_shard
    }

    /// Why this shard can no longer equal the whole run, if it cannot.
    pub fn split_violation(&self) -> Option<&str> {
        self.split.as_ref().and_then(|s| s.violation.as_deref())
    }

    /// Files an event another shard scheduled for this one, under its key.
    pub fn deliver(&mut self, envelope: Envelope) {
        let event = match envelope.event {
            CrossEvent::Packet(packet) => SimEvent::Net(NetEvent::arrival(packet)),
            CrossEvent::Sync { ticket, op } => SimEvent::SyncArrive { ticket, op },
            CrossEvent::Fault(fault) => return self.file_fault(envelope.key, fault),
        };
        self.queue.insert(envelope.key, event);
    }

    /// Ends a window of a split run: its records and events count, except
    /// those caused after `upto` when the run ended at `upto` (`None`: the
    /// run goes on, everything counts).
    pub fn commit_window(&mut self, upto: Option<Cause>) {
        self.trace.commit(upto);
        if let Some(split) = &mut self.split {
            let counted = split.window_events.iter().take_while(|&&k| upto.is_none_or(|end| Some(k) <= end)).count();
            self.events_processed += counted as u64;
            split.window_events.clear();
        }
    }

    /// Sets the clock to `at`, where the whole run stopped: a shard may have
    /// gone past it, or not reached it, within the last window.
    pub fn settle_clock(&mut self, at: SimTime) {
        self.now = at;
    }
}
