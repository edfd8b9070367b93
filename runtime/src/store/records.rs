//! The rows the store keeps and the changes it makes, as every backend
//! shares them.

use serde_json::{Map, Value};

use crate::clock::Millis;
use crate::policy::{Lifetime, SessionPolicy};
use crate::token::TokenHash;

pub type Fields = Map<String, Value>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UniqueField {
    Username,
    Email,
    ObjectId,
}

impl std::fmt::Display for UniqueField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            UniqueField::Username => "username",
            UniqueField::Email => "email",
            UniqueField::ObjectId => "objectId",
        })
    }
}

/// A `_User` row. `fields` holds the ACL and every custom field.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRecord {
    pub object_id: String,
    pub username: String,
    pub email: Option<String>,
    pub password_hash: Option<String>,
    pub fields: Fields,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A `_Session` row. The token itself is never stored, only its hash.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRecord {
    pub object_id: String,
    pub user_id: String,
    pub installation_id: Option<String>,
    pub created_with: Value,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub last_used_at: Millis,
    pub absolute_expires_at: Millis,
}

/// An object of an application class.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectRecord {
    pub object_id: String,
    pub fields: Fields,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// Which of a user's sessions a user write revokes, in the same transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revoke {
    Nothing,
    /// The password changed: every session of the user ends, except the
    /// writer's own (if given), which is sealed: its token stops working in
    /// this transaction, and the session waits, under a new token nobody
    /// holds, for a rotation ([`super::Store::rotate_session_token`]) or its
    /// revocation ([`super::Store::revoke_sealed_session`]).
    PasswordChanged {
        seal: Option<String>,
    },
}

/// The session a write is made with, re-checked inside the write's
/// transaction: a session revoked or rotated meanwhile cannot write.
#[derive(Debug, Clone)]
pub struct WriterSession {
    pub object_id: String,
    pub token_hash: TokenHash,
}

impl SessionRecord {
    pub fn lifetime(&self) -> Lifetime {
        Lifetime {
            last_used_at: self.last_used_at,
            absolute_expires_at: self.absolute_expires_at,
        }
    }

    /// The session as clients and hooks see it under `policy`.
    pub fn view(&self, policy: &SessionPolicy) -> SessionView {
        SessionView {
            object_id: self.object_id.clone(),
            user_id: self.user_id.clone(),
            installation_id: self.installation_id.clone(),
            created_with: self.created_with.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
            expires_at: policy.expires_at(self.lifetime()),
        }
    }
}

/// A session as anyone outside the store sees it, clients (`/sessions`)
/// and hooks (`sessions.list-for-user`) alike: no token, no hash, and the
/// expiry the policy in force gives it (the earlier of its absolute and
/// idle limits).
#[derive(Debug, Clone, PartialEq)]
pub struct SessionView {
    pub object_id: String,
    pub user_id: String,
    pub installation_id: Option<String>,
    pub created_with: Value,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub expires_at: Millis,
}

/// A session that a write removed or changed: enough to audit it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedSession {
    pub object_id: String,
    pub user_id: String,
    pub installation_id: Option<String>,
    /// Its times when it was removed: whether it was still alive then.
    pub lifetime: Lifetime,
}
