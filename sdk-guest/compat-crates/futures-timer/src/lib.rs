//! futures-timer 3.0's public API — [`Delay`] — on `tokio::time`, standing in
//! for the crate in tg-wasm plans through a `[patch.crates-io]` entry.
//!
//! Owns: when a `Delay` fires (at its deadline on the runtime's clock, which
//! tg-wasm makes virtual) and what it says when it cannot work (polled outside
//! a tokio runtime). Does not own: the timer itself (tokio's driver, which
//! waits for the next deadline in the runtime's `poll`) nor its resolution
//! (tokio rounds deadlines up to the next millisecond, as futures-timer's
//! helper thread fired "some granularity after" them).
//!
//! Upstream's `Delay` registers with a global timer on a helper thread spawned
//! on first use; `wasm32-wasip2` has no threads, so every delay is inert and
//! its first poll panics with "timer has gone away". See README.md for when
//! this crate can go.

#![deny(missing_docs)]

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// Where a deadline beyond what `Instant` can hold is put: 30 years on, as
/// futures-timer and tokio do.
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// What a `Delay` polled outside a tokio runtime panics with.
const NO_RUNTIME: &str = "futures_timer::Delay polled outside a tokio runtime: tg-wasm's futures-timer runs delays \
                          on tokio::time, so poll it (drive the swarm) inside a runtime with timers enabled, e.g. \
                          tokio::runtime::Builder::new_current_thread().enable_all()";

/// A future that completes once a duration has elapsed since it was created
/// (or last [reset](Delay::reset)).
///
/// The deadline is fixed when the `Delay` is made; the tokio timer is only
/// registered when it is first polled, so a `Delay` can be created outside a
/// runtime and polled inside one.
pub struct Delay {
    deadline: Instant,
    /// Boxed so that `Delay` is `Unpin`, as futures-timer's is (libp2p polls
    /// it through `&mut`).
    sleep: Option<Pin<Box<Sleep>>>,
}

impl Delay {
    /// Creates a future which will fire at `dur` time into the future.
    pub fn new(dur: Duration) -> Delay {
        Delay { deadline: deadline_after(dur), sleep: None }
    }

    /// Resets this delay to fire `dur` from now, whether or not it has fired.
    pub fn reset(&mut self, dur: Duration) {
        self.deadline = deadline_after(dur);
        if let Some(sleep) = &mut self.sleep {
            sleep.as_mut().reset(self.deadline);
        }
    }
}

fn deadline_after(dur: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(dur).unwrap_or_else(|| now + FAR_FUTURE)
}

impl Future for Delay {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if this.sleep.is_none() {
            // Due already: no timer to register (libp2p-identify's first
            // trigger is a zero delay).
            if Instant::now() >= this.deadline {
                return Poll::Ready(());
            }
            // tokio's own panic ("there is no reactor running") would come
            // from deep inside the timer, naming neither this crate nor why.
            if tokio::runtime::Handle::try_current().is_err() {
                panic!("{NO_RUNTIME}");
            }
            this.sleep = Some(Box::pin(tokio::time::sleep_until(this.deadline)));
        }
        match &mut this.sleep {
            Some(sleep) => sleep.as_mut().poll(cx),
            None => unreachable!("registered above"),
        }
    }
}

impl fmt::Debug for Delay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delay").finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap()
    }

    /// Polls `delay` once, from inside `rt`.
    fn poll_once(rt: &tokio::runtime::Runtime, delay: &mut Delay) -> Poll<()> {
        let _inside = rt.enter();
        Pin::new(delay).poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn fires_once_its_duration_has_elapsed() {
        let rt = runtime();
        let start = std::time::Instant::now();
        rt.block_on(Delay::new(Duration::from_millis(30)));
        assert!(start.elapsed() >= Duration::from_millis(30), "{:?}", start.elapsed());
    }

    #[test]
    fn is_pending_before_its_deadline() {
        let rt = runtime();
        let mut delay = Delay::new(Duration::from_secs(3600));
        assert!(poll_once(&rt, &mut delay).is_pending());
        assert!(poll_once(&rt, &mut delay).is_pending(), "and still after registering");
    }

    #[test]
    fn a_zero_delay_is_ready_at_the_first_poll() {
        let rt = runtime();
        assert!(poll_once(&rt, &mut Delay::new(Duration::ZERO)).is_ready());
    }

    #[test]
    fn reset_moves_the_deadline_from_now() {
        let rt = runtime();
        let start = std::time::Instant::now();
        let mut delay = Delay::new(Duration::from_millis(5));
        assert!(poll_once(&rt, &mut delay).is_pending(), "registered before the reset");
        delay.reset(Duration::from_millis(60));
        rt.block_on(&mut delay);
        assert!(start.elapsed() >= Duration::from_millis(60), "{:?}", start.elapsed());
    }

    #[test]
    fn reset_after_firing_arms_it_again() {
        let rt = runtime();
        let mut delay = Delay::new(Duration::from_millis(1));
        rt.block_on(&mut delay);
        delay.reset(Duration::from_secs(3600));
        assert!(poll_once(&rt, &mut delay).is_pending());
        delay.reset(Duration::ZERO);
        rt.block_on(&mut delay);
    }

    #[test]
    fn made_outside_a_runtime_it_fires_inside_one() {
        let delay = Delay::new(Duration::from_millis(10));
        runtime().block_on(delay);
    }

    #[test]
    fn an_endless_duration_is_far_away_not_a_panic() {
        let rt = runtime();
        let mut delay = Delay::new(Duration::MAX);
        assert!(poll_once(&rt, &mut delay).is_pending());
        delay.reset(Duration::MAX);
        assert!(poll_once(&rt, &mut delay).is_pending());
    }

    #[test]
    fn polled_outside_a_runtime_it_panics_naming_what_it_needs() {
        let mut delay = Delay::new(Duration::from_secs(1));
        let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _ = Pin::new(&mut delay).poll(&mut Context::from_waker(Waker::noop()));
        }))
        .unwrap_err();
        let message = panic.downcast_ref::<String>().expect("a formatted message");
        assert!(message.contains("tokio runtime"), "{message}");
        assert!(message.contains("enable_all"), "{message}");
    }

    #[test]
    fn has_the_auto_traits_and_debug_of_futures_timers_delay() {
        fn check<T: Send + Sync + Unpin + fmt::Debug + 'static>() {}
        check::<Delay>();
        assert_eq!(format!("{:?}", Delay::new(Duration::ZERO)), "Delay");
    }
}
