//! A circuit breaker that stops calling a failing cache.
//!
//! Closed: every call goes through; `failures` consecutive failures open it.
//! Open: calls are skipped until `cooldown` has passed. Then one probe goes
//! through (half-open); success closes the breaker, failure opens it again.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The breaker's state, as reported by `GET /v1/cache/stats`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls are skipped.
    Open,
    /// One probe is allowed (or under way).
    HalfOpen,
}

impl BreakerState {
    /// `closed`, `open` or `half_open`.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

/// Consecutive-failure circuit breaker.
#[derive(Debug)]
pub(crate) struct CircuitBreaker {
    threshold: u32,
    cooldown: Duration,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    failures: u32,
    opened_at: Option<Instant>,
    probing: bool,
}

impl CircuitBreaker {
    /// Opens after `threshold` consecutive failures, for `cooldown`.
    pub(crate) fn new(threshold: u32, cooldown: Duration) -> Self {
        CircuitBreaker {
            threshold: threshold.max(1),
            cooldown,
            inner: Mutex::new(Inner {
                failures: 0,
                opened_at: None,
                probing: false,
            }),
        }
    }

    /// May a call go to the cache now? In half-open state only one caller gets `true`.
    pub(crate) fn allow(&self) -> bool {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match inner.opened_at {
            None => true,
            Some(at) if at.elapsed() >= self.cooldown && !inner.probing => {
                inner.probing = true;
                true
            }
            Some(_) => false,
        }
    }

    /// A call succeeded: close.
    pub(crate) fn record_success(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.failures = 0;
        inner.opened_at = None;
        inner.probing = false;
    }

    /// A call failed: count it, and open (again) at the threshold or after a failed probe.
    pub(crate) fn record_failure(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.failures = inner.failures.saturating_add(1);
        if inner.probing || inner.failures >= self.threshold {
            inner.opened_at = Some(Instant::now());
            inner.probing = false;
        }
    }

    /// The current state.
    pub(crate) fn state(&self) -> BreakerState {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match inner.opened_at {
            None => BreakerState::Closed,
            Some(_) if inner.probing => BreakerState::HalfOpen,
            Some(at) if at.elapsed() >= self.cooldown => BreakerState::HalfOpen,
            Some(_) => BreakerState::Open,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_skips_probes_and_closes() {
        let breaker = CircuitBreaker::new(3, Duration::from_millis(30));
        for _ in 0..2 {
            assert!(breaker.allow());
            breaker.record_failure();
        }
        assert_eq!(breaker.state(), BreakerState::Closed);
        breaker.record_failure();
        assert_eq!(breaker.state(), BreakerState::Open);
        assert!(!breaker.allow(), "open breaker skips calls");
        std::thread::sleep(Duration::from_millis(40));
        assert!(breaker.allow(), "one probe after the cooldown");
        assert!(!breaker.allow(), "only one probe at a time");
        breaker.record_failure();
        assert_eq!(breaker.state(), BreakerState::Open, "failed probe reopens");
        std::thread::sleep(Duration::from_millis(40));
        assert!(breaker.allow());
        breaker.record_success();
        assert_eq!(breaker.state(), BreakerState::Closed);
        assert!(breaker.allow());
    }
}
