//! A circuit breaker: closed → open after `threshold` consecutive failures →
//! half-open (one probe) after `cooldown` → closed on success, open on failure.
//! Small and pure, so the gateway can own it as plain actor state.

use std::time::{Duration, Instant};

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    /// For the `subvisor_node_breaker_state` gauge.
    pub fn gauge(self) -> f64 {
        match self {
            BreakerState::Closed => 0.0,
            BreakerState::HalfOpen => 1.0,
            BreakerState::Open => 2.0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Breaker {
    state: BreakerState,
    consecutive_failures: u32,
    threshold: u32,
    cooldown: Duration,
    opened_at: Option<Instant>,
    probing: bool,
}

impl Breaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Self {
        Self {
            state: BreakerState::Closed,
            consecutive_failures: 0,
            threshold: threshold.max(1),
            cooldown,
            opened_at: None,
            probing: false,
        }
    }

    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// May a call go out now? While open, no; after the cooldown one probe may.
    pub fn allow(&mut self, now: Instant) -> bool {
        match self.state {
            BreakerState::Closed => true,
            BreakerState::Open => {
                let cooled = self
                    .opened_at
                    .is_none_or(|at| now.duration_since(at) >= self.cooldown);
                if cooled {
                    self.state = BreakerState::HalfOpen;
                    self.probing = true;
                }
                cooled
            }
            BreakerState::HalfOpen => {
                if self.probing {
                    false
                } else {
                    self.probing = true;
                    true
                }
            }
        }
    }

    pub fn on_success(&mut self) {
        self.state = BreakerState::Closed;
        self.consecutive_failures = 0;
        self.opened_at = None;
        self.probing = false;
    }

    pub fn on_failure(&mut self, now: Instant) {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.probing = false;
        let trip = match self.state {
            BreakerState::HalfOpen => true,
            BreakerState::Closed => self.consecutive_failures >= self.threshold,
            BreakerState::Open => false,
        };
        if trip {
            self.state = BreakerState::Open;
            self.opened_at = Some(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_and_probes_after_cooldown() {
        let t = Instant::now();
        let mut b = Breaker::new(3, Duration::from_secs(10));
        for _ in 0..2 {
            assert!(b.allow(t));
            b.on_failure(t);
        }
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.allow(t));
        b.on_failure(t);
        assert_eq!(b.state(), BreakerState::Open);
        assert!(
            !b.allow(t + Duration::from_secs(9)),
            "fails fast while open"
        );

        let later = t + Duration::from_secs(10);
        assert!(b.allow(later), "one probe after the cooldown");
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(!b.allow(later), "only one probe at a time");
        b.on_failure(later);
        assert_eq!(b.state(), BreakerState::Open, "a failed probe re-opens");
        assert!(!b.allow(later + Duration::from_secs(1)));

        let again = later + Duration::from_secs(10);
        assert!(b.allow(again));
        b.on_success();
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.allow(again));
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let t = Instant::now();
        let mut b = Breaker::new(2, Duration::from_secs(1));
        b.on_failure(t);
        b.on_success();
        b.on_failure(t);
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn the_gauge_tells_the_three_states_apart() {
        assert_eq!(BreakerState::Closed.gauge(), 0.0);
        assert_eq!(BreakerState::HalfOpen.gauge(), 1.0);
        assert_eq!(BreakerState::Open.gauge(), 2.0);
    }
}
