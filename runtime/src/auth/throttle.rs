//! Login throttling, per account and per client address.
//!
//! Per account (the account an attempt resolves to, whichever of its
//! username or email it named; for an identifier that names no account, the
//! identifier, so unknown accounts are throttled like real ones): a few
//! failures are free, then each further failure doubles the wait before the
//! next attempt (1 s, 2 s, 4 s, ... up to 15 min), and at most
//! `max_per_hour` failures are accepted per hour. A success resets the
//! account. Per address: at most `ip_max` failures per 15 minutes, whatever
//! the accounts. While throttled, even the right password is refused, so
//! guessing cannot continue in the background.
//!
//! The counts are kept in the store, so every node (and every process on
//! one SQLite file) shares them: attempts spread over nodes get one budget.
//! Keys are SHA-256 digests, never the identifiers a client sent; the
//! sweeper forgets counts that have been quiet for [`FORGET_AFTER`]. A
//! store that cannot be read or written refuses the login (fail closed).

use std::net::IpAddr;

use sha2::{Digest, Sha256};

use crate::backoff::BACKOFF_MAX;
use crate::clock::Millis;
use crate::metrics;
use crate::store::{Store, StoreError};

const HOUR: Millis = 3600 * 1000;
const IP_WINDOW: Millis = 15 * 60 * 1000;
/// Counts quiet this long can no longer refuse anything: the sweeper drops them.
pub const FORGET_AFTER: Millis = if HOUR > BACKOFF_MAX {
    HOUR
} else {
    BACKOFF_MAX
};

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

/// Leave to try: whether the account had failures counted, which a
/// success then clears (with none, a success writes nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowed {
    counted: bool,
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

fn address_key(ip: IpAddr) -> [u8; 32] {
    let mut digest = Sha256::new();
    digest.update(b"addr\0");
    digest.update(ip.to_string().as_bytes());
    digest.finalize().into()
}

#[derive(Debug, Clone)]
pub struct LoginThrottle {
    config: ThrottleConfig,
    store: Store,
}

impl LoginThrottle {
    pub fn new(config: ThrottleConfig, store: Store) -> Self {
        Self { config, store }
    }

    /// May `account` try to log in from `ip` now? (`Err`: the store failed.)
    pub async fn check(
        &self,
        account: Account<'_>,
        ip: Option<IpAddr>,
        now: Millis,
    ) -> Result<Result<Allowed, Throttled>, StoreError> {
        let c = self.config;
        // Both counts at once: one database round trip's wait, not two.
        let by_ip = async {
            match ip {
                Some(ip) => self.store.login_failures(&address_key(ip)).await,
                None => Ok(None),
            }
        };
        let account_key = account.key();
        let (counted, at_address) =
            tokio::try_join!(self.store.login_failures(&account_key), by_ip)?;
        let by_account =
            counted.and_then(|f| f.blocked_until(now, HOUR, c.max_per_hour, Some(c.free_failures)));
        let by_address = at_address.and_then(|f| f.blocked_until(now, IP_WINDOW, c.ip_max, None));
        Ok(match by_account.max(by_address) {
            Some(retry_at) => {
                metrics::get().login_throttled.inc();
                Err(Throttled { retry_at })
            }
            None => Ok(Allowed {
                counted: counted.is_some(),
            }),
        })
    }

    pub async fn record_failure(
        &self,
        account: Account<'_>,
        ip: Option<IpAddr>,
        now: Millis,
    ) -> Result<(), StoreError> {
        metrics::get().login_failures.inc();
        self.store
            .record_login_failure(&account.key(), now, HOUR)
            .await?;
        if let Some(ip) = ip {
            self.store
                .record_login_failure(&address_key(ip), now, IP_WINDOW)
                .await?;
        }
        Ok(())
    }

    /// A successful login clears the account's failures (not the address's).
    pub async fn record_success(
        &self,
        account: Account<'_>,
        allowed: Allowed,
    ) -> Result<(), StoreError> {
        if !allowed.counted {
            return Ok(());
        }
        self.store.clear_login_failures(&account.key()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::block_on;

    const IP: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));

