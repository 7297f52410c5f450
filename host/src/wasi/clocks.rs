//! `wasi:clocks` on virtual time.
//!
//! The monotonic clock reads the run's virtual clock; the wall clock is a fixed
//! epoch plus virtual time. `subscribe-duration` and `subscribe-instant` are
//! netsim timers: a sleeping instance costs nothing until the simulation
//! reaches its deadline, and a simulated hour takes no wall time. wasmtime-wasi's
//! own clocks would sleep on real tokio timers, so they are never linked.

use crate::instance::InstanceState;
use netsim::{NodeId, SimHandle, SimTime, WaitReason};
use std::future::poll_fn;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Poll, Wake, Waker};
use std::time::Duration;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::p2::bindings::clocks::{monotonic_clock, wall_clock};
use wasmtime_wasi_io::poll::{DynPollable, Pollable, subscribe};

/// Seconds since the Unix epoch at virtual time zero: 2024-01-01T00:00:00Z.
/// Fixed so that a plan printing the date prints the same thing every run.
pub const WALL_CLOCK_EPOCH_SECS: u64 = 1_704_067_200;

/// What the clock host functions need from an instance.
pub struct VirtualClock<'a> {
    node: NodeId,
    sim: &'a SimHandle,
    table: &'a mut ResourceTable,
}

struct VirtualClocks;

impl HasData for VirtualClocks {
    type Data<'a> = VirtualClock<'a>;
}

fn view(state: &mut InstanceState) -> VirtualClock<'_> {
    let (node, sim, table) = state.clock_parts();
    VirtualClock { node, sim, table }
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
    /// The wake scheduled for `until`, once the timer has been polled.
    scheduled: Option<Arc<TimerWake>>,
}

impl Timer {
    /// A timer for `node` firing at `until`.
    pub fn new(node: NodeId, sim: SimHandle, until: SimTime) -> Timer {
        Timer { node, sim, until, scheduled: None }
    }
}

impl Drop for Timer {
    /// A timer dropped before its deadline no longer wakes its instance. Programs
    /// poll a socket with a timeout and drop the timer when data arrives first
    /// (wasi-libc's `poll` does so on every call); waking the instance for each
    /// of those stale deadlines would resume it for nothing, which in a
    /// 5000-node DHT run was about as many wakes as packets.
    fn drop(&mut self) {
        if let Some(wake) = &self.scheduled {
            wake.live.store(false, Ordering::Relaxed);
        }
    }
}

/// The waker a timer's event carries: the instance's, unless the timer is gone.
struct TimerWake {
    waker: Waker,
    live: AtomicBool,
}

impl Wake for TimerWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.live.load(Ordering::Relaxed) {
            self.waker.wake_by_ref();
        }
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Timer {
    async fn ready(&mut self) {
        poll_fn(|cx| {
            let mut sim = self.sim.lock();
            if sim.now() >= self.until {
                return Poll::Ready(());
            }
            // One event per timer: the waker is always this instance's task waker.
            if self.scheduled.is_none() {
                let wake = Arc::new(TimerWake { waker: cx.waker().clone(), live: AtomicBool::new(true) });
                sim.wake_at(self.node, self.until, Waker::from(wake.clone()));
                self.scheduled = Some(wake);
            }
            sim.add_wait(self.node, WaitReason::Timer { until: self.until });
            Poll::Pending
        })
        .await
    }
}

impl VirtualClock<'_> {
    fn timer(&mut self, until: SimTime) -> wasmtime::Result<Resource<DynPollable>> {
        let timer = self.table.push(Timer::new(self.node, self.sim.clone(), until))?;
        subscribe(self.table, timer)
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
