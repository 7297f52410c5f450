//! `wasi:io/poll`: waiting on many pollables at the cost of checking each.
//!
//! A poll whose pollables are all registered ([`super::Source`]) locks the
//! simulation once per check and asks each source in place; when none is
//! ready, every pending source has registered the instance's task waker with
//! what it waits on (a socket, a timer, a sync reply), and the fiber sleeps
//! until one fires. A poll that includes a pollable the host did not make
//! (stdin, a file) is wasmtime-wasi-io's, unchanged.

use super::bindings::poll::{Host, HostPollable};
use super::{IoView, Pollables, Source};
use netsim::Sim;
use std::future::poll_fn;
use std::task::{Context, Poll, Waker};
use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi_io::bindings::wasi::io::poll as fallback;
use wasmtime_wasi_io::poll::DynPollable;

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
                    Some(edge) => {
                        edge.wake.rearm();
                        let waker = Waker::from(edge.wake.clone());
                        let ready = check(table, &entry.source, &mut sim, &mut Context::from_waker(&waker)).is_ready();
                        edge.armed = !ready;
                        ready
                    }
                    None => check(table, &entry.source, &mut sim, cx).is_ready(),
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
