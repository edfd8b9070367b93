//! What the sandbox needs from the server, and nothing more: who is calling
//! ([`Invoker`]) and the session operations a hook may ask for
//! ([`SessionPort`]). The server implements the port; the sandbox holds it,
//! never the server itself.

use std::net::IpAddr;

use crate::store::{SessionView, StoreError};
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

/// The session operations behind the `sessions` imports, as the server
/// serves them: under its clock and policy, each change with its audit row
/// in the change's transaction, attributed to `ip`.
#[async_trait::async_trait]
pub trait SessionPort: Send + Sync + 'static {
    /// The live sessions of a user.
    async fn live_sessions(&self, user_id: &str) -> Result<Vec<SessionView>, StoreError>;
    /// The user a session belongs to, if the session exists.
    async fn owner_of(&self, session_id: &str) -> Result<Option<String>, StoreError>;
    /// Revokes one session (audited as revoked by a hook); false if absent.
    async fn revoke(&self, session_id: &str, ip: Option<IpAddr>) -> Result<bool, StoreError>;
    /// Revokes every session of a user but `keep`; returns how many of
    /// those it removed were alive (dead rows go too, uncounted).
    async fn revoke_all(
        &self,
        user_id: &str,
        keep: Option<&str>,
        ip: Option<IpAddr>,
    ) -> Result<usize, StoreError>;
    /// Gives a session a new token hash; false if the session is gone.
    async fn rotate(
        &self,
        session_id: &str,
        hash: &TokenHash,
        ip: Option<IpAddr>,
    ) -> Result<bool, StoreError>;
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::sandbox::{Sandbox, SandboxConfig, block_on, builtin_sources};

    /// A session table where a login lands between the hook's listing and
    /// its revocation: the listing shows one session, the delete removes
    /// three.
    struct RacingLogins;

    #[async_trait::async_trait]
    impl SessionPort for RacingLogins {
        async fn live_sessions(&self, _: &str) -> Result<Vec<SessionView>, StoreError> {
            Ok(Vec::new())
        }
        async fn owner_of(&self, _: &str) -> Result<Option<String>, StoreError> {
            Ok(None)
        }
        async fn revoke(&self, _: &str, _: Option<IpAddr>) -> Result<bool, StoreError> {
            Ok(false)
        }
        async fn revoke_all(
            &self,
            _: &str,
            _: Option<&str>,
            _: Option<IpAddr>,
        ) -> Result<usize, StoreError> {
            Ok(3)
        }
        async fn rotate(
            &self,
            _: &str,
            _: &TokenHash,
            _: Option<IpAddr>,
        ) -> Result<bool, StoreError> {
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
