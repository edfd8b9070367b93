//! Password hashing: argon2id for every new hash; bcrypt hashes (as exported
//! from Parse Server) are still verified and flagged for re-hashing.

use std::sync::OnceLock;

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Params, Version};

use crate::limit::{Lease, Pool};

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

/// A password hash's scheme: algorithm, version and cost, as a stored PHC
/// string names them. The `argon2` crate parses and writes PHC strings and
/// owns the defaults; `argon2-rust` computes (its SIMD block fill took a
/// hash from 17.0 to 9.5 ms here, bit for bit the same: BENCHMARKS.md, and
/// `tests::the_fill_agrees_with_the_argon2_crate`).
struct Scheme {
    algorithm: Algorithm,
    version: Version,
    params: Params,
}

impl Scheme {
    /// argon2id with the `argon2` crate's defaults (19 MiB, 2 passes, 1
    /// lane), the OWASP password storage recommendation.
    fn current() -> Self {
        Scheme {
            algorithm: Algorithm::Argon2id,
            version: Version::V0x13,
            params: Params::default(),
        }
    }

    fn compute(&self, password: &[u8], salt: &[u8], out: &mut [u8]) -> Result<(), PasswordError> {
        use argon2_rust::params::{Memory, TagLen};
        let algorithm = match self.algorithm {
            Algorithm::Argon2d => argon2_rust::Algorithm::Argon2d,
            Algorithm::Argon2i => argon2_rust::Algorithm::Argon2i,
            Algorithm::Argon2id => argon2_rust::Algorithm::Argon2id,
        };
        let version = match self.version {
            Version::V0x10 => argon2_rust::Version::V0x10,
            Version::V0x13 => argon2_rust::Version::V0x13,
        };
        let params = argon2_rust::Params::builder()
            .memory(Memory::kib(self.params.m_cost().into()))
            .passes(self.params.t_cost())
            .lanes(self.params.p_cost())
            .tag_len(TagLen::bytes(out.len() as u64))
            .build()
            .map_err(hash_error)?;
        let argon2 = argon2_rust::Argon2::new(algorithm, version, params);
        let mut lease = hasher_lease();
        let hasher = match lease.take() {
            Some(mut hasher) => {
                hasher.set_argon2(argon2);
                hasher
            }
            None => argon2.hasher(),
        };
        // A stored hash may carry associated data (`data=`); ours never do.
        lease
            .insert(hasher)
            .hash_into_with_ad(password, salt, &[], self.params.data(), out)
            .map_err(hash_error)
    }
}

/// argon2's hashers, one per core, each keeping its 19 MiB work area: at
/// most one hash per core runs at a time (more only thrash caches), and
/// each reuses its area. A fresh area per hash cost 40% of login
/// throughput in page faults; areas from the heap stayed cached in the
/// allocator of every blocking thread that ever hashed (8 GiB after a 10 s
/// login burst with glibc, 110 MiB with mimalloc). Bounded: cores x 19 MiB,
/// mapped directly and wiped after every hash by `argon2-rust`.
fn hasher_lease() -> Lease<'static, Option<argon2_rust::Hasher>> {
    static HASHERS: OnceLock<Pool<Option<argon2_rust::Hasher>>> = OnceLock::new();
    HASHERS
        .get_or_init(|| Pool::new(std::thread::available_parallelism().map_or(2, |n| n.get())))
        .take(|| None)
}

fn hash_error(error: impl std::fmt::Display) -> PasswordError {
    PasswordError::Hash(error.to_string())
}

/// Runs password work on the blocking pool: a hash takes tens of
/// milliseconds by design, which the async executor must not wait for.
pub async fn off_thread<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, PasswordError> + Send + 'static,
) -> Result<T, PasswordError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(hash_error)?
}

pub fn hash(password: &str) -> Result<String, PasswordError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(hash_error)?;
    let scheme = Scheme::current();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    scheme.compute(password.as_bytes(), &salt, &mut out)?;
    let salt = SaltString::encode_b64(&salt).map_err(hash_error)?;
    let phc = PasswordHash {
        algorithm: scheme.algorithm.ident(),
        version: Some(scheme.version.into()),
        params: ParamsString::try_from(&scheme.params).map_err(hash_error)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(hash_error)?),
    };
    Ok(phc.to_string())
}

