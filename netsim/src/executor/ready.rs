//! The executor's ready queue: which tasks to poll next, in the order they
//! were woken, each at most once.
//!
//! Every wake of a run happens on the thread that drives it, in the middle
//! of a task's poll or an event's processing (see the executor's module
//! documentation), so a wake there takes no lock: it appends to a queue that
//! only the driving thread touches. A lock taken and released per wake is two
//! atomic read-modify-writes, and each waits for every memory write before it
//! to drain from the store buffer: with the executor's own pop, four per
//! wake. (Alone, dropping them moved that wait to the next atomic; with the
//! simulation's own lock gone too, see `sim::cell`, a TCP transfer in `cargo
//! bench -p netsim --bench packets` took 12% less time.)
//!
//! A [`Waker`](std::task::Waker) is `Send + Sync`, though, and whoever holds
//! one may wake it from anywhere, or while no run is driven (the executor
//! queues the tasks it spawns that way): such wakes go to a locked queue,
//! which the driving thread moves, in order, onto its own before its next pop.
//! The queue does not know what a task is; it holds their numbers.

use crate::driver::DriverMark;
use std::cell::UnsafeCell;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Default)]
pub(super) struct ReadyQueue {
    /// The thread driving the run, while [`ReadyQueue::drive`]'s guard lives.
    driver: DriverMark,
    /// Touched only by the driving thread.
    local: UnsafeCell<Ready>,
    /// Wakes from anywhere else, in the order they came.
    remote: Mutex<Vec<u32>>,
    /// Whether `remote` may hold any: read once per pop, without its lock.
    remote_waiting: AtomicBool,
}

// SAFETY: `local` is only reached through `ReadyQueue::driven_here`, which
// gives it only to the thread `driver` names. A thread is named only while a
// `Driving` guard of its own is alive, and `drive`'s contract keeps two
// threads from holding one for the same queue at once. Every other access
// goes through `remote`'s lock or an atomic.
unsafe impl Sync for ReadyQueue {}

#[derive(Default)]
struct Ready {
    queue: VecDeque<u32>,
    queued: Vec<bool>,
}

impl Ready {
    fn push(&mut self, id: u32) {
        let i = id as usize;
        if self.queued.len() <= i {
            self.queued.resize(i + 1, false);
        }
        if !self.queued[i] {
            self.queued[i] = true;
            self.queue.push_back(id);
        }
    }
}

/// While alive, this thread drives the queue's run: its wakes take no lock.
pub(super) struct Driving<'a> {
    /// `None` for a guard taken while this thread already drove the queue.
    queue: Option<&'a ReadyQueue>,
    /// Keeps the guard on the thread that took it.
    _here: std::marker::PhantomData<*const ()>,
}

impl Drop for Driving<'_> {
    fn drop(&mut self) {
        if let Some(queue) = self.queue {
            queue.driver.clear();
        }
    }
}

impl ReadyQueue {
    /// Marks this thread as the one driving the run until the guard drops.
    ///
    /// # Safety
    /// No other thread may drive this queue while the guard lives. The
    /// executor that owns the queue calls this only with `&mut` of itself.
    pub(super) unsafe fn drive(&self) -> Driving<'_> {
        if self.driver.is_here() {
            return Driving { queue: None, _here: std::marker::PhantomData };
        }
        self.driver.set_here();
        // Wakes made before the drive come before any made in it.
        self.take_remote();
        Driving { queue: Some(self), _here: std::marker::PhantomData }
    }

    /// Moves the wakes made elsewhere onto the driving thread's queue, in order.
    fn take_remote(&self) {
        let Some(local) = self.driven_here() else { return };
        if self.remote_waiting.load(Ordering::Acquire) {
            self.remote_waiting.store(false, Ordering::Relaxed);
            let mut remote = self.remote.lock().unwrap_or_else(|e| e.into_inner());
            for id in remote.drain(..) {
                local.push(id);
            }
        }
    }

    /// The queue of the run this thread drives, if it is this one's.
    #[inline]
    #[allow(clippy::mut_from_ref)]
    fn driven_here(&self) -> Option<&mut Ready> {
        if self.driver.is_here() {
            // SAFETY: see the `Sync` impl: only this thread reaches `local`
            // now, and no reference into it outlives the call that made it
            // (`push` and `pop` call nothing that could wake a task).
            Some(unsafe { &mut *self.local.get() })
        } else {
            None
        }
    }

    /// Queues task `id` unless it is already queued.
    pub(super) fn push(&self, id: u32) {
        if let Some(local) = self.driven_here() {
            local.push(id);
            return;
        }
        self.remote.lock().unwrap_or_else(|e| e.into_inner()).push(id);
        self.remote_waiting.store(true, Ordering::Release);
    }

    /// The next task to poll, on the driving thread.
    ///
    /// # Panics
    /// If this thread is not driving the run ([`ReadyQueue::drive`]).
    pub(super) fn pop(&self) -> Option<u32> {
        self.take_remote();
        let local = self.driven_here().expect("the ready queue is popped by the thread driving the run");
        let id = local.queue.pop_front()?;
        local.queued[id as usize] = false;
        Some(id)
    }

    /// Whether no task is queued, on the driving thread: exact there, since
    /// every wake of the run happens on it.
    pub(super) fn is_empty(&self) -> bool {
        let local = self.driven_here().expect("the ready queue is asked by the thread driving the run");
        local.queue.is_empty() && !self.remote_waiting.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn wakes_come_out_in_order_once_each_wherever_they_were_made() {
        let q = Arc::new(ReadyQueue::default());
        // Before the run is driven (as spawning does): through the lock.
        q.push(3);
        q.push(1);
        q.push(3);
        let shared = q.clone();
        std::thread::spawn(move || shared.push(7)).join().unwrap();
        // SAFETY: no other thread drives `q`.
        let _driving = unsafe { q.drive() };
        q.push(2);
        q.push(1);
        assert!(!q.is_empty());
        let order: Vec<u32> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(order, vec![3, 1, 7, 2], "spawned and foreign wakes first, in order, each once");
        assert!(q.is_empty());
        q.push(1);
        assert_eq!(q.pop(), Some(1), "a popped task can be queued again");
    }

    #[test]
    fn a_wake_from_another_thread_while_driven_takes_the_lock_and_is_not_lost() {
        let q = Arc::new(ReadyQueue::default());
        let shared = q.clone();
        // SAFETY: `shared` only pushes.
        let _driving = unsafe { q.drive() };
        std::thread::spawn(move || shared.push(5)).join().unwrap();
        assert!(!q.is_empty());
        assert_eq!(q.pop(), Some(5));
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn a_thread_that_does_not_drive_the_run_cannot_pop() {
        let q = ReadyQueue::default();
        {
            // SAFETY: one thread.
            let _driving = unsafe { q.drive() };
        }
        let popped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| q.pop()));
        assert!(popped.is_err(), "the guard has ended");
    }
}
