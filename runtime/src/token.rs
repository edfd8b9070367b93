//! Session tokens and object ids.
//!
//! A token is `r:` followed by 256 bits from the OS CSPRNG, hex encoded. The
//! `r:` prefix is what the Parse SDKs use to recognise revocable sessions. The
//! server keeps only the SHA-256 of a token and looks sessions up by that
//! hash, so a copy of the database cannot be replayed and no comparison of
//! secrets ever happens in the lookup path.

use sha2::{Digest, Sha256};

const PREFIX: &str = "r:";
const RANDOM_BYTES: usize = 32;
/// Exact length of every token this server mints.
pub const TOKEN_LEN: usize = PREFIX.len() + 2 * RANDOM_BYTES;

/// A freshly minted token: the raw value goes to the client once, the hash to
/// the store. Deliberately not `Debug`, so it cannot end up in a log line.
pub struct MintedToken {
    pub raw: String,
    pub hash: TokenHash,
}

/// SHA-256 of a session token: the only form in which tokens are stored.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenHash(..)")
    }
}

pub fn mint() -> MintedToken {
    let mut bytes = [0u8; RANDOM_BYTES];
    fill_random(&mut bytes);
    let raw = format!("{PREFIX}{}", hex::encode(bytes));
    let hash = hash(&raw);
    MintedToken { raw, hash }
}

pub fn hash(raw: &str) -> TokenHash {
    TokenHash(Sha256::digest(raw.as_bytes()).into())
}

/// The hash of `raw` if it has the exact shape of a token we mint; `None`
/// otherwise, so garbage never reaches the store.
pub fn parse(raw: &str) -> Option<TokenHash> {
    let payload = raw.strip_prefix(PREFIX)?;
    let well_formed = raw.len() == TOKEN_LEN
        && payload
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    well_formed.then(|| hash(raw))
}

const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const ID_LEN: usize = 10;

/// A 10-character Parse objectId from `[A-Za-z0-9]`, without modulo bias.
pub fn object_id() -> String {
    // 62 * 4 = 248: bytes at or above it are rejected so every letter is equally likely.
    const LIMIT: u8 = 248;
    let mut id = String::with_capacity(ID_LEN);
    let mut buf = [0u8; 32];
    while id.len() < ID_LEN {
        fill_random(&mut buf);
        for &b in buf.iter().filter(|&&b| b < LIMIT) {
            if id.len() == ID_LEN {
                break;
            }
            id.push(ID_ALPHABET[(b % 62) as usize] as char);
        }
    }
    id
}

fn fill_random(buf: &mut [u8]) {
    // The OS CSPRNG cannot fail on any platform we run on; if it ever does,
    // continuing with predictable bytes would be far worse than stopping.
    getrandom::fill(buf).expect("the operating system's random number generator failed");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn minted_tokens_have_the_documented_shape_and_parse_back() {
        let t = mint();
        assert_eq!(t.raw.len(), TOKEN_LEN);
        assert!(t.raw.starts_with("r:"));
        assert_eq!(parse(&t.raw), Some(t.hash));
        assert_eq!(hash(&t.raw), t.hash);
    }

    #[test]
    fn tokens_are_unique_and_bits_are_balanced() {
        let tokens: Vec<String> = (0..2000).map(|_| mint().raw).collect();
        let distinct: HashSet<&String> = tokens.iter().collect();
        assert_eq!(distinct.len(), tokens.len());
        // Each of the 256 payload bits should be set in about half the tokens.
        for bit in 0..256 {
            let ones = tokens
                .iter()
                .filter(|t| {
                    let nibble = u8::from_str_radix(&t[2 + bit / 4..3 + bit / 4], 16).unwrap();
                    nibble & (8 >> (bit % 4)) != 0
                })
                .count();
            assert!(
                (800..1200).contains(&ones),
                "bit {bit} set {ones}/2000 times"
            );
        }
    }

    #[test]
    fn malformed_tokens_are_refused_before_any_lookup() {
        let good = mint().raw;
        for bad in [
            String::new(),
            "r:".into(),
            good[..TOKEN_LEN - 1].to_string(),
            format!("{good}0"),
            good.to_uppercase(),
            good.replacen("r:", "x:", 1),
            format!("r:{}", "g".repeat(64)),
            format!("r:{}\0", "a".repeat(63)),
            "r:".to_string() + &"a".repeat(1 << 20),
        ] {
            assert_eq!(parse(&bad), None, "accepted {bad:?}");
        }
    }

    #[test]
    fn object_ids_are_ten_alphanumerics() {
        let ids: HashSet<String> = (0..1000).map(|_| object_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(
            ids.iter()
                .all(|id| id.len() == 10 && id.bytes().all(|b| b.is_ascii_alphanumeric()))
        );
    }
}
