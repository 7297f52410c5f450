//! The retransmission timeout: RFC 6298's estimator with exponential backoff.
//!
//! It only turns round-trip samples into a timeout; which segments may be
//! sampled (Karn's rule) is the connection's business.

use std::time::Duration;

/// Timeout before the first round-trip sample: RFC 6298's 1 s.
pub const INITIAL_RTO: Duration = Duration::from_secs(1);
/// Lower bound of the timeout: Linux's `TCP_RTO_MIN` (200 ms). RFC 6298 asks
/// for 1 s, but every mainstream stack uses less, and plans measure those.
pub const MIN_RTO: Duration = Duration::from_millis(200);
/// Upper bound of the timeout, backoff included: RFC 6298 allows 60 s.
pub const MAX_RTO: Duration = Duration::from_secs(60);

/// Smoothed round-trip time, its variation, and the backoff of the current timeout.
#[derive(Clone, Debug)]
pub(crate) struct Rtt {
    srtt: Option<Duration>,
    rttvar: Duration,
    rto: Duration,
    backoff: u32,
}

impl Default for Rtt {
    fn default() -> Rtt {
        Rtt { srtt: None, rttvar: Duration::ZERO, rto: INITIAL_RTO, backoff: 0 }
    }
}

impl Rtt {
    /// Folds in one measured round trip (RFC 6298 §2.2–2.3) and clears the backoff.
    pub(crate) fn sample(&mut self, r: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            Some(srtt) => {
                let delta = srtt.abs_diff(r);
                self.rttvar = self.rttvar * 3 / 4 + delta / 4;
                self.srtt = Some(srtt * 7 / 8 + r / 8);
            }
        }
        let srtt = self.srtt.unwrap_or(r);
        self.rto = (srtt + 4 * self.rttvar).clamp(MIN_RTO, MAX_RTO);
        self.backoff = 0;
    }

    /// The timeout to arm now, backoff included.
    pub(crate) fn rto(&self) -> Duration {
        self.rto.saturating_mul(1 << self.backoff.min(16)).min(MAX_RTO)
    }

    /// Doubles the timeout after it expired (RFC 6298 §5.5).
    pub(crate) fn back_off(&mut self) {
        self.backoff = self.backoff.saturating_add(1);
    }

    /// The smoothed round-trip time, once measured.
    pub(crate) fn srtt(&self) -> Option<Duration> {
        self.srtt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimator_follows_rfc_6298() {
        let mut rtt = Rtt::default();
        assert_eq!(rtt.rto(), INITIAL_RTO);
        rtt.sample(Duration::from_millis(100));
        // srtt 100, rttvar 50: 100 + 200 = 300 ms.
        assert_eq!(rtt.rto(), Duration::from_millis(300));
        rtt.back_off();
        rtt.back_off();
        assert_eq!(rtt.rto(), Duration::from_millis(1200));
        rtt.sample(Duration::from_millis(100));
        // rttvar 37.5, srtt 100: 250 ms, backoff cleared.
        assert_eq!(rtt.rto(), Duration::from_millis(250));
        for _ in 0..30 {
            rtt.back_off();
        }
        assert_eq!(rtt.rto(), MAX_RTO);
    }
}
