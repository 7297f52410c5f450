//! The lock around a run's [`Sim`], which costs nothing on the thread that
//! drives the run.
//!
//! Everything in a run touches the simulation: every host call of every
//! instance, every poll and every event, each through a short lock. The
//! thread that drives the run ([`crate::executor`]) holds the mutex for the
//! whole drive instead ([`SimCell::hold`]), and a lock it takes meanwhile
//! only checks that no other guard of its own is out, as a `RefCell` does:
//! no atomic read-modify-write, which would wait for every memory write
//! before it to drain. Another thread, or the driving one outside a drive,
//! takes the mutex as before; while a drive goes on, it waits until it ends
//! (nothing in a run needs another thread to look in meanwhile: a run's
//! progress is published for them, see [`super::Status`]).
//!
//! Two guards at once on one thread are a bug: with the mutex that was a
//! deadlock, here it is a panic that says so.

use super::Sim;
use crate::driver::DriverMark;
use std::cell::{Cell, UnsafeCell};
use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, MutexGuard};

/// A [`Sim`] behind a lock that is free on the driving thread.
pub(super) struct SimCell {
    /// Held by a guard on a thread that does not drive, or by the driving
    /// thread for as long as it drives.
    mutex: Mutex<()>,
    /// The thread holding `mutex` for a drive, if any.
    driver: DriverMark,
    /// Whether a guard is out on the driving thread; only it touches this.
    borrowed: Cell<bool>,
    sim: UnsafeCell<Sim>,
}

// SAFETY: `sim` is reached only through a `SimGuard`, and `borrowed` only on
// the driving thread. A guard exists only on a thread that holds `mutex`:
// through its own `MutexGuard`, or, on the driving thread, through the
// `SimLease` that holds it for the drive (`driver` names a thread only while
// its lease holds the mutex, see `hold`); there, `borrowed` keeps a second
// guard from coexisting with the first.
unsafe impl Sync for SimCell {}

impl SimCell {
    pub(super) fn new(sim: Sim) -> SimCell {
        SimCell {
            mutex: Mutex::new(()),
            driver: DriverMark::default(),
            borrowed: Cell::new(false),
            sim: UnsafeCell::new(sim),
        }
    }

    /// Exclusive access to the simulation until the guard drops.
    ///
    /// # Panics
    /// On the driving thread, if another guard of its is still out.
    #[inline]
    pub(super) fn lock(&self) -> SimGuard<'_> {
        if self.driver.is_here() {
            assert!(
                !self.borrowed.replace(true),
                "the simulation is locked twice on the thread driving the run (a guard held across a call that locks it)"
            );
            return SimGuard { cell: self, held: None };
        }
        // A poisoned lock means a host bug already panicked; the state is still usable for reporting.
        let held = self.mutex.lock().unwrap_or_else(|e| e.into_inner());
        SimGuard { cell: self, held: Some(held) }
    }

    /// Holds the lock for the calling thread until the lease drops, during
    /// which its own [`SimCell::lock`]s cost no atomic operation. A lease
    /// taken while the thread already holds one does nothing.
    ///
    /// # Panics
    /// If the calling thread holds a guard (it would wait for itself).
    pub(super) fn hold(&self) -> SimLease<'_> {
        if self.driver.is_here() {
            assert!(!self.borrowed.get(), "a drive begun while the simulation is locked on its thread");
            return SimLease { cell: self, held: None };
        }
        let held = self.mutex.lock().unwrap_or_else(|e| e.into_inner());
        // Only a thread holding the mutex names itself the driver, so no
        // other thread does until the lease clears it.
        self.driver.set_here();
        SimLease { cell: self, held: Some(held) }
    }
}

/// Exclusive access to the [`Sim`]; never hold one across an `.await`.
pub struct SimGuard<'a> {
    cell: &'a SimCell,
    /// The mutex, held by this guard; `None` on the driving thread, where a lease holds it.
    held: Option<MutexGuard<'a, ()>>,
}

impl Deref for SimGuard<'_> {
    type Target = Sim;

    #[inline]
    fn deref(&self) -> &Sim {
        // SAFETY: a guard is the only way to `sim`, and only one exists at a time (see `SimCell`'s `Sync`).
        unsafe { &*self.cell.sim.get() }
    }
}

impl DerefMut for SimGuard<'_> {
    #[inline]
    fn deref_mut(&mut self) -> &mut Sim {
        // SAFETY: as for `deref`, and `&mut self` keeps this the only reference made through this guard.
        unsafe { &mut *self.cell.sim.get() }
    }
}

impl Drop for SimGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        if self.held.is_none() {
            self.cell.borrowed.set(false);
        }
    }
}

/// The driving thread's hold on the simulation's lock (see [`SimCell::hold`]).
pub struct SimLease<'a> {
    cell: &'a SimCell,
    /// `None` for a lease taken while the thread already held one.
    held: Option<MutexGuard<'a, ()>>,
}

impl Drop for SimLease<'_> {
    fn drop(&mut self) {
        if self.held.is_some() {
            // Before the mutex is released (after this body): no thread may
            // find itself named once another can take the lock.
            self.cell.driver.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SimConfig;
    use std::sync::Arc;
    use std::time::Duration;

    fn cell() -> Arc<SimCell> {
        Arc::new(SimCell::new(Sim::new(SimConfig { instances: 1, ..SimConfig::default() })))
    }

    #[test]
    fn guards_on_the_driving_thread_come_one_at_a_time() {
        let cell = cell();
        let lease = cell.hold();
        let first = cell.lock();
        let second = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cell.lock().now()));
        assert!(second.is_err(), "a second guard while one is out");
        drop(first);
        assert_eq!(cell.lock().now(), crate::SimTime::ZERO, "the first one gone, the next is fine");
        drop(lease);
        assert_eq!(cell.lock().now(), crate::SimTime::ZERO, "after the drive, through the mutex");
    }

    #[test]
    fn another_thread_waits_for_the_drive_to_end() {
        let cell = cell();
        let lease = cell.hold();
        let other = cell.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let now = other.lock().now();
            tx.send(now).unwrap();
        });
        assert!(rx.recv_timeout(Duration::from_millis(100)).is_err(), "locked out while the drive holds the lock");
        drop(lease);
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), crate::SimTime::ZERO);
        waiter.join().unwrap();
    }

    #[test]
    fn a_drive_within_a_drive_keeps_the_lock_until_the_outer_one_ends() {
        let cell = cell();
        let outer = cell.hold();
        drop(cell.hold());
        assert!(cell.driver.is_here(), "the inner lease did not end the outer one");
        drop(cell.lock());
        drop(outer);
        assert!(!cell.driver.is_here());
    }
}
