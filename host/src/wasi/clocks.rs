//! `wasi:clocks` on virtual time.
//!
//! The monotonic clock reads the run's virtual clock; the wall clock is a fixed
//! epoch plus virtual time. `subscribe-duration` and `subscribe-instant` are
//! netsim timers: a sleeping instance costs nothing until the simulation
//! reaches its deadline, and a simulated hour takes no wall time. wasmtime-wasi's
//! own clocks would sleep on real tokio timers, so they are never linked.

use crate::instance::InstanceState;
use crate::wasi::io::{PollReady, Pollables};
use netsim::{NodeId, Sim, SimHandle, SimTime, TimerId, WaitReason};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::p2::bindings::clocks::{monotonic_clock, wall_clock};
use wasmtime_wasi_io::poll::DynPollable;

/// Seconds since the Unix epoch at virtual time zero: 2024-01-01T00:00:00Z.
/// Fixed so that a plan printing the date prints the same thing every run.
pub const WALL_CLOCK_EPOCH_SECS: u64 = 1_704_067_200;

/// What the clock host functions need from an instance.
pub struct VirtualClock<'a> {
    node: NodeId,
    sim: &'a SimHandle,
    table: &'a mut ResourceTable,
    pollables: &'a mut Pollables,
    last: &'a mut LastTimer,
}

struct VirtualClocks;

impl HasData for VirtualClocks {
    type Data<'a> = VirtualClock<'a>;
}

fn view(state: &mut InstanceState) -> VirtualClock<'_> {
    let (node, sim, table, pollables, last) = state.timer_parts();
    VirtualClock { node, sim, table, pollables, last }
}

/// Adds the virtual `monotonic-clock` and `wall-clock` to `linker`.
pub fn add_to_linker(linker: &mut Linker<InstanceState>) -> anyhow::Result<()> {
    monotonic_clock::add_to_linker::<InstanceState, VirtualClocks>(linker, view)?;
    wall_clock::add_to_linker::<InstanceState, VirtualClocks>(linker, view)?;
    Ok(())
}

/// A pollable that becomes ready when virtual time reaches `until`.
pub struct Timer {
    node: NodeId,
    sim: SimHandle,
    until: SimTime,
    /// The wake at `until`, possibly shared with the instance's other timers
    /// for the same deadline.
    wake: Arc<TimerWake>,
}

impl Drop for Timer {
    /// A timer dropped before its deadline takes its wake out of the queue
    /// once no other timer shares it: nobody waits for it any more. Programs
    /// poll a socket with a timeout and drop the timer when data arrives
    /// first (wasi-libc's `poll` does so on every call), so most timers end
    /// this way; left in the queue, each would cost a heap entry until its
    /// deadline and an event then, for nothing. An ended instance drops its
    /// timers with its store, which cancels them too.
    fn drop(&mut self) {
        let cancel = {
            let mut state = self.wake.state.lock().unwrap_or_else(|e| e.into_inner());
            state.live -= 1;
            if state.live == 0 { state.scheduled.take() } else { None }
        };
        if let Some(timer) = cancel {
            self.sim.lock().cancel_timer(timer);
        }
    }
}

/// The one event the timers of an instance with the same deadline share.
///
/// A program that waits in a loop towards one deadline (serve until `t`, wait
/// for responses until the first RPC timeout) creates a new timer on every
/// call, each for the same `t`; they share one wake, so the event queue holds
/// one event per deadline instead of one per call.
pub(crate) struct TimerWake {
    until: SimTime,
    state: Mutex<WakeState>,
}

#[derive(Default)]
struct WakeState {
    /// Timers alive that wait for this wake.
    live: usize,
    /// The wake's event, while one is in the queue.
    scheduled: Option<TimerId>,
}

/// An instance's most recent timer wakes, for the next timers with the same
/// deadlines. A few, not one: a lookup alternates between the deadline of its
/// next RPC timeout and its overall one.
#[derive(Default)]
pub(crate) struct LastTimer(Vec<Arc<TimerWake>>);

/// How many recent wakes an instance keeps for reuse.
const RECENT_WAKES: usize = 4;

impl PollReady for Timer {
    fn poll_ready(&mut self, sim: &mut Sim, cx: &mut Context<'_>) -> Poll<()> {
        if sim.now() >= self.until {
            return Poll::Ready(());
        }
        // One event per deadline: the waker is always this instance's task waker.
        let mut state = self.wake.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.scheduled.is_none() {
            state.scheduled = Some(sim.wake_at(self.node, self.until, cx.waker().clone()));
        }
        sim.add_wait(self.node, WaitReason::Timer { until: self.until });
        Poll::Pending
    }
}

crate::pollable_via_poll_ready!(Timer, this => this.sim);

/// A timer of instance `node` for `until`, sharing the wake of a recent timer
/// for the same deadline.
pub(crate) fn timer(node: NodeId, sim: &SimHandle, last: &mut LastTimer, until: SimTime) -> Timer {
    let recent = &mut last.0;
    let wake = match recent.iter().find(|w| w.until == until) {
        Some(wake) => wake.clone(),
        None => {
            let wake = Arc::new(TimerWake { until, state: Mutex::default() });
            if recent.len() == RECENT_WAKES {
                recent.remove(0);
            }
            recent.push(wake.clone());
            wake
        }
    };
    wake.state.lock().unwrap_or_else(|e| e.into_inner()).live += 1;
    Timer { node, sim: sim.clone(), until, wake }
}

impl VirtualClock<'_> {
    fn timer(&mut self, until: SimTime) -> wasmtime::Result<Resource<DynPollable>> {
        let timer = timer(self.node, self.sim, self.last, until);
        let timer = self.table.push(timer)?;
        crate::wasi::io::subscribe(self.table, self.pollables, timer)
    }
}

impl monotonic_clock::Host for VirtualClock<'_> {
    fn now(&mut self) -> wasmtime::Result<u64> {
        Ok(self.sim.lock().now().as_nanos())
    }

    fn resolution(&mut self) -> wasmtime::Result<u64> {
        Ok(1)
    }

    fn subscribe_instant(&mut self, when: u64) -> wasmtime::Result<Resource<DynPollable>> {
        self.timer(SimTime::from_nanos(when))
    }

    fn subscribe_duration(&mut self, duration: u64) -> wasmtime::Result<Resource<DynPollable>> {
        let until = self.sim.lock().now() + Duration::from_nanos(duration);
        self.timer(until)
    }
}

impl wall_clock::Host for VirtualClock<'_> {
    fn now(&mut self) -> wasmtime::Result<wall_clock::Datetime> {
        let nanos = self.sim.lock().now().as_nanos();
        Ok(wall_clock::Datetime {
            seconds: WALL_CLOCK_EPOCH_SECS + nanos / 1_000_000_000,
            nanoseconds: (nanos % 1_000_000_000) as u32,
        })
    }

    fn resolution(&mut self) -> wasmtime::Result<wall_clock::Datetime> {
        Ok(wall_clock::Datetime { seconds: 0, nanoseconds: 1 })
    }
}
