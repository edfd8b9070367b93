//! Everything a database holds, in one value: what `cloudcode migrate`
//! reads from one backend and writes into another.

use crate::backoff::Failures;
use crate::clock::Millis;
use crate::store::classes::DeclaredClass;
use crate::store::{EventRecord, ObjectRecord, SessionRecord, UserRecord};
use crate::token::TokenHash;

#[derive(Debug, Default)]
pub struct Snapshot {
    pub users: Vec<UserRecord>,
    /// Each session with the SHA-256 of its token: tokens keep working.
    pub sessions: Vec<(SessionRecord, TokenHash)>,
    pub rotated_tokens: Vec<RotatedToken>,
    pub events: Vec<EventRecord>,
    /// Objects with their class.
    pub objects: Vec<(String, ObjectRecord)>,
    pub login_failures: Vec<(Vec<u8>, Failures)>,
    /// Classes declared through `/schemas`.
    pub classes: Vec<DeclaredClass>,
}

/// A rotated-out token's hash, remembered for reuse detection.
#[derive(Debug, Clone)]
pub struct RotatedToken {
    pub token_hash: Vec<u8>,
    pub session_id: String,
    pub user_id: String,
    pub rotated_at: Millis,
}

/// How many rows of each kind a copy wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Copied {
    pub users: usize,
    pub sessions: usize,
    pub rotated_tokens: usize,
    pub events: usize,
    pub objects: usize,
    pub login_failures: usize,
    pub classes: usize,
}

impl Snapshot {
    pub fn counts(&self) -> Copied {
        Copied {
            users: self.users.len(),
            sessions: self.sessions.len(),
            rotated_tokens: self.rotated_tokens.len(),
            events: self.events.len(),
            objects: self.objects.len(),
            login_failures: self.login_failures.len(),
            classes: self.classes.len(),
        }
    }
}
