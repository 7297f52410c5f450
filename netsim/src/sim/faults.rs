//! Faults from a timeline: partitions, heals, clogs and releases applied to
//! the network's paths, crashes and restarts handed to the executor.

use super::Sim;
use super::SimEvent;
use super::split::Router;
use crate::fault::{Fault, InstanceControl, PathAction};
use crate::net::{Filter, NetCtx};
use crate::node::NodeId;
use crate::time::SimTime;

impl Sim {
    /// Schedules `fault` at virtual time `at`.
    pub fn schedule_fault(&mut self, at: SimTime, fault: Fault) {
        if let Fault::Restart(nodes) = &fault {
            self.restarts_pending += nodes.len();
        }
        self.queue.schedule(at, NodeId::SIM, SimEvent::Fault(fault));
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
