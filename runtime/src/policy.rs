//! Session lifetime policy, independent of storage and HTTP.
//!
//! A session dies at the earlier of its absolute expiry (`created + length`)
//! and its idle expiry (`last use + idle timeout`). Recording every use would
//! turn each authenticated read into a write, so the last-use time is only
//! written when it is at least `touch_interval` old. The recorded time can lag
//! the real last use by at most that interval, which can only make a session
//! die earlier than its idle timeout, never later.

use crate::clock::Millis;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// Absolute lifetime (Parse's `sessionLength`).
    pub length: Millis,
    /// Inactivity timeout.
    pub idle_timeout: Millis,
    /// Minimum age of the recorded last use before it is written again.
    pub touch_interval: Millis,
    /// How long a rotated-out token is merely refused; after that, presenting
    /// it revokes every session of the user (reuse detection).
    pub reuse_grace: Millis,
}

/// The times that decide whether a session is alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetime {
    pub last_used_at: Millis,
    pub absolute_expires_at: Millis,
}

/// See [`SessionPolicy::dead_at`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadBounds {
    pub absolute: Millis,
    pub last_used: Millis,
}

/// What validation concluded about a session at a given instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    Expired,
    Alive,
    /// Alive, and the recorded last use is stale enough to be written.
    AliveTouch,
}

impl SessionPolicy {
    pub fn new(length: Millis, idle_timeout: Millis) -> Self {
        // A twentieth of the idle window, at most a minute: small enough that
        // the lag is negligible, large enough that hot tokens rarely write.
        let touch_interval = (idle_timeout / 20).clamp(1, 60_000);
        Self {
            length,
            idle_timeout,
            touch_interval,
            reuse_grace: 10_000,
        }
    }

    pub fn start(&self, now: Millis) -> Lifetime {
        Lifetime {
            last_used_at: now,
            absolute_expires_at: now.saturating_add(self.length),
        }
    }

    /// When the session dies if it is not used again: the `expiresAt` clients see.
    pub fn expires_at(&self, life: Lifetime) -> Millis {
        life.absolute_expires_at
            .min(life.last_used_at.saturating_add(self.idle_timeout))
    }

    /// Whether the session is alive at `now` (listings skip dead rows the
    /// sweeper has not purged yet).
    pub fn is_alive(&self, life: Lifetime, now: Millis) -> bool {
        now < self.expires_at(life)
    }

    /// [`Self::is_alive`] as bounds a query can test on the stored columns:
    /// a session is dead at `now` when its absolute expiry is at or before
    /// `absolute`, or its last use at or before `last_used` (the sweeper
    /// and the listings use these, so the rule is stated once).
    pub fn dead_at(&self, now: Millis) -> DeadBounds {
        DeadBounds {
            absolute: now,
            last_used: now.saturating_sub(self.idle_timeout),
        }
    }

    /// Rotated-out tokens older than this are forgotten: every session they
    /// could have belonged to has expired by then.
    pub fn forget_rotated_before(&self, now: Millis) -> Millis {
        now.saturating_sub(self.length)
    }

    pub fn check(&self, life: Lifetime, now: Millis) -> Validity {
        if !self.is_alive(life, now) {
            Validity::Expired
        } else if now - life.last_used_at >= self.touch_interval {
            Validity::AliveTouch
        } else {
            Validity::Alive
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Millis = 1000;

    #[test]
    fn idle_sessions_die_and_use_keeps_them_alive() {
        let policy = SessionPolicy::new(3600 * SEC, 10 * SEC);
        let mut life = policy.start(0);
        assert_eq!(policy.check(life, 9 * SEC), Validity::AliveTouch);
        life.last_used_at = 9 * SEC;
        assert_eq!(policy.check(life, 18 * SEC), Validity::AliveTouch);
        assert_eq!(policy.check(life, 19 * SEC), Validity::Expired);
    }

    #[test]
    fn use_never_extends_past_the_absolute_cap() {
        let policy = SessionPolicy::new(5 * SEC, 3 * SEC);
        let mut life = policy.start(0);
        life.last_used_at = 4 * SEC;
        assert_eq!(policy.expires_at(life), 5 * SEC);
        assert_eq!(policy.check(life, 5 * SEC), Validity::Expired);
    }

    #[test]
    fn recent_use_is_not_written_again() {
        let policy = SessionPolicy::new(3600 * SEC, 20 * SEC);
        assert_eq!(policy.touch_interval, SEC);
        let life = policy.start(0);
        assert_eq!(policy.check(life, 999), Validity::Alive);
        assert_eq!(policy.check(life, SEC), Validity::AliveTouch);
    }

    #[test]
    fn huge_settings_do_not_overflow() {
        let policy = SessionPolicy::new(Millis::MAX, Millis::MAX);
        let life = policy.start(1);
        assert_eq!(policy.check(life, 2), Validity::Alive);
        assert_eq!(policy.touch_interval, 60_000);
    }

    proptest::proptest! {
        /// The bounds the sweeper and the listings query by say exactly
        /// what `is_alive` says, for any lifetime and instant.
        #[test]
        fn dead_bounds_state_the_same_rule_as_is_alive(
            idle in 1i64..1_000_000,
            last_used in 0i64..2_000_000,
            absolute in 0i64..2_000_000,
            now in 0i64..2_000_000,
        ) {
            let policy = SessionPolicy::new(1_000_000, idle);
            let life = Lifetime { last_used_at: last_used, absolute_expires_at: absolute };
            let dead = policy.dead_at(now);
            let dead_by_bounds = absolute <= dead.absolute || last_used <= dead.last_used;
            proptest::prop_assert_eq!(dead_by_bounds, !policy.is_alive(life, now));
        }
    }
}
