//! `wasi:io/poll`: waiting on many pollables at the cost of checking each.
//!
//! A poll whose pollables are all registered ([`super::Source`]) locks the
//! simulation once per check and asks each source in place; when none is
//! ready, every pending source has registered the instance's task waker with
//! what it waits on (a socket, a timer, a sync reply), and the fiber sleeps
//! until one fires. A poll that includes a pollable the host did not make
//! (stdin, a file) is wasmtime-wasi-io's, unchanged.

use super::PollReady;
use super::bindings::poll::{Host, HostPollable};
use super::{Entry, IoView, Pollables, Source};
use crate::wasi::clocks::Timer;
use netsim::{Sim, SimHandle, WaitReason};
use std::future::poll_fn;
use std::task::{Context, Poll, Waker};
use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi_io::bindings::wasi::io::poll as fallback;
use wasmtime_wasi_io::poll::DynPollable;

/// Checks `entry` now: an edge-woken pollable with its own waker, re-armed
/// and marked as known not ready if it is not; any other with `cx`.
fn check_entry(table: &mut ResourceTable, entry: &mut Entry, sim: &mut Sim, cx: &mut Context<'_>) -> bool {
    match &mut entry.edge {
        Some(edge) => {
            edge.wake.rearm();
            let waker = Waker::from(edge.wake.clone());
            let ready = check(table, &entry.source, sim, &mut Context::from_waker(&waker)).is_ready();
            edge.armed = !ready;
            ready
        }
        None => check(table, &entry.source, sim, cx).is_ready(),
    }
}

/// Checks a registered pollable through its source.
fn check(table: &mut ResourceTable, source: &Source, sim: &mut Sim, cx: &mut Context<'_>) -> Poll<()> {
    match source {
        Source::Own { parent, poll } => match table.get_any_mut(*parent) {
            Ok(resource) => poll(resource, sim, cx),
            // Not reached: a pollable's parent cannot be deleted before it.
            Err(_) => Poll::Ready(()),
        },
        Source::Shared(readiness) => readiness.poll_ready(sim, cx),
    }
}

/// Whether the host registered every pollable of `list`.
fn all_registered(pollables: &Pollables, list: &[Resource<DynPollable>]) -> bool {
    list.iter().all(|p| pollables.source(p.rep()).is_some())
}

impl Host for IoView<'_> {
    async fn poll(&mut self, list: Vec<Resource<DynPollable>>) -> wasmtime::Result<Vec<u32>> {
        if list.is_empty() || !all_registered(self.pollables, &list) {
            return fallback::Host::poll(self.table, list).await;
        }
        let (table, pollables, sim) = (&mut *self.table, &mut *self.pollables, self.sim);
        let node = pollables.node;
        Ok(poll_fn(|cx| {
            pollables.task.set(cx.waker());
            let mut sim = sim.lock();
            let mut ready = Vec::new();
            for (i, pollable) in list.iter().enumerate() {
                let Some(entry) = pollables.entry_mut(pollable.rep()) else { continue };
                let is_ready = match &mut entry.edge {
                    // Known not ready, and nothing has happened to it since.
                    Some(edge) if edge.armed && !edge.wake.woken() => {
                        sim.add_wait(node, edge.reason.clone());
                        false
                    }
                    _ => check_entry(table, entry, &mut sim, cx),
                };
                if is_ready {
                    ready.push(i as u32);
                }
            }
            if ready.is_empty() { Poll::Pending } else { Poll::Ready(ready) }
        })
        .await)
    }
}

impl HostPollable for IoView<'_> {
    async fn block(&mut self, this: Resource<DynPollable>) -> wasmtime::Result<()> {
        let Some(source) = self.pollables.source(this.rep()).cloned() else {
            return fallback::HostPollable::block(self.table, this).await;
        };
        let (table, sim) = (&mut *self.table, self.sim);
        poll_fn(|cx| check(table, &source, &mut sim.lock(), cx)).await;
        Ok(())
    }

    async fn ready(&mut self, this: Resource<DynPollable>) -> wasmtime::Result<bool> {
        let Some(source) = self.pollables.source(this.rep()).cloned() else {
            return fallback::HostPollable::ready(self.table, this).await;
        };
        let (table, sim) = (&mut *self.table, self.sim);
        // One check: a pending source registers the task's waker, which at
        // worst wakes the instance once for nothing.
        Ok(poll_fn(|cx| Poll::Ready(check(table, &source, &mut sim.lock(), cx).is_ready())).await)
    }

    fn drop(&mut self, this: Resource<DynPollable>) -> wasmtime::Result<()> {
        self.pollables.forget(this.rep());
        fallback::HostPollable::drop(self.table, this)
    }
}

