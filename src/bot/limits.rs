//! Per-user budgets of messages and button presses: a keyed token bucket
//! (governor) and the memory of whom we told to slow down. Both maps hold an
//! entry per user seen recently; [`UserLimits::prune`] drops the idle ones
//! (a bucket full again, a warning older than its window), so a crowd of
//! one-time users does not stay in memory.

use std::num::NonZeroU32;
use std::time::Duration;

use dashmap::DashMap;
use governor::clock::{Clock, DefaultClock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};

/// How long a "slow down" reply covers: one per user per window.
pub const WARN_WINDOW: Duration = Duration::from_secs(10);

type Limiter<C> =
    RateLimiter<i64, DashMapStateStore<i64>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// Per-user rate limits; `C` is the clock (tests pass a manual one).
pub struct UserLimits<C: Clock = DefaultClock> {
    limiter: Limiter<C>,
    warned: DashMap<i64, C::Instant>,
    clock: C,
}

impl UserLimits {
    /// `per_minute` with bursts of `burst` per user (0 counts as 1).
    pub fn new(per_minute: u32, burst: u32) -> Self {
        Self::with_clock(per_minute, burst, DefaultClock::default())
    }
}

impl<C: Clock + Clone> UserLimits<C> {
    pub fn with_clock(per_minute: u32, burst: u32, clock: C) -> Self {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_minute(per_minute).allow_burst(burst);
        Self {
            limiter: RateLimiter::dashmap_with_clock(quota, clock.clone()),
            warned: DashMap::new(),
            clock,
        }
    }

    /// True when `user` is within their budget (and spends one unit of it).
    pub fn admit(&self, user: i64) -> bool {
        self.limiter.check_key(&user).is_ok()
    }

    /// Whether to tell a rate-limited user (at most once per [`WARN_WINDOW`]).
    pub fn should_warn(&self, user: i64) -> bool {
        let now = self.clock.now();
        let mut warn = false;
        self.warned
            .entry(user)
            .and_modify(|at| {
                if Duration::from(now.duration_since(*at)) > WARN_WINDOW {
                    *at = now;
                    warn = true;
                }
            })
            .or_insert_with(|| {
                warn = true;
                now
            });
        warn
    }

    /// Drops idle entries: buckets that are full again (indistinguishable
    /// from a user never seen) and warnings whose window has passed.
    pub fn prune(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
        let now = self.clock.now();
        self.warned
            .retain(|_, at| Duration::from(now.duration_since(*at)) <= WARN_WINDOW);
        self.warned.shrink_to_fit();
    }

    /// Users with a bucket in the limiter.
    pub fn limiter_keys(&self) -> usize {
        self.limiter.len()
    }

    /// Users remembered as warned.
    pub fn warned_users(&self) -> usize {
        self.warned.len()
    }
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    #[test]
    fn idle_entries_are_pruned_and_busy_ones_kept() {
        let clock = FakeRelativeClock::default();
        // 60 a minute: a spent unit comes back after a second.
        let limits = UserLimits::with_clock(60, 2, clock.clone());
        for user in 1..=1000 {
            assert!(limits.admit(user));
        }
        assert!(limits.admit(7));
        assert!(!limits.admit(7), "burst of 2 spent");
        assert!(limits.should_warn(7));
        assert!(!limits.should_warn(7), "once per window");
        assert_eq!((limits.limiter_keys(), limits.warned_users()), (1000, 1));

        // Nothing is idle yet: nothing goes.
        limits.prune();
        assert_eq!((limits.limiter_keys(), limits.warned_users()), (1000, 1));

        // 2.5 s later the one-time users' buckets are full again (governor
        // keeps a bucket one emission interval past that); user 7's (two
        // units spent) is not yet, and their warning is still in its window.
        clock.advance(Duration::from_millis(2500));
        limits.prune();
        assert_eq!((limits.limiter_keys(), limits.warned_users()), (1, 1));

        // Past the warning window everything is idle.
        clock.advance(WARN_WINDOW);
        limits.prune();
        assert_eq!((limits.limiter_keys(), limits.warned_users()), (0, 0));
        // A pruned user starts over with a full budget and a fresh warning.
        assert!(limits.admit(7));
        assert!(limits.admit(7));
        assert!(!limits.admit(7));
        assert!(limits.should_warn(7));
    }
}
