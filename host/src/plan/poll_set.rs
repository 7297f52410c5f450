//! `tg:plan/poll-set`: the adapter from the WIT functions onto the instance's
//! watch set. The watch set and the wait are `wasi:io`'s
//! ([`crate::wasi::io::poll::wait_set`]); this file only makes the timeout's
//! timer and translates the answer, in a list (`wait`) or in place
//! (`wait-in-place`).

use crate::bindings::poll_set::{Deadline, FewKeys, Host, Waited, WaitedInPlace};
use crate::instance::InstanceState;
use crate::wasi::clocks;
use crate::wasi::io::poll::{SetWait, Wait, wait_set};
use std::time::Duration;
use wasmtime::component::Resource;
use wasmtime_wasi_io::poll::DynPollable;

/// Ready keys `wait-in-place` answers in place (`few-keys`' tuple).
const IN_PLACE: usize = 4;

impl InstanceState {
    /// Applies `unwatch` and `watch` to the watch set and waits as `deadline` says.
    async fn wait_for(
        &mut self,
        unwatch: &[u32],
        watch: &[(u32, Resource<DynPollable>)],
        deadline: Deadline,
    ) -> SetWait {
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
        wait_set(table, pollables, sim, unwatch, watch, timer).await
    }
}

impl Host for InstanceState {
    async fn wait(
        &mut self,
        unwatch: Vec<u32>,
        watch: Vec<(u32, Resource<DynPollable>)>,
        deadline: Deadline,
    ) -> wasmtime::Result<Waited> {
        Ok(match self.wait_for(&unwatch, &watch, deadline).await {
            SetWait::Ready(keys) => Waited::Ready(keys),
            SetWait::Dropped(keys) => Waited::Dropped(keys),
            SetWait::Unsupported => Waited::Unsupported,
        })
    }

    async fn wait_in_place(
        &mut self,
        unwatch: Vec<u32>,
        watch: Vec<(u32, Resource<DynPollable>)>,
        deadline: Deadline,
    ) -> wasmtime::Result<WaitedInPlace> {
        Ok(match self.wait_for(&unwatch, &watch, deadline).await {
            SetWait::Ready(keys) if keys.len() <= IN_PLACE => {
                let mut few = [0; IN_PLACE];
                few[..keys.len()].copy_from_slice(&keys);
                WaitedInPlace::Few(FewKeys { count: keys.len() as u32, keys: few.into() })
            }
            SetWait::Ready(keys) => WaitedInPlace::Many(keys),
            SetWait::Dropped(keys) => WaitedInPlace::Dropped(keys),
            SetWait::Unsupported => WaitedInPlace::Unsupported,
        })
    }
}
