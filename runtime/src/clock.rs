//! Time as the server sees it. Everything time-dependent takes a [`Clock`] so
//! that expiry rules can be tested without sleeping.

use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, SecondsFormat, Utc};

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Millis;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Millis {
        Utc::now().timestamp_millis()
    }
}

/// A clock that only moves when told to (tests and the hook testkit).
#[derive(Debug)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(start: Millis) -> Self {
        Self(AtomicI64::new(start))
    }

    pub fn advance(&self, by: Millis) {
        self.0.fetch_add(by, Ordering::SeqCst);
    }

    pub fn set(&self, to: Millis) {
        self.0.store(to, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Millis {
        self.0.load(Ordering::SeqCst)
    }
}

/// A system time as milliseconds since the Unix epoch.
pub fn millis_since_epoch(time: std::time::SystemTime) -> Millis {
    time.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or_default()
}

/// Parse's date format: ISO 8601 in UTC with millisecond precision.
pub fn to_iso(ms: Millis) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn from_iso(iso: &str) -> Option<Millis> {
    DateTime::parse_from_rfc3339(iso)
        .ok()
        .map(|t| t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_round_trip_keeps_milliseconds() {
        let ms = 1_735_787_045_678;
        assert_eq!(to_iso(ms), "2025-01-02T03:04:05.678Z");
        assert_eq!(from_iso(&to_iso(ms)), Some(ms));
        assert_eq!(from_iso("yesterday"), None);
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(1000);
        assert_eq!(clock.now(), 1000);
        clock.advance(500);
        assert_eq!(clock.now(), 1500);
        clock.set(7);
        assert_eq!(clock.now(), 7);
    }
}
