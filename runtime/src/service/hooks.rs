//! The server's side of the sandbox's port: who a hook runs for, and the
//! session operations it may ask for, served by the store under the
//! server's clock and policy.

use std::net::IpAddr;
use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc};

use crate::auth::Caller;
use crate::sandbox::{EndReason, Invoker, SessionEnd, SessionPort};
use crate::store::{Ended, Event, SessionView, StoreError, Trail};
use crate::token::TokenHash;
use crate::{Core, Shared};

/// Runs the after-session-end hooks on every session that ends, in the
/// background: an ending never waits for them. At most half the trigger
/// slots run them at once, so a wave of endings (a sweep, a mass revoke)
/// queues here instead of crowding out afterSave hooks.
pub async fn run_session_end_hooks(core: Core, mut ends: mpsc::UnboundedReceiver<Ended>) {
    let running = Arc::new(Semaphore::new(
        core.config.sandbox.concurrency.div_ceil(2) as usize
    ));
    while let Some(ended) = ends.recv().await {
        let Some(end) = session_end(ended) else {
            continue;
        };
        if !core.sandbox.has_after_session_end() {
            continue;
        }
        let Ok(slot) = running.clone().acquire_owned().await else {
            return;
        };
        let core = core.clone();
        tokio::spawn(async move {
            core.sandbox.after_session_end(&core.port(), &end).await;
            drop(slot);
        });
    }
}

/// An ending as the after-session-end hooks are told of it; `None` for
/// events that end no session.
pub fn session_end(ended: Ended) -> Option<SessionEnd> {
    Some(SessionEnd {
        reason: end_reason(ended.event)?,
        session_id: ended.session_id,
        user_id: ended.user_id,
        installation_id: ended.installation_id,
        ip: ended.ip,
    })
}

/// Why a session ended, as hooks are told; `None` for events that do not
/// end one.
fn end_reason(event: Event) -> Option<EndReason> {
    Some(match event {
        Event::LoggedOut => EndReason::Logout,
        Event::RevokedByUser => EndReason::RevokedByUser,
        Event::RevokedByHook => EndReason::RevokedByHook,
        Event::RevokedByAdmin => EndReason::RevokedByAdmin,
        Event::RevokedByPasswordChange => EndReason::PasswordChange,
        Event::RevokedByReuse => EndReason::ReuseDetected,
        Event::Expired => EndReason::Expired,
        Event::RevokedWithUser => EndReason::UserDeleted,
        Event::Replaced => EndReason::Replaced,
        Event::Created
        | Event::ShortenedByAdmin
        | Event::Rotated
        | Event::ReuseDetected
        | Event::ExpiredTokenUsed => return None,
    })
}

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