pub fn verify(password: &str, stored: &str) -> Verdict {
    if is_bcrypt(stored) {
        let _one_per_core = hasher_lease();
        return match bcrypt::verify(password, stored) {
            Ok(true) => Verdict::CorrectNeedsRehash,
            _ => Verdict::Wrong,
        };
    }
    if verify_argon2(password, stored).unwrap_or(false) {
        Verdict::Correct
    } else {
        Verdict::Wrong
    }
}

/// Recomputes a stored argon2 hash (any variant and parameters it names)
/// and compares in constant time (`Output`'s equality).
fn verify_argon2(password: &str, stored: &str) -> Option<bool> {
    let parsed = PasswordHash::new(stored).ok()?;
    let (salt, expected) = (parsed.salt?, parsed.hash?);
    let scheme = Scheme {
        algorithm: Algorithm::try_from(parsed.algorithm).ok()?,
        version: parsed
            .version
            .map_or(Ok(Version::default()), Version::try_from)
            .ok()?,
        params: Params::try_from(&parsed).ok()?,
    };
    let mut salt_bytes = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_bytes).ok()?;
    let mut out = vec![0u8; expected.len()];
    scheme.compute(password.as_bytes(), salt, &mut out).ok()?;
    Some(Output::new(&out).ok()? == expected)
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

    /// Hashing in our own scratch memory changes nothing on the wire: the
    /// crate's own hasher and verifier agree with ours both ways.
    #[test]
    fn hashes_agree_with_the_argon2_crate() {
        use argon2::Argon2;
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let salt = SaltString::encode_b64(b"sixteen byte slt").unwrap();
        let theirs = Argon2::default()
            .hash_password(b"pw", &salt)
            .unwrap()
            .to_string();
        assert_eq!(verify("pw", &theirs), Verdict::Correct);
        let ours = hash("pw").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default().verify_password(b"pw", &parsed).is_ok());
        assert!(Argon2::default().verify_password(b"pW", &parsed).is_err());
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x10, Params::default());
        let legacy = argon2i.hash_password(b"pw", &salt).unwrap().to_string();
        assert_eq!(verify("pw", &legacy), Verdict::Correct);
        assert_eq!(verify("px", &legacy), Verdict::Wrong);
    }

    /// The fill is `argon2-rust`'s (SIMD) and the scheme the `argon2`
    /// crate's: both must compute the same bytes for every algorithm,
    /// version and cost a stored hash can name, and for passwords and
    /// salts of any length and content (an attacker chooses the password).
    #[test]
    fn the_fill_agrees_with_the_argon2_crate() {
        use proptest::prelude::*;
        let cases = (
            prop::collection::vec(any::<u8>(), 0..300),
            prop::collection::vec(any::<u8>(), 8..40),
            prop::collection::vec(any::<u8>(), 0..20),
            (0..3usize, any::<bool>(), 1u32..3, 1u32..4, 4usize..70),
        );
        proptest!(ProptestConfig::with_cases(64), |(
            (password, salt, data, (algorithm, old, t_cost, p_cost, tag)) in cases
        )| {
            let algorithm = [Algorithm::Argon2d, Algorithm::Argon2i, Algorithm::Argon2id][algorithm];
            let version = if old { Version::V0x10 } else { Version::V0x13 };
            let m_cost = 8 * p_cost + 3 * t_cost;
            let params = argon2::ParamsBuilder::new()
                .m_cost(m_cost)
                .t_cost(t_cost)
                .p_cost(p_cost)
                .data(argon2::AssociatedData::new(&data).unwrap())
                .build()
                .unwrap();
            let mut theirs = vec![0u8; tag];
            argon2::Argon2::new(algorithm, version, params.clone())
                .hash_password_into(&password, &salt, &mut theirs)
                .unwrap();
            let mut ours = vec![0u8; tag];
            Scheme { algorithm, version, params }
                .compute(&password, &salt, &mut ours)
                .unwrap();
            prop_assert_eq!(ours, theirs);
        });
        // And at the cost every new hash uses.
        let mut theirs = [0u8; 32];
        argon2::Argon2::default()
            .hash_password_into(b"pw", b"sixteen byte slt", &mut theirs)
            .unwrap();
        let mut ours = [0u8; 32];
        Scheme::current()
            .compute(b"pw", b"sixteen byte slt", &mut ours)
            .unwrap();
        assert_eq!(ours, theirs);
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
