//! Which thread drives a run, and a way to ask "this one?" that costs no
//! atomic read-modify-write.
//!
//! A run is driven by one thread at a time (the executor's, see
//! [`crate::executor`]), and everything that happens in it happens on that
//! thread, while it drives. The ready queue and the simulation's lock use
//! that: on the driving thread they skip the locks that other threads need.
//! A lock taken and released is two atomic read-modify-writes, and each
//! waits for every memory write before it to drain from the store buffer; a
//! run takes several per event. What this module does not do is decide who
//! may drive: its users make sure no two threads claim one mark at once.

use std::sync::atomic::{AtomicUsize, Ordering};

/// An address unique to the calling thread among the threads alive.
#[inline]
fn this_thread() -> usize {
    thread_local! {
        static MARK: u8 = const { 0 };
    }
    MARK.with(|mark| std::ptr::from_ref(mark).addr())
}

/// The thread driving something, if any.
#[derive(Debug, Default)]
pub(crate) struct DriverMark(AtomicUsize);

impl DriverMark {
    /// Whether the calling thread is the driver.
    ///
    /// A relaxed load is exact here: a thread sees its own writes in order,
    /// so the driver reads its own mark, and any other thread reads some
    /// thread's mark or none, never its own (it never wrote it).
    #[inline]
    pub(crate) fn is_here(&self) -> bool {
        self.0.load(Ordering::Relaxed) == this_thread()
    }

    /// Makes the calling thread the driver. The caller must make sure no
    /// other thread is the driver, or becomes it, until [`DriverMark::clear`].
    pub(crate) fn set_here(&self) {
        self.0.store(this_thread(), Ordering::Relaxed);
    }

    /// No thread is the driver any more.
    pub(crate) fn clear(&self) {
        self.0.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_thread_that_set_the_mark_is_the_driver() {
        let mark = DriverMark::default();
        assert!(!mark.is_here());
        mark.set_here();
        assert!(mark.is_here());
        std::thread::scope(|s| {
            s.spawn(|| assert!(!mark.is_here(), "another thread is not the driver"));
        });
        mark.clear();
        assert!(!mark.is_here());
    }
}