/// What [`wait_set`] found (`tg:plan/poll-set`'s `waited`).
#[derive(Debug, PartialEq, Eq)]
pub enum SetWait {
    /// Keys of the watched pollables that are ready, ascending.
    Ready(Vec<u32>),
    /// Keys whose pollables were dropped since the last wait, ascending.
    Dropped(Vec<u32>),
    /// A pollable to watch is not registered with the host.
    Unsupported,
}

/// How long [`wait_set`] waits.
pub enum Wait {
    /// It only makes the changes: nothing is checked, so nothing registers
    /// a waker that a list poll in its place would not have.
    Once,
    /// Until a watched pollable is ready.
    Forever,
    /// Until a watched pollable is ready or the timer fires.
    Until(Timer),
}

/// How many of the watch set's waits a blocked instance notes for reports
/// one by one; the rest are counted. Noting every idle socket on every wait
/// would make a wait cost what the instance holds.
const NOTED_WAITS: usize = 8;

/// `tg:plan/poll-set.wait`: changes the watch set, then waits until a watched
/// pollable is ready or `wait` ends the wait.
pub async fn wait_set(
    table: &mut ResourceTable,
    pollables: &mut Pollables,
    sim: &SimHandle,
    unwatch: &[u32],
    watch: &[(u32, Resource<DynPollable>)],
    wait: impl FnOnce() -> Wait,
) -> SetWait {
    if !watch.iter().all(|(_, p)| pollables.source(p.rep()).is_some()) {
        return SetWait::Unsupported;
    }
    for &key in unwatch {
        pollables.unwatch(key);
    }
    for (key, pollable) in watch {
        pollables.watch(*key, pollable.rep());
    }
    if !pollables.dropped.is_empty() {
        let mut dropped = std::mem::take(&mut pollables.dropped);
        dropped.sort_unstable();
        dropped.dedup();
        return SetWait::Dropped(dropped);
    }
    // Made only once the wait is certain, as `wasi:io/poll` callers make theirs.
    let mut wait = wait();
    if let Wait::Once = wait {
        return SetWait::Ready(Vec::new());
    }
    let node = pollables.node;
    let mut checking = Vec::new();
    poll_fn(|cx| {
        pollables.task.set(cx.waker());
        let mut sim = sim.lock();
        let woken = std::mem::take(&mut *pollables.task.woken.lock().unwrap_or_else(|e| e.into_inner()));
        for rep in woken {
            if let Some(entry) = pollables.entry_mut(rep)
                && entry.key.is_some()
                && !entry.queued
            {
                entry.queued = true;
                pollables.queue.push(rep);
            }
        }
        // The queue, checked: what is ready stays queued for the next wait.
        std::mem::swap(&mut checking, &mut pollables.queue);
        let mut ready = Vec::new();
        for rep in checking.drain(..) {
            let Some(entry) = pollables.entry_mut(rep) else { continue };
            entry.queued = false;
            let Some(key) = entry.key else { continue };
            if check_entry(table, entry, &mut sim, cx) {
                entry.queued = true;
                pollables.queue.push(rep);
                ready.push(key);
            }
        }
        for i in 0..pollables.level.len() {
            let rep = pollables.level[i];
            let Some(entry) = pollables.sources.get(rep as usize).and_then(Option::as_ref) else { continue };
            if let Some(key) = entry.key
                && check(table, &entry.source, &mut sim, cx).is_ready()
            {
                ready.push(key);
            }
        }
        // The timer is checked on every pass, ready pollables or not, as it
        // is in a `wasi:io/poll.poll` list: a pending timer schedules its
        // wake when first checked, and that order is part of the run.
        let timed_out = match &mut wait {
            Wait::Until(timer) => timer.poll_ready(&mut sim, cx).is_ready(),
            Wait::Once | Wait::Forever => false,
        };
        if !ready.is_empty() {
            ready.sort_unstable();
            return Poll::Ready(SetWait::Ready(ready));
        }
        if timed_out {
            return Poll::Ready(SetWait::Ready(Vec::new()));
        }
        // Armed pollables were not checked, so they noted no wait: a few do.
        let mut noted = 0;
        for &rep in pollables.watched.iter().flatten() {
            let Some(edge) = pollables.sources.get(rep as usize).and_then(Option::as_ref).and_then(|e| e.edge.as_ref())
            else {
                continue;
            };
            if !edge.armed {
                continue;
            }
            if noted == NOTED_WAITS {
                sim.add_wait(node, WaitReason::Other("more watched sockets".to_string()));
                break;
            }
            sim.add_wait(node, edge.reason.clone());
            noted += 1;
        }
        Poll::Pending
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::super::{Always, Pollables, Readiness, Source};
    use super::*;
    use netsim::{NodeId, SimConfig};
    use std::future::Future;
    use std::pin::pin;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Readiness a test switches, with edge semantics as a socket's.
    struct Switch(AtomicBool);

    impl Readiness for Switch {
        fn poll_ready(&self, _sim: &mut Sim, _cx: &mut Context<'_>) -> Poll<()> {
            if self.0.load(Ordering::Relaxed) { Poll::Ready(()) } else { Poll::Pending }
        }

        fn edge(&self) -> Option<WaitReason> {
            Some(WaitReason::Other("switch".to_string()))
        }
    }

    /// Polls `wait_set` once, with a zero timeout if `once`: every wait
    /// here has an answer at once, or is pending.
    fn wait_once(
        pollables: &mut Pollables,
        sim: &SimHandle,
        unwatch: &[u32],
        watch: &[(u32, u32)],
        once: bool,
    ) -> Poll<SetWait> {
        let mut table = ResourceTable::new();
        let watch: Vec<(u32, Resource<DynPollable>)> =
            watch.iter().map(|&(k, rep)| (k, Resource::new_borrow(rep))).collect();
        let node = pollables.node;
        let wait = || {
            if once {
                let now = sim.lock().now();
                Wait::Until(crate::wasi::clocks::timer(node, sim, &mut Default::default(), now))
            } else {
                Wait::Forever
            }
        };
        let future = pin!(wait_set(&mut table, pollables, sim, unwatch, &watch, wait));
        future.poll(&mut Context::from_waker(Waker::noop()))
    }

    fn registered(pollables: &mut Pollables, rep: u32, readiness: Arc<dyn Readiness>) {
        let edge = readiness.edge();
        pollables.register(rep, Source::Shared(readiness), edge);
    }

    #[test]
    fn a_watched_pollable_is_reported_while_ready_and_only_while_watched() {
        let sim = SimHandle::new(Sim::new(SimConfig { instances: 1, ..SimConfig::default() }));
        let mut pollables = Pollables::new(NodeId(0));
        registered(&mut pollables, 4, Arc::new(Always));
        let switch = Arc::new(Switch(AtomicBool::new(false)));
        registered(&mut pollables, 5, switch.clone());
        // Level-triggered: reported on every wait while ready.
        assert_eq!(wait_once(&mut pollables, &sim, &[], &[(7, 4), (2, 5)], true), Poll::Ready(SetWait::Ready(vec![7])));
        assert_eq!(wait_once(&mut pollables, &sim, &[], &[], true), Poll::Ready(SetWait::Ready(vec![7])));
        // Unwatched: no longer reported; with nothing ready and no timeout, the wait waits.
        assert_eq!(wait_once(&mut pollables, &sim, &[7], &[], false), Poll::Pending);
        // The switch was checked and found not ready; its readiness without a
        // wake is not seen (edge), with one it is, in key order.
        switch.0.store(true, Ordering::Relaxed);
        assert_eq!(wait_once(&mut pollables, &sim, &[], &[], true), Poll::Ready(SetWait::Ready(vec![])));
        if let Some(edge) = &pollables.entry_mut(5).unwrap().edge {
            Waker::from(edge.wake.clone()).wake();
        }
        assert_eq!(wait_once(&mut pollables, &sim, &[], &[(1, 4)], true), Poll::Ready(SetWait::Ready(vec![1, 2])));
    }

    #[test]
    fn a_dropped_pollable_is_reported_once_and_an_unknown_one_refused() {
        let sim = SimHandle::new(Sim::new(SimConfig { instances: 1, ..SimConfig::default() }));
        let mut pollables = Pollables::new(NodeId(0));
        registered(&mut pollables, 4, Arc::new(Always));
        registered(&mut pollables, 6, Arc::new(Always));
        assert_eq!(
            wait_once(&mut pollables, &sim, &[], &[(3, 4), (9, 6)], true),
            Poll::Ready(SetWait::Ready(vec![3, 9]))
        );
        pollables.forget(6);
        assert_eq!(wait_once(&mut pollables, &sim, &[], &[], true), Poll::Ready(SetWait::Dropped(vec![9])));
        assert_eq!(wait_once(&mut pollables, &sim, &[], &[], true), Poll::Ready(SetWait::Ready(vec![3])));
        // A key watched again in the same call is not reported dropped.
        registered(&mut pollables, 8, Arc::new(Always));
        pollables.forget(4);
        assert_eq!(wait_once(&mut pollables, &sim, &[], &[(3, 8)], true), Poll::Ready(SetWait::Ready(vec![3])));
        // Changes only: nothing is checked.
        {
            let mut table = ResourceTable::new();
            let future = pin!(wait_set(&mut table, &mut pollables, &sim, &[], &[], || Wait::Once));
            assert_eq!(future.poll(&mut Context::from_waker(Waker::noop())), Poll::Ready(SetWait::Ready(vec![])));
        }
        // Pollable 11 is not registered with the host: nothing changes.
        assert_eq!(wait_once(&mut pollables, &sim, &[3], &[(5, 11)], true), Poll::Ready(SetWait::Unsupported));
        assert_eq!(wait_once(&mut pollables, &sim, &[], &[], true), Poll::Ready(SetWait::Ready(vec![3])));
    }
}
