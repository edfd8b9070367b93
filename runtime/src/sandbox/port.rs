//! What the sandbox needs from the server, and nothing more: who is calling
//! ([`Invoker`]) and the session operations a hook may ask for
//! ([`SessionPort`]). The server implements the port; the sandbox holds it,
//! never the server itself.

use std::net::IpAddr;

use crate::clock::Millis;
use crate::policy::SessionPolicy;
use crate::store::{RevokedSession, SessionRecord, StoreError, Trail};
use crate::token::TokenHash;

/// The caller of one invocation, as the host authorises hook calls against
/// it: ids only, never a token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Invoker {
    pub master: bool,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub installation_id: Option<String>,
    pub ip: Option<IpAddr>,
}

/// The session operations behind the `sessions` imports. Reads run where
/// the hook runs; the host sends writes (which record their own audit rows)
/// to the blocking pool.
pub trait SessionPort: Send + Sync + 'static {
    fn now(&self) -> Millis;
    fn policy(&self) -> SessionPolicy;
    /// The live sessions of a user.
    fn live_sessions(&self, user_id: &str) -> Result<Vec<SessionRecord>, StoreError>;
    fn session(&self, session_id: &str) -> Result<Option<SessionRecord>, StoreError>;
    /// Revokes one session (audited as revoked by a hook); false if absent.
    fn revoke(&self, session_id: &str, trail: Trail) -> Result<bool, StoreError>;
    /// Revokes every session of a user but `keep`; returns them.
    fn revoke_all(
        &self,
        user_id: &str,
        keep: Option<&str>,
        trail: Trail,
    ) -> Result<Vec<RevokedSession>, StoreError>;
    /// Gives a session a new token hash; false if the session is gone.
    fn rotate(&self, session_id: &str, hash: &TokenHash, trail: Trail) -> Result<bool, StoreError>;
}
