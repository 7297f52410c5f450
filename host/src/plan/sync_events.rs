//! What an instance's sync activity tells an executor that waits on file
//! descriptors: "one of your operations got its reply, or a subscription you
//! watch got a message".
//!
//! A plan running tokio waits in mio, which waits in wasi-libc's `poll` over
//! file descriptors; a `tg:plan/sync` pollable is not one. So each instance
//! has one [`SyncEvents`], used as the [`Waker`] that its started operations
//! and watched subscriptions register with netsim: when one of them is woken,
//! the events' generation advances and every reader of the sync service's
//! control connection ([`crate::wasi::sockets::control`]) becomes readable.
//! The plan's executor wakes, reads the byte, and re-polls its sync futures,
//! which ask for their replies through ordinary `tg:plan/sync` calls.
//!
//! This module does not carry sync operations (they are `tg:plan/sync` calls)
//! and does not know sockets; it also keeps what the instance waits on through
//! it, so a deadlock report names the barrier, not the connection.

use netsim::WaitReason;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};

/// The sync events of one instance.
#[derive(Default)]
pub struct SyncEvents {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// How many times the events were raised; a reader has seen up to some generation.
    generation: u64,
    /// Tasks blocked until the generation passes what they have seen.
    readers: Vec<Waker>,
    /// What the instance waits on through these events, by who registered it.
    waits: Vec<(WaitKey, WaitReason)>,
}

/// Who registered a wait: a started operation or a watched subscription, by resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitKey {
    /// An `operation` resource.
    Operation(u32),
    /// A `subscription` resource.
    Subscription(u32),
}

impl SyncEvents {
    /// New events for one instance, and the waker that raises them.
    pub fn new() -> (Arc<SyncEvents>, Waker) {
        let events = Arc::new(SyncEvents::default());
        let waker = Waker::from(events.clone());
        (events, waker)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current generation: what a reader that is up to date has seen.
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Ready with the current generation once it passes `seen`; otherwise the
    /// task is woken when it does.
    pub fn poll_after(&self, seen: u64, cx: &mut Context<'_>) -> Poll<u64> {
        let mut inner = self.lock();
        if inner.generation > seen {
            return Poll::Ready(inner.generation);
        }
        if !inner.readers.iter().any(|w| w.will_wake(cx.waker())) {
            inner.readers.push(cx.waker().clone());
        }
        Poll::Pending
    }

    /// What the instance waits on through these events.
    pub fn waits(&self) -> Vec<WaitReason> {
        self.lock().waits.iter().map(|(_, r)| r.clone()).collect()
    }

    /// Notes (or, with `None`, forgets) what `key` waits on.
    pub fn set_wait(&self, key: WaitKey, reason: Option<WaitReason>) {
        let mut inner = self.lock();
        inner.waits.retain(|(k, _)| *k != key);
        if let Some(reason) = reason {
            inner.waits.push((key, reason));
        }
    }

    fn raise(&self) {
        let readers = {
            let mut inner = self.lock();
            inner.generation += 1;
            std::mem::take(&mut inner.readers)
        };
        for reader in readers {
            reader.wake();
        }
    }
}

impl Wake for SyncEvents {
    fn wake(self: Arc<Self>) {
        self.raise();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.raise();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_reader_is_woken_once_per_raise_and_sees_the_new_generation() {
        let (events, waker) = SyncEvents::new();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let reader = Waker::from(count.clone());
        let mut cx = Context::from_waker(&reader);
        let seen = events.generation();
        assert!(events.poll_after(seen, &mut cx).is_pending());
        assert!(events.poll_after(seen, &mut cx).is_pending(), "polling twice registers once");
        waker.wake_by_ref();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(events.poll_after(seen, &mut cx), Poll::Ready(seen + 1));
        waker.wake_by_ref();
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "a reader that did not poll again is not woken again");
    }

    #[test]
    fn two_readers_each_see_a_raise() {
        let (events, waker) = SyncEvents::new();
        let seen = events.generation();
        waker.wake_by_ref();
        let mut cx = Context::from_waker(Waker::noop());
        assert!(events.poll_after(seen, &mut cx).is_ready());
        assert!(events.poll_after(seen, &mut cx).is_ready(), "one reader's read does not hide it from another");
    }

    #[test]
    fn waits_are_kept_by_key() {
        let (events, _) = SyncEvents::new();
        let barrier = WaitReason::Barrier { state: "s".into(), target: 3 };
        events.set_wait(WaitKey::Operation(1), Some(barrier.clone()));
        events.set_wait(WaitKey::Subscription(1), Some(WaitReason::Subscription { topic: "t".into(), cursor: 0 }));
        events.set_wait(WaitKey::Subscription(1), None);
        assert_eq!(events.waits(), vec![barrier]);
    }
}
