//! `afterLogin`: caps how many devices a user can be logged in on. After
//! every login or signup it keeps the user's newest `max-sessions` sessions
//! (the one that just began always among them) and revokes the rest.
//!
//! The operator sets the cap and grants what the hook needs:
//!
//! ```toml
//! [hooks."max_sessions_per_user.wasm"]
//! grant = ["sessions:read", "sessions:revoke", "log"]
//! config = { max-sessions = 3 }
//! ```

use cloudcode_sdk::{
    Caller, Capability, HookError, Hooks, LoginEvent, Manifest, config, log, register_hooks,
    sessions,
};

pub struct MaxSessionsPerUser;

/// The cap when the operator sets none.
pub const DEFAULT_MAX_SESSIONS: usize = 5;

impl Hooks for MaxSessionsPerUser {
    fn manifest() -> Manifest {
        Manifest::new()
            .after_login()
            .capability(Capability::SessionsRead)
            .capability(Capability::SessionsRevoke)
            .capability(Capability::Log)
    }

    fn after_login(caller: &Caller, _login: &LoginEvent) -> Result<(), HookError> {
        let max = config::get::<usize>("max-sessions")?.unwrap_or(DEFAULT_MAX_SESSIONS);
        if max == 0 {
            return Err(HookError::script_failed("max-sessions must be at least 1"));
        }
        let user = caller.require_user()?;
        let mut live = sessions::list_for_user(user)?;
        if live.len() <= max {
            return Ok(());
        }
        // The session that just began first, then newest first (ISO 8601
        // times of one format sort as text).
        live.sort_by(|a, b| {
            b.current
                .cmp(&a.current)
                .then_with(|| b.created_at.cmp(&a.created_at))
        });
        let mut revoked = 0;
        for old in &live[max..] {
            if sessions::revoke(&old.object_id)? {
                revoked += 1;
            }
        }
        log::info(&format!(
            "kept the newest {max} sessions, revoked {revoked}"
        ));
        Ok(())
    }
}

register_hooks!(MaxSessionsPerUser);
