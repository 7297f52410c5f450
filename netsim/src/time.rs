//! Virtual time.
//!
//! [`SimTime`] is an instant on the run's virtual clock, in nanoseconds since the
//! run started. Durations are plain [`std::time::Duration`]s. Nothing here reads
//! the host's clock: virtual time only moves when the [`crate::Sim`] jumps to the
//! next event.

use std::fmt;
use std::ops::{Add, AddAssign};
use std::time::Duration;

/// An instant on the virtual clock: nanoseconds since the start of the run.
///
/// ```
/// use netsim::SimTime;
/// use std::time::Duration;
/// let t = SimTime::ZERO + Duration::from_millis(3);
/// assert_eq!(t.as_nanos(), 3_000_000);
/// assert_eq!(t.duration_since(SimTime::ZERO), Duration::from_millis(3));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct SimTime(u64);

impl SimTime {
    /// The start of every run.
    pub const ZERO: SimTime = SimTime(0);
    /// The furthest representable instant (about 584 years of virtual time).
    /// It is where a sum that overflows lands ([`SimTime::saturating_add`]),
    /// so nothing happens there: [`SimTime::LAST`] is the last instant an
    /// event is processed at.
    pub const MAX: SimTime = SimTime(u64::MAX);
    /// The end of virtual time: the last instant at which an event happens.
    /// A timer or a latency that would take an event past it (to
    /// [`SimTime::MAX`]) ends the run as a virtual timeout instead of piling
    /// every later event onto one instant.
    pub const LAST: SimTime = SimTime(u64::MAX - 1);

    /// The instant `nanos` nanoseconds after the start of the run.
    pub const fn from_nanos(nanos: u64) -> SimTime {
        SimTime(nanos)
    }

    /// Nanoseconds since the start of the run.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Time elapsed from `earlier` to `self`, zero if `earlier` is later.
    pub fn duration_since(self, earlier: SimTime) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// `self + d`, saturating at [`SimTime::MAX`] instead of overflowing.
    pub fn saturating_add(self, d: Duration) -> SimTime {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        SimTime(self.0.saturating_add(nanos))
    }
}

impl Add<Duration> for SimTime {
    type Output = SimTime;
    fn add(self, d: Duration) -> SimTime {
        self.saturating_add(d)
    }
}

impl AddAssign<Duration> for SimTime {
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}

impl fmt::Display for SimTime {
    /// Seconds with nanosecond precision, e.g. `12.000250000s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:09}s", self.0 / 1_000_000_000, self.0 % 1_000_000_000)
    }
}
