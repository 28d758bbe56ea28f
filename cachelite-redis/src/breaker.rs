//! A circuit breaker, so that a dead Redis costs one timeout rather than one
//! per call.
//!
//! Closed: calls go through; `threshold` failures in a row open it. Open:
//! calls are refused until `cooldown` has passed; then one call at a time is
//! let through as a probe (each probe re-arms the cooldown, so a probe whose
//! future is dropped cannot wedge it). A success closes it.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

#[derive(Debug)]
pub(crate) struct Breaker {
    threshold: u32,
    cooldown: Duration,
    failures: AtomicU32,
    open: AtomicBool,
    /// When the next probe may go: only read while open.
    retry_at: Mutex<Instant>,
}

impl Breaker {
    pub(crate) fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cooldown,
            failures: AtomicU32::new(0),
            open: AtomicBool::new(false),
            retry_at: Mutex::new(Instant::now()),
        }
    }

    /// Whether a call may go to Redis now.
    pub(crate) fn allow(&self) -> bool {
        if !self.open.load(Ordering::Acquire) {
            return true;
        }
        let mut at = self.retry_at.lock();
        let now = Instant::now();
        if now < *at {
            return false;
        }
        *at = now + self.cooldown;
        true
    }

    pub(crate) fn success(&self) {
        if self.failures.load(Ordering::Relaxed) != 0 || self.open.load(Ordering::Relaxed) {
            self.failures.store(0, Ordering::Relaxed);
            self.open.store(false, Ordering::Release);
        }
    }

    pub(crate) fn failure(&self) {
        let n = self
            .failures
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        if n >= self.threshold && !self.open.load(Ordering::Relaxed) {
            *self.retry_at.lock() = Instant::now() + self.cooldown;
            self.open.store(true, Ordering::Release);
        }
    }

    pub(crate) fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_and_probes_after_cooldown() {
        let b = Breaker::new(3, Duration::from_millis(30));
        b.failure();
        b.failure();
        assert!(b.allow() && !b.is_open());
        b.failure();
        assert!(b.is_open() && !b.allow());
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.allow(), "a probe after the cooldown");
        assert!(!b.allow(), "one probe at a time");
        b.failure();
        assert!(b.is_open());
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.allow());
        b.success();
        assert!(!b.is_open() && b.allow());
    }

    #[test]
    fn a_success_resets_the_count() {
        let b = Breaker::new(2, Duration::from_secs(60));
        b.failure();
        b.success();
        b.failure();
        assert!(!b.is_open());
    }
}
