//! Login throttling, per account and per client address.
//!
//! Per account (the account an attempt resolves to, whichever of its
//! username or email it named; for an identifier that names no account, the
//! identifier, so unknown accounts are throttled like real ones): a few
//! failures are free, then each
//! further failure doubles the wait before the next attempt (1 s, 2 s, 4 s,
//! ... up to 15 min), and at most `max_per_hour` failures are accepted per
//! hour. A success resets the account. Per address: at most `ip_max`
//! failures per 15 minutes, whatever the accounts. While throttled, even the
//! right password is refused, so guessing cannot continue in the background.
//!
//! State is in memory (per process) and bounded in bytes: keys are SHA-256
//! digests, never the identifiers a client sent, and each map holds at most
//! [`MAX_ENTRIES`]; when full, quiet entries go first, then the oldest.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use crate::clock::Millis;

const HOUR: Millis = 3600 * 1000;
const IP_WINDOW: Millis = 15 * 60 * 1000;
const BACKOFF_BASE: Millis = 1000;
const BACKOFF_MAX: Millis = 15 * 60 * 1000;
/// Entries kept per map, at most (about 100 bytes each).
pub const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleConfig {
    /// Consecutive failures of an account before back-off starts.
    pub free_failures: u32,
    /// Failures accepted per account per hour.
    pub max_per_hour: u32,
    /// Failures accepted per client address per 15 minutes.
    pub ip_max: u32,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            free_failures: 5,
            max_per_hour: 100,
            ip_max: 100,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Failures {
    window_start: Millis,
    in_window: u32,
    consecutive: u32,
    last: Millis,
}

impl Failures {
    fn record(&mut self, now: Millis, window: Millis) {
        if now - self.window_start >= window {
            self.window_start = now;
            self.in_window = 0;
        }
        self.in_window += 1;
        self.consecutive += 1;
        self.last = now;
    }

    /// When the next attempt is allowed, if not now.
    fn blocked_until(
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

/// Refusal: the attempt may be retried at this time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub retry_at: Millis,
}

/// Whose failures a login attempt counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Account<'a> {
    /// An existing account, by user id: every spelling that reaches it
    /// (username, email, any case) shares one budget.
    Known(&'a str),
    /// An identifier that names no account, as typed.
    Unknown(&'a str),
}

impl Account<'_> {
    /// A fixed-size key: a client's identifier is never kept.
    fn key(self) -> [u8; 32] {
        let mut digest = Sha256::new();
        match self {
            Account::Known(user_id) => {
                digest.update(b"user\0");
                digest.update(user_id.as_bytes());
            }
            Account::Unknown(identifier) => {
                digest.update(b"name\0");
                digest.update(identifier.trim().to_lowercase().as_bytes());
            }
        }
        digest.finalize().into()
    }
}

#[derive(Debug, Default)]
pub struct LoginThrottle {
    config: ThrottleConfig,
    accounts: Mutex<HashMap<[u8; 32], Failures>>,
    addresses: Mutex<HashMap<IpAddr, Failures>>,
}

impl LoginThrottle {
    pub fn new(config: ThrottleConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    /// May `account` try to log in from `ip` now?
    pub fn check(
        &self,
        account: Account<'_>,
        ip: Option<IpAddr>,
        now: Millis,
    ) -> Result<(), Throttled> {
        let c = self.config;
        let by_account = lock(&self.accounts)
            .get(&account.key())
            .and_then(|f| f.blocked_until(now, HOUR, c.max_per_hour, Some(c.free_failures)));
        let by_address = ip.and_then(|ip| {
            lock(&self.addresses)
                .get(&ip)
                .and_then(|f| f.blocked_until(now, IP_WINDOW, c.ip_max, None))
        });
        match by_account.max(by_address) {
            Some(retry_at) => Err(Throttled { retry_at }),
            None => Ok(()),
        }
    }

    pub fn record_failure(&self, account: Account<'_>, ip: Option<IpAddr>, now: Millis) {
        record(&self.accounts, account.key(), now, HOUR);
        if let Some(ip) = ip {
            record(&self.addresses, ip, now, IP_WINDOW);
        }
    }

    /// A successful login clears the account's failures (not the address's).
    pub fn record_success(&self, account: Account<'_>) {
        lock(&self.accounts).remove(&account.key());
    }

    /// Entries held: accounts, addresses.
    #[cfg(test)]
    fn len(&self) -> (usize, usize) {
        (lock(&self.accounts).len(), lock(&self.addresses).len())
    }
}

fn lock<K, V>(map: &Mutex<HashMap<K, V>>) -> std::sync::MutexGuard<'_, HashMap<K, V>> {
    map.lock().unwrap_or_else(|e| e.into_inner())
}

fn record<K: Eq + Hash + Clone>(
    map: &Mutex<HashMap<K, Failures>>,
    key: K,
    now: Millis,
    window: Millis,
) {
    let mut map = lock(map);
    if map.len() >= MAX_ENTRIES && !map.contains_key(&key) {
        // Forget whoever has been quiet for a full window (and back-off),
        // else the entry whose last failure is oldest.
        map.retain(|_, f| now - f.last < window.max(BACKOFF_MAX));
        if map.len() >= MAX_ENTRIES
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, f)| f.last)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
    }
    map.entry(key).or_default().record(now, window);
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));

    fn name(identifier: &str) -> Account<'_> {
        Account::Unknown(identifier)
    }

    fn throttle(free: u32, per_hour: u32, ip_max: u32) -> LoginThrottle {
        LoginThrottle::new(ThrottleConfig {
            free_failures: free,
            max_per_hour: per_hour,
            ip_max,
        })
    }

    #[test]
    fn back_off_doubles_after_the_free_failures_and_success_resets() {
        let t = throttle(2, 100, 1000);
        for _ in 0..2 {
            assert!(t.check(name("Alice"), IP, 0).is_ok());
            t.record_failure(name("alice"), IP, 0);
        }
        assert!(
            t.check(name("alice"), IP, 0).is_ok(),
            "two failures are free"
        );
        t.record_failure(name("alice"), IP, 0);
        assert_eq!(
            t.check(name("ALICE"), IP, 999),
            Err(Throttled { retry_at: 1000 })
        );
        assert!(t.check(name("alice"), IP, 1000).is_ok());
        t.record_failure(name("alice"), IP, 1000);
        assert_eq!(
            t.check(name("alice"), IP, 1000),
            Err(Throttled { retry_at: 3000 })
        );
        assert!(
            t.check(name("bob"), IP, 1000).is_ok(),
            "other accounts are unaffected"
        );
        t.record_success(name("alice"));
        assert!(t.check(name("alice"), IP, 1000).is_ok());
    }

    #[test]
    fn accounts_take_at_most_max_per_hour_failures() {
        let t = throttle(1000, 3, 1000);
        for i in 0..3 {
            t.record_failure(name("carol"), None, i);
        }
        assert_eq!(
            t.check(name("carol"), None, 10),
            Err(Throttled { retry_at: HOUR })
        );
        assert!(t.check(name("carol"), None, HOUR).is_ok());
    }

    #[test]
    fn addresses_take_at_most_ip_max_failures_per_window() {
        let t = throttle(1000, 1000, 3);
        for (i, account) in ["a", "b", "c"].iter().enumerate() {
            t.record_failure(name(account), IP, i as Millis);
        }
        assert!(t.check(name("d"), IP, 10).is_err());
        assert!(t.check(name("d"), None, 10).is_ok());
        assert!(t.check(name("d"), IP, IP_WINDOW).is_ok());
    }

    #[test]
    fn every_spelling_of_an_account_shares_its_budget() {
        let t = throttle(0, 100, 1000);
        t.record_failure(Account::Known("u1"), IP, 0);
        assert!(t.check(Account::Known("u1"), IP, 1).is_err());
        assert!(
            t.check(Account::Unknown("u1"), IP, 1).is_ok(),
            "ids and names never collide"
        );
        assert!(t.check(Account::Known("u2"), IP, 1).is_ok());
    }

    #[test]
    fn the_tables_stay_bounded_and_keep_no_identifier() {
        let t = throttle(5, 100, u32::MAX);
        let long = "x".repeat(100);
        for i in 0..MAX_ENTRIES + 10 {
            t.record_failure(name(&format!("{long}{i}")), IP, i as Millis);
        }
        assert_eq!(t.len(), (MAX_ENTRIES, 1));
        let newest = format!("{long}{}", MAX_ENTRIES + 9);
        t.record_failure(name(&newest), IP, 0);
        assert!(
            lock(&t.accounts).contains_key(&name(&newest).key()),
            "the newest entries are kept"
        );
    }
}
