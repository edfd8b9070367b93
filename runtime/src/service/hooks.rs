//! The server's side of the sandbox's port: who a hook runs for, and the
//! session operations it may ask for, served by the store under the
//! server's clock and policy.

use std::net::IpAddr;

use crate::Shared;
use crate::auth::Caller;
use crate::sandbox::{Invoker, SessionPort};
use crate::store::{Event, SessionView, StoreError, Trail};
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

#[async_trait::async_trait]
impl SessionPort for Shared {
    async fn live_sessions(&self, user_id: &str) -> Result<Vec<SessionView>, StoreError> {
        let policy = &self.config.session_policy;
        let sessions = self
            .store
            .live_sessions(Some(user_id), policy, self.clock.now())
            .await?;
        Ok(sessions.iter().map(|s| s.view(policy)).collect())
    }

    async fn owner_of(&self, session_id: &str) -> Result<Option<String>, StoreError> {
        let session = self.store.session(session_id).await?;
        Ok(session.map(|s| s.user_id))
    }

    async fn revoke(&self, session_id: &str, ip: Option<IpAddr>) -> Result<bool, StoreError> {
        let revoked = self
            .store
            .delete_session(session_id, Event::RevokedByHook, self.trail(ip))
            .await?;
        Ok(revoked.is_some())
    }

    async fn revoke_all(
        &self,
        user_id: &str,
        keep: Option<&str>,
        ip: Option<IpAddr>,
    ) -> Result<usize, StoreError> {
        let trail = self.trail(ip);
        let revoked = self
            .store
            .delete_sessions_of_user(user_id, keep, Event::RevokedByHook, trail)
            .await?;
        // Counted from what this delete removed, so nothing that a login
        // racing it added can be revoked uncounted.
        let policy = &self.config.session_policy;
        Ok(revoked
            .iter()
            .filter(|s| policy.is_alive(s.lifetime, trail.at))
            .count())
    }

    async fn rotate(
        &self,
        session_id: &str,
        hash: &TokenHash,
        ip: Option<IpAddr>,
    ) -> Result<bool, StoreError> {
        self.store
            .rotate_session_token(session_id, hash, self.trail(ip))
            .await
    }
}

impl Shared {
    fn trail(&self, ip: Option<IpAddr>) -> Trail {
        Trail::new(self.clock.now(), ip)
    }
}
