//! Password hashing: argon2id for every new hash; bcrypt hashes (as exported
//! from Parse Server) are still verified and flagged for re-hashing.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("could not hash the password: {0}")]
    Hash(String),
}

/// The result of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Wrong,
    Correct,
    /// Correct, and the stored hash uses an outdated scheme: store a new one.
    CorrectNeedsRehash,
}

impl Verdict {
    pub fn is_correct(self) -> bool {
        self != Verdict::Wrong
    }
}

/// argon2id with the crate's defaults (19 MiB, 2 passes, 1 lane), the OWASP
/// password storage recommendation.
fn hasher() -> Argon2<'static> {
    Argon2::default()
}

/// At most one hash per core at a time. More only thrash caches and memory:
/// every argon2 computation holds 19 MiB, and a burst of logins on the
/// blocking pool would otherwise hold (and the allocator keep) gigabytes.
fn hashing_slot() -> crate::limit::Slot<'static> {
    static SLOTS: OnceLock<crate::limit::Slots> = OnceLock::new();
    let slots = SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        crate::limit::Slots::new(u32::try_from(cores).unwrap_or(2))
    });
    loop {
        if let Some(slot) = slots.acquire(std::time::Duration::from_secs(3600)) {
            return slot;
        }
    }
}

pub fn hash(password: &str) -> Result<String, PasswordError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| PasswordError::Hash(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| PasswordError::Hash(e.to_string()))?;
    let _slot = hashing_slot();
    hasher()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

pub fn verify(password: &str, stored: &str) -> Verdict {
    let _slot = hashing_slot();
    if is_bcrypt(stored) {
        return match bcrypt::verify(password, stored) {
            Ok(true) => Verdict::CorrectNeedsRehash,
            _ => Verdict::Wrong,
        };
    }
    match PasswordHash::new(stored) {
        Ok(parsed)
            if hasher()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok() =>
        {
            Verdict::Correct
        }
        _ => Verdict::Wrong,
    }
}

/// Spend the same work as a real verification, for logins naming an unknown
/// account, so response time does not reveal which accounts exist.
pub fn verify_against_dummy(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash("cloudcode-dummy-password").unwrap_or_default());
    let _ = verify(password, dummy);
}

fn is_bcrypt(stored: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"]
        .iter()
        .any(|p| stored.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_round_trip() {
        let h = hash("s3cret").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(!h.contains("s3cret"));
        assert_eq!(verify("s3cret", &h), Verdict::Correct);
        assert_eq!(verify("S3cret", &h), Verdict::Wrong);
        assert_ne!(hash("s3cret").unwrap(), h, "salts must differ");
    }

    #[test]
    fn bcrypt_hashes_from_parse_verify_and_ask_for_rehash() {
        let legacy = bcrypt::hash("old-pass", 4).unwrap();
        assert_eq!(verify("old-pass", &legacy), Verdict::CorrectNeedsRehash);
        assert_eq!(verify("other", &legacy), Verdict::Wrong);
    }

    #[test]
    fn garbage_hashes_never_verify() {
        for stored in ["", "plain", "$2b$garbage", "$argon2id$nonsense"] {
            assert_eq!(verify("", stored), Verdict::Wrong);
            assert_eq!(verify("plain", stored), Verdict::Wrong);
        }
    }
}
