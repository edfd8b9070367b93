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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::policy::Lifetime;
    use crate::sandbox::{Sandbox, SandboxConfig, block_on, builtin_sources};

    const DAY: Millis = 24 * 3600 * 1000;

    /// A session table where a login lands between the hook's listing and
    /// its revocation: the listing shows one session, the delete removes
    /// three.
    struct RacingLogins;

    fn removed(object_id: &str) -> RevokedSession {
        RevokedSession {
            object_id: object_id.into(),
            user_id: "u1".into(),
            installation_id: None,
            lifetime: Lifetime {
                last_used_at: 0,
                absolute_expires_at: DAY,
            },
        }
    }

    impl SessionPort for RacingLogins {
        fn now(&self) -> Millis {
            1
        }
        fn policy(&self) -> SessionPolicy {
            SessionPolicy::new(DAY, DAY)
        }
        fn live_sessions(&self, _: &str) -> Result<Vec<SessionRecord>, StoreError> {
            Ok(Vec::new())
        }
        fn session(&self, _: &str) -> Result<Option<SessionRecord>, StoreError> {
            Ok(None)
        }
        fn revoke(&self, _: &str, _: Trail) -> Result<bool, StoreError> {
            Ok(false)
        }
        fn revoke_all(
            &self,
            _: &str,
            _: Option<&str>,
            _: Trail,
        ) -> Result<Vec<RevokedSession>, StoreError> {
            Ok(vec![removed("a"), removed("b"), removed("c")])
        }
        fn rotate(&self, _: &str, _: &TokenHash, _: Trail) -> Result<bool, StoreError> {
            Ok(false)
        }
    }

    /// `logoutFromAllDevices` reports what the revoking delete removed, not
    /// what an earlier listing saw.
    #[test]
    fn revoke_all_counts_what_the_delete_removed() {
        let config = SandboxConfig {
            concurrency: 1,
            ..SandboxConfig::default()
        };
        let sandbox = Sandbox::new(config, builtin_sources()).unwrap();
        let port: Arc<dyn SessionPort> = Arc::new(RacingLogins);
        let invoker = Invoker {
            user_id: Some("u1".into()),
            session_id: Some("a".into()),
            ..Invoker::default()
        };
        let revoked =
            block_on(sandbox.call_function(&port, &invoker, "logoutFromAllDevices", &json!({})))
                .unwrap();
        assert_eq!(revoked, json!(3));
    }
}
