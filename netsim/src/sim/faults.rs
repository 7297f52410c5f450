//! Faults from a timeline or a plan: partitions, heals, clogs, releases and
//! path filters applied to the network's paths, crashes and restarts handed
//! to the executor.

use super::Sim;
use super::SimEvent;
use super::split::Router;
use crate::event::EventKey;
use crate::fault::{Fault, InstanceControl, PathAction};
use crate::net::{AddressError, Filter, NetCtx};
use crate::node::NodeId;
use crate::shard::CrossEvent;
use crate::time::SimTime;
use std::net::IpAddr;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// An address move an instance asked for, as its shard keeps it.
pub(super) enum AddressMove {
    /// Not yet at the network; the task to wake when it gets there.
    Waiting(Waker),
    /// Done: the address the instance had, or why it keeps it.
    Done(Result<IpAddr, AddressError>),
}

impl Sim {
    /// Schedules `fault` at virtual time `at`.
    pub fn schedule_fault(&mut self, at: SimTime, fault: Fault) {
        self.expect_restarts(&fault);
        self.queue.schedule(at, NodeId::SIM, SimEvent::Fault(fault));
    }

    /// Counts the restarts `fault`, now queued, will make: until they have
    /// happened the run goes on with no instance running.
    fn expect_restarts(&mut self, fault: &Fault) {
        if let Fault::Restart(nodes) = fault {
            self.restarts_pending += nodes.len();
        }
    }

    /// Injects `fault` as instance `node` asks (a plan's network API), to
    /// take effect `delay` after the request reaches the network: like a sync
    /// operation, it gets there after the sync latency, under a key of
    /// `node`'s, on every shard of a split run alike (the latency is what
    /// lets a shard learn of it before it is due). With no sync latency it is
    /// scheduled as a timeline's fault is (with no delay, the next event of
    /// this instant).
    pub fn request_fault(&mut self, node: NodeId, delay: Duration, fault: Fault) {
        let at = self.now + self.config.sync_latency + delay;
        if self.config.sync_latency.is_zero() {
            return self.schedule_fault(at, fault);
        }
        self.expect_restarts(&fault);
        let key = self.queue.schedule(at, node, SimEvent::Fault(fault.clone()));
        if let Some(split) = &mut self.split {
            split.send(None, key, self.now, CrossEvent::Fault(fault));
        }
    }

    /// Files a fault another shard's instance asked for ([`Sim::request_fault`]) under its key.
    pub(super) fn file_fault(&mut self, key: EventKey, fault: Fault) {
        self.expect_restarts(&fault);
        self.queue.insert(key, SimEvent::Fault(fault));
    }

    /// How the address move `node` asked for went ([`Fault::MoveAddress`],
    /// requested with [`Sim::request_fault`]): the address it had, or why it
    /// keeps it. Pending, and woken, until the move reaches the network.
    pub fn poll_address_move(&mut self, node: NodeId, cx: &mut Context<'_>) -> Poll<Result<IpAddr, AddressError>> {
        match self.address_moves.remove(&node) {
            Some(AddressMove::Done(moved)) => Poll::Ready(moved),
            Some(AddressMove::Waiting(_)) | None => {
                self.address_moves.insert(node, AddressMove::Waiting(cx.waker().clone()));
                Poll::Pending
            }
        }
    }

    /// Whether crashes or restarts wait for the executor ([`Sim::take_controls`]).
    pub fn has_controls(&self) -> bool {
        !self.controls.is_empty()
    }

    /// Crashes and restarts the executor must carry out now, in order.
    pub fn take_controls(&mut self) -> Vec<(NodeId, InstanceControl)> {
        std::mem::take(&mut self.controls)
    }

    /// Whether a restart is still scheduled, so the run must go on even with no instance running.
    pub fn restarts_pending(&self) -> bool {
        self.restarts_pending > 0
    }

    pub(super) fn apply_fault(&mut self, fault: Fault) {
        self.trace.record(self.now, NodeId::SIM, "fault", format_args!("{fault}"));
        match fault {
            Fault::Paths { action, from, to, both_ways } => {
                let mut router = Router { queue: &mut self.queue, split: self.split.as_mut(), now: self.now };
                let mut cx = NetCtx::new(self.now, &mut router, &mut self.trace);
                for &a in &from {
                    for &b in &to {
                        let pairs = [(a, b), (b, a)];
                        for &(src, dst) in &pairs[..if both_ways { 2 } else { 1 }] {
                            match action {
                                PathAction::Partition => self.net.set_path_filter(src, dst, Some(Filter::Drop)),
                                PathAction::Heal => self.net.set_path_filter(src, dst, None),
                                PathAction::Clog => self.net.set_clog(&mut cx, src, dst, true),
                                PathAction::Release => self.net.set_clog(&mut cx, src, dst, false),
                            }
                        }
                    }
                }
            }
            Fault::PathFilter { from, to, filter } => self.net.set_path_filter(from, to, filter),
            Fault::MoveAddress { node, to } => {
                // Every shard moves it in its table; the instance's own hears how it went.
                let moved = self.with_net(|net, cx| net.set_address(cx, node, to));
                if self.is_local(node) {
                    let waiting = self.address_moves.insert(node, AddressMove::Done(moved));
                    if let Some(AddressMove::Waiting(waker)) = waiting {
                        waker.wake();
                    }
                }
            }
            Fault::Crash(nodes) => {
                let local: Vec<NodeId> = nodes.into_iter().filter(|&n| self.is_local(n)).collect();
                for node in local {
                    self.with_net(|net, cx| net.crash_node(cx, node));
                    self.controls.push((node, InstanceControl::Crash));
                }
            }
            Fault::Restart(nodes) => {
                self.restarts_pending -= nodes.len();
                let local: Vec<NodeId> = nodes.into_iter().filter(|&n| self.is_local(n)).collect();
                self.controls.extend(local.into_iter().map(|n| (n, InstanceControl::Restart)));
            }
        }
    }
}
