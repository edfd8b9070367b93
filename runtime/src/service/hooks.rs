//! The server's side of the sandbox's port: who a hook runs for, and the
//! session operations it may ask for, served by the store under the
//! server's clock and policy.

use crate::Shared;
use crate::auth::Caller;
use crate::clock::Millis;
use crate::policy::SessionPolicy;
use crate::sandbox::{Invoker, SessionPort};
use crate::store::{Event, RevokedSession, SessionRecord, StoreError, Trail};
use crate::token::TokenHash;

impl From<&Caller> for Invoker {
    fn from(caller: &Caller) -> Self {
        Invoker {
            master: caller.master,
            user_id: caller.user_id().map(String::from),
            session_id: caller.session_id().map(String::from),
            installation_id: caller.installation_id.clone(),
            ip: caller.ip,
        }
    }
}

impl SessionPort for Shared {
    fn now(&self) -> Millis {
        self.clock.now()
    }

    fn policy(&self) -> SessionPolicy {
        self.config.session_policy
    }

    fn live_sessions(&self, user_id: &str) -> Result<Vec<SessionRecord>, StoreError> {
        self.store
            .live_sessions(Some(user_id), &self.config.session_policy, self.now())
    }

    fn session(&self, session_id: &str) -> Result<Option<SessionRecord>, StoreError> {
        self.store.session(session_id)
    }

    fn revoke(&self, session_id: &str, trail: Trail) -> Result<bool, StoreError> {
        let revoked = self
            .store
            .delete_session(session_id, Event::RevokedByHook, trail)?;
        Ok(revoked.is_some())
    }

    fn revoke_all(
        &self,
        user_id: &str,
        keep: Option<&str>,
        trail: Trail,
    ) -> Result<Vec<RevokedSession>, StoreError> {
        self.store
            .delete_sessions_of_user(user_id, keep, Event::RevokedByHook, trail)
    }

    fn rotate(&self, session_id: &str, hash: &TokenHash, trail: Trail) -> Result<bool, StoreError> {
        self.store.rotate_session_token(session_id, hash, trail)
    }
}
