//! Failures counted in a window, and the back-off they earn: the arithmetic
//! of the login throttle ([`crate::auth::throttle`]), apart from where its
//! counts are kept (the store, so that every node shares them).

use crate::clock::Millis;

/// The first wait once the free failures are spent; it doubles with each
/// further failure, up to [`BACKOFF_MAX`].
pub const BACKOFF_BASE: Millis = 1000;
pub const BACKOFF_MAX: Millis = 15 * 60 * 1000;

/// The failures of one account or address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Failures {
    /// Start of the current counting window, and failures in it.
    pub window_start: Millis,
    pub in_window: u32,
    /// Failures since the last success.
    pub consecutive: u32,
    pub last: Millis,
}

impl Failures {
    /// Counts a failure at `now` in windows of `window`.
    pub fn record(&mut self, now: Millis, window: Millis) {
        if now - self.window_start >= window {
            self.window_start = now;
            self.in_window = 0;
        }
        self.in_window = self.in_window.saturating_add(1);
        self.consecutive = self.consecutive.saturating_add(1);
        self.last = now;
    }

    /// When the next attempt is allowed, if not now: after the window when
    /// `max` failures filled it, and (with `free` failures allowed before
    /// back-off starts) after the back-off the consecutive failures earned.
    pub fn blocked_until(
        &self,
        now: Millis,
        window: Millis,
        max: u32,
        free: Option<u32>,
    ) -> Option<Millis> {
        let window_end = self.window_start + window;
        if self.in_window >= max && now < window_end {
            return Some(window_end);
        }
        let free = free?;
        if self.consecutive <= free {
            return None;
        }
        let exponent = (self.consecutive - free - 1).min(20);
        let wait = (BACKOFF_BASE << exponent).min(BACKOFF_MAX);
        let until = self.last + wait;
        (now < until).then_some(until)
    }
}
