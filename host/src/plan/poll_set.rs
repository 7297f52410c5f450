//! `tg:plan/poll-set`: the adapter from the WIT function onto the instance's
//! watch set. The watch set and the wait are `wasi:io`'s
//! ([`crate::wasi::io::poll::wait_set`]); this file only makes the timeout's
//! timer and translates the answer.

use crate::bindings::poll_set::{Deadline, Host, Waited};
use crate::instance::InstanceState;
use crate::wasi::clocks;
use crate::wasi::io::poll::{SetWait, Wait, wait_set};
use std::time::Duration;
use wasmtime::component::Resource;
use wasmtime_wasi_io::poll::DynPollable;

impl Host for InstanceState {
    async fn wait(
        &mut self,
        unwatch: Vec<u32>,
        watch: Vec<(u32, Resource<DynPollable>)>,
        deadline: Deadline,
    ) -> wasmtime::Result<Waited> {
        let (node, sim, table, pollables, last) = self.timer_parts();
        // The timer a `wasi:io/poll` caller would subscribe for its timeout,
        // so waits through the set and through a list schedule the same events.
        let timer = || match deadline {
            Deadline::None => Wait::Once,
            Deadline::Forever => Wait::Forever,
            Deadline::TimeoutNs(ns) => {
                let until = sim.lock().now() + Duration::from_nanos(ns);
                Wait::Until(clocks::timer(node, sim, last, until))
            }
        };
        Ok(match wait_set(table, pollables, sim, &unwatch, &watch, timer).await {
            SetWait::Ready(keys) => Waited::Ready(keys),
            SetWait::Dropped(keys) => Waited::Dropped(keys),
            SetWait::Unsupported => Waited::Unsupported,
        })
    }
}
