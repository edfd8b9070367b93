//! Password hashing: argon2id for every new hash; bcrypt hashes (as exported
//! from Parse Server) are still verified and flagged for re-hashing.

use std::sync::OnceLock;

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

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

/// argon2id with the crate's defaults (19 MiB, 2 passes, 1 lane), the OWASP
/// password storage recommendation.
fn hasher() -> Argon2<'static> {
    Argon2::default()
}

/// argon2's work areas (19 MiB each by default), one per core: at most one
/// hash per core runs at a time (more only thrash caches), and each reuses
/// its area. A fresh area per hash cost 40% of login throughput in page
/// faults; areas from the heap stayed cached in the allocator of every
/// blocking thread that ever hashed (8 GiB after a 10 s login burst with
/// glibc, 110 MiB with mimalloc). Bounded: cores x 19 MiB, mapped directly.
fn workspace() -> Lease<'static, Option<Workspace>> {
    static WORKSPACES: OnceLock<Pool<Option<Workspace>>> = OnceLock::new();
    WORKSPACES
        .get_or_init(|| Pool::new(std::thread::available_parallelism().map_or(2, |n| n.get())))
        .take(|| None)
}

/// An anonymous mapping that holds argon2 blocks.
struct Workspace(memmap2::MmapMut);

impl Workspace {
    fn map(blocks: usize) -> Result<Self, PasswordError> {
        memmap2::MmapMut::map_anon(blocks * std::mem::size_of::<Block>())
            .map(Workspace)
            .map_err(hash_error)
    }

    fn len(&self) -> usize {
        self.0.len() / std::mem::size_of::<Block>()
    }

    fn blocks(&mut self) -> &mut [Block] {
        let len = self.len();
        // SAFETY: the mapping is page-aligned (more than `Block`'s 64 bytes),
        // was zero-filled (any 128 u64s are a valid `Block`), holds `len`
        // whole blocks, and is borrowed mutably through this slice only.
        unsafe { std::slice::from_raw_parts_mut(self.0.as_mut_ptr().cast::<Block>(), len) }
    }
}

fn hash_error(error: impl std::fmt::Display) -> PasswordError {
    PasswordError::Hash(error.to_string())
}

fn argon2_into(
    argon2: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), PasswordError> {
    let blocks = argon2.params().block_count();
    let mut lease = workspace();
    // The first hash of a slot maps its area; a stored hash that names more
    // memory than the area has gets a larger one.
    let area = match lease.take() {
        Some(area) if area.len() >= blocks => area,
        _ => Workspace::map(blocks)?,
    };
    let memory = &mut lease.insert(area).blocks()[..blocks];
    argon2
        .hash_password_into_with_memory(password, salt, out, memory)
        .map_err(hash_error)
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
    let argon2 = hasher();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2_into(&argon2, password.as_bytes(), &salt, &mut out)?;
    let salt = SaltString::encode_b64(&salt).map_err(hash_error)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon2.params()).map_err(hash_error)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(hash_error)?),
    };
    Ok(phc.to_string())
}

pub fn verify(password: &str, stored: &str) -> Verdict {
    if is_bcrypt(stored) {
        let _one_per_core = workspace();
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
    let argon2 = Argon2::new(
        Algorithm::try_from(parsed.algorithm).ok()?,
        parsed
            .version
            .map_or(Ok(Version::default()), Version::try_from)
            .ok()?,
        Params::try_from(&parsed).ok()?,
    );
    let mut salt_bytes = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_bytes).ok()?;
    let mut out = vec![0u8; expected.len()];
    argon2_into(&argon2, password.as_bytes(), salt, &mut out).ok()?;
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
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let salt = SaltString::encode_b64(b"sixteen byte slt").unwrap();
        let theirs = hasher().hash_password(b"pw", &salt).unwrap().to_string();
        assert_eq!(verify("pw", &theirs), Verdict::Correct);
        let ours = hash("pw").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(hasher().verify_password(b"pw", &parsed).is_ok());
        assert!(hasher().verify_password(b"pW", &parsed).is_err());
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x10, Params::default());
        let legacy = argon2i.hash_password(b"pw", &salt).unwrap().to_string();
        assert_eq!(verify("pw", &legacy), Verdict::Correct);
        assert_eq!(verify("px", &legacy), Verdict::Wrong);
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
