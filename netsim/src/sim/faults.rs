//! Faults from a timeline or a plan: partitions, heals, clogs, releases and
//! path filters applied to the network's paths, crashes and restarts handed
//! to the executor.

use super::Sim;
use super::SimEvent;
use super::split::Router;
use super::wait::WaitReason;
use crate::event::EventKey;
use crate::fault::{Fault, InstanceControl, PathAction};
use crate::net::{AddressError, Filter, NetCtx};
use crate::node::NodeId;
use crate::shard::CrossEvent;
use crate::time::SimTime;
use std::net::IpAddr;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// The address move an instance asked for last, as its shard keeps it.
pub(super) struct AddressMove {
    /// Which request ([`Sim::request_address_move`]): an instance restarted
    /// while an earlier one was on its way asks afresh.
    request: u64,
    /// Where to, and when the move is due: what the instance waits on.
    to: IpAddr,
    due: SimTime,
    /// The task to wake when the move gets to the network.
    waker: Option<Waker>,
    /// How it went, once it has: the address the instance had, or why it keeps it.
    moved: Option<Result<IpAddr, AddressError>>,
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

    /// Asks for `node` to take the address `to`, as a plan's `set-address`
    /// does with a sync latency: the move reaches the network, on every
    /// shard, as a fault `node` asks for does ([`Sim::request_fault`]).
    /// Returns the request, for [`Sim::poll_address_move`].
    pub fn request_address_move(&mut self, node: NodeId, to: IpAddr) -> u64 {
        self.address_move_requests += 1;
        let request = self.address_move_requests;
        let due = self.now + self.config.sync_latency;
        self.address_moves.insert(node, AddressMove { request, to, due, waker: None, moved: None });
        self.request_fault(node, Duration::ZERO, Fault::MoveAddress { node, to, request });
        request
    }

    /// How address move `request` of `node` went: the address it had, or why
    /// it keeps it. Pending, and woken, until the move reaches the network.
    pub fn poll_address_move(
        &mut self,
        node: NodeId,
        request: u64,
        cx: &mut Context<'_>,
    ) -> Poll<Result<IpAddr, AddressError>> {
        let Some(asked) = self.address_moves.get_mut(&node).filter(|m| m.request == request) else {
            // A request a restart superseded: its task is gone and polls no more.
            return Poll::Pending;
        };
        match asked.moved.take() {
            Some(moved) => {
                self.address_moves.remove(&node);
                Poll::Ready(moved)
            }
            None => {
                asked.waker = Some(cx.waker().clone());
                let waiting = format!("its move to {}, due at {}", asked.to, asked.due);
                self.add_wait(node, WaitReason::Other(waiting));
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
            Fault::MoveAddress { node, to, request } => {
                // Every shard moves it in its table; the one that asked hears how it went.
                let moved = self.with_net(|net, cx| net.set_address(cx, node, to));
                if let Some(asked) = self.address_moves.get_mut(&node).filter(|m| m.request == request) {
                    asked.moved = Some(moved);
                    if let Some(waker) = asked.waker.take() {
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