    fn name(identifier: &str) -> Account<'_> {
        Account::Unknown(identifier)
    }

    /// A throttle over a store of its own, driven synchronously.
    struct Kit(LoginThrottle);

    impl Kit {
        fn new(free: u32, per_hour: u32, ip_max: u32) -> Self {
            let config = ThrottleConfig {
                free_failures: free,
                max_per_hour: per_hour,
                ip_max,
            };
            Kit(LoginThrottle::new(config, Store::in_memory().unwrap()))
        }
        fn check(
            &self,
            account: Account<'_>,
            ip: Option<IpAddr>,
            now: Millis,
        ) -> Result<(), Throttled> {
            block_on(self.0.check(account, ip, now)).unwrap().map(drop)
        }
        fn fail(&self, account: Account<'_>, ip: Option<IpAddr>, now: Millis) {
            block_on(self.0.record_failure(account, ip, now)).unwrap()
        }
        fn succeed(&self, account: Account<'_>) {
            // Asked far in the future, so no back-off is in the way.
            let allowed = block_on(self.0.check(account, None, Millis::MAX)).unwrap();
            block_on(self.0.record_success(account, allowed.unwrap())).unwrap()
        }
    }

    #[test]
    fn back_off_doubles_after_the_free_failures_and_success_resets() {
        let t = Kit::new(2, 100, 1000);
        for _ in 0..2 {
            assert!(t.check(name("Alice"), IP, 0).is_ok());
            t.fail(name("alice"), IP, 0);
        }
        assert!(
            t.check(name("alice"), IP, 0).is_ok(),
            "two failures are free"
        );
        t.fail(name("alice"), IP, 0);
        assert_eq!(
            t.check(name("ALICE"), IP, 999),
            Err(Throttled { retry_at: 1000 })
        );
        assert!(t.check(name("alice"), IP, 1000).is_ok());
        t.fail(name("alice"), IP, 1000);
        assert_eq!(
            t.check(name("alice"), IP, 1000),
            Err(Throttled { retry_at: 3000 })
        );
        assert!(
            t.check(name("bob"), IP, 1000).is_ok(),
            "other accounts are unaffected"
        );
        t.succeed(name("alice"));
        assert!(t.check(name("alice"), IP, 1000).is_ok());
    }

    #[test]
    fn accounts_take_at_most_max_per_hour_failures() {
        let t = Kit::new(1000, 3, 1000);
        for i in 0..3 {
            t.fail(name("carol"), None, i);
        }
        assert_eq!(
            t.check(name("carol"), None, 10),
            Err(Throttled { retry_at: HOUR })
        );
        assert!(t.check(name("carol"), None, HOUR).is_ok());
    }

    #[test]
    fn addresses_take_at_most_ip_max_failures_per_window() {
        let t = Kit::new(1000, 1000, 3);
        for (i, account) in ["a", "b", "c"].iter().enumerate() {
            t.fail(name(account), IP, i as Millis);
        }
        assert!(t.check(name("d"), IP, 10).is_err());
        assert!(t.check(name("d"), None, 10).is_ok());
        assert!(t.check(name("d"), IP, IP_WINDOW).is_ok());
    }

    #[test]
    fn every_spelling_of_an_account_shares_its_budget() {
        let t = Kit::new(0, 100, 1000);
        t.fail(Account::Known("u1"), IP, 0);
        assert!(t.check(Account::Known("u1"), IP, 1).is_err());
        assert!(
            t.check(Account::Unknown("u1"), IP, 1).is_ok(),
            "ids and names never collide"
        );
        assert!(t.check(Account::Known("u2"), IP, 1).is_ok());
    }

    /// Two throttles on one store (two nodes on one database) share one
    /// budget: failures spread over them add up.
    #[test]
    fn throttles_on_one_store_share_the_budget() {
        let store = Store::in_memory().unwrap();
        let config = ThrottleConfig {
            free_failures: 1,
            max_per_hour: 100,
            ip_max: 1000,
        };
        let (a, b) = (
            Kit(LoginThrottle::new(config, store.clone())),
            Kit(LoginThrottle::new(config, store)),
        );
        a.fail(name("dave"), None, 0);
        b.fail(name("dave"), None, 0);
        assert_eq!(
            a.check(name("dave"), None, 1),
            Err(Throttled { retry_at: 1000 })
        );
    }

    /// The store keeps digests only, and the sweeper's call forgets what can
    /// no longer refuse anything.
    #[test]
    fn counts_are_kept_by_digest_and_forgotten_when_quiet() {
        let t = Kit::new(0, 100, 1000);
        t.fail(name("erin@example.com"), IP, 0);
        let store = &t.0.store;
        assert!(
            block_on(store.login_failures(&name("erin@example.com").key()))
                .unwrap()
                .is_some()
        );
        assert_eq!(
            block_on(store.forget_login_failures(FORGET_AFTER)).unwrap(),
            2
        );
        assert!(t.check(name("erin@example.com"), IP, 1).is_ok());
    }
}
