//! Per-recipient request rate limits: a token bucket per recipient, per gateway process.
//!
//! Each replica behind a load balancer keeps its own buckets, so N replicas admit up to N
//! times the configured rate in total; round-robin spreads a recipient evenly, so set the
//! limit to the per-replica share.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use lakeshare_catalog::RateLimitConfig;

/// A token bucket: refills at `rate` per second up to `capacity`; a request takes one.
#[derive(Debug)]
pub struct Bucket {
    rate: f64,
    capacity: f64,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    pub fn new(config: RateLimitConfig) -> Self {
        let capacity = config
            .burst
            .map_or(config.requests_per_second.ceil().max(1.0), f64::from);
        Self {
            rate: config.requests_per_second,
            capacity,
            state: Mutex::new(State {
                tokens: capacity,
                at: Instant::now(),
            }),
        }
    }

    /// Whether `other` enforces the same limit.
    pub fn same_limit(&self, other: &Bucket) -> bool {
        self.rate == other.rate && self.capacity == other.capacity
    }

    /// Takes one request's token, or says how long until one is there.
    pub fn take(&self) -> Result<(), Duration> {
        self.take_at(Instant::now())
    }

    fn take_at(&self, now: Instant) -> Result<(), Duration> {
        let mut state = self.state.lock().expect("not poisoned");
        // `now` was read before the lock: under contention an earlier reading may come later,
        // and must not move the bucket's clock back (which would refill it twice).
        let now = now.max(state.at);
        let elapsed = now.duration_since(state.at).as_secs_f64();
        state.tokens = (state.tokens + elapsed * self.rate).min(self.capacity);
        state.at = now;
        if state.tokens >= 1.0 {
            state.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - state.tokens) / self.rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_admitted_then_the_rate() {
        let bucket = Bucket::new(RateLimitConfig {
            requests_per_second: 2.0,
            burst: Some(3),
        });
        let start = Instant::now();
        for _ in 0..3 {
            assert!(bucket.take_at(start).is_ok());
        }
        let wait = bucket.take_at(start).unwrap_err();
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-9, "{wait:?}");
        assert!(bucket.take_at(start + Duration::from_millis(500)).is_ok());
        assert!(bucket.take_at(start + Duration::from_millis(500)).is_err());
        // A long quiet spell refills to the burst, no more.
        let later = start + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(bucket.take_at(later).is_ok());
        }
        assert!(bucket.take_at(later).is_err());
    }
}
