//! Who is calling: credentials from the request envelope, resolved against
//! the session table into a [`Caller`].

pub mod throttle;

use std::net::IpAddr;
use std::sync::Arc;

use crate::audit::{self, Event, RefusalLog, Trail};
use crate::error::{Error, Result};
use crate::store::query::Reader;
use crate::store::{SessionRecord, Store, UserRecord};

use crate::clock::Millis;
use crate::policy::{SessionPolicy, Validity};
use crate::token;

/// What a request claims, after the envelope checked app id and keys.
#[derive(Clone, Default)]
pub struct Credentials {
    /// The master key was presented, matched, and came from an allowed address.
    pub master: bool,
    pub session_token: Option<String>,
    pub installation_id: Option<String>,
    pub ip: Option<IpAddr>,
}

impl Credentials {
    /// The session token to check, if any: with the master key it is
    /// ignored, as in Parse.
    pub fn token_to_check(&self) -> Option<&str> {
        self.session_token.as_deref().filter(|_| !self.master)
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("master", &self.master)
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .field("installation_id", &self.installation_id)
            .field("ip", &self.ip)
            .finish()
    }
}

/// The authenticated caller of one request.
#[derive(Clone, Default)]
pub struct Caller {
    pub master: bool,
    /// The caller's live session and the raw token that proved it. The token
    /// is kept only to echo it back to its owner (`/users/me`, `/sessions/me`).
    pub session: Option<(SessionRecord, String)>,
    /// The session's user, where the route asked for it with the session
    /// ([`crate::Core::authenticate_user`]): read in the same round trip.
    pub user: Option<Arc<UserRecord>>,
    pub installation_id: Option<String>,
    pub ip: Option<IpAddr>,
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("master", &self.master)
            .field("user", &self.user_id())
            .field("session", &self.session_id())
            .finish()
    }
}

impl Caller {
    /// The caller before its session token, if any, is checked.
    pub fn unauthenticated(credentials: &Credentials) -> Self {
        Caller {
            master: credentials.master,
            session: None,
            user: None,
            installation_id: credentials.installation_id.clone(),
            ip: credentials.ip,
        }
    }

    pub fn user_id(&self) -> Option<&str> {
        self.session.as_ref().map(|(s, _)| s.user_id.as_str())
    }

    /// Whose ACLs a find honours.
    pub fn reader(&self) -> Reader {
        match self.master {
            true => Reader::Master,
            false => Reader::User(self.user_id().map(String::from)),
        }
    }

    pub fn session_id(&self) -> Option<&str> {
        self.session.as_ref().map(|(s, _)| s.object_id.as_str())
    }

    pub fn token(&self) -> Option<&str> {
        self.session.as_ref().map(|(_, t)| t.as_str())
    }

    /// The caller's user id, or 209 for anonymous and master-only calls.
    pub fn require_user(&self) -> Result<&str> {
        self.user_id().ok_or_else(Error::invalid_session)
    }
}

/// What the session table says about a token, found by reads alone.
#[derive(Debug)]
pub enum Lookup {
    Alive(SessionRecord),
    /// Alive; its recorded last use is stale and should be written
    /// ([`Store::touch_session`]). The record already carries the new time.
    AliveTouch(SessionRecord),
    Dead(DeadToken),
}

/// A token that does not open a session; refusing it may write an audit
/// event or, for a reused rotated-out token, revoke sessions ([`refuse`]).
#[derive(Debug)]
pub enum DeadToken {
    Malformed,
    /// No session has this token (revoked, swept, rotated out, or never issued).
    Unknown(token::TokenHash),
    Expired(Box<SessionRecord>),
}

/// Reads only (a use is noted in the session cache, not yet written), so it
/// can run anywhere. Cannot accept a revoked or expired token: a cached row
/// is used only while nothing was committed since it was read, and the
/// policy checks its times on every use. `with_user`: the session's user is
/// read with it (one round trip on PostgreSQL) and returned beside.
pub async fn look_up(
    store: &Store,
    policy: &SessionPolicy,
    now: Millis,
    raw: &str,
    with_user: bool,
) -> Result<(Lookup, Option<Arc<UserRecord>>)> {
    let Some(hash) = token::parse(raw) else {
        return Ok((Lookup::Dead(DeadToken::Malformed), None));
    };
    let found = match with_user {
        true => store
            .session_and_user_by_token(&hash)
            .await?
            .map(|(session, user)| (session, Some(user))),
        false => store.session_by_token(&hash).await?.map(|s| (s, None)),
    };
    let Some((mut session, user)) = found else {
        return Ok((Lookup::Dead(DeadToken::Unknown(hash)), None));
    };
    let lookup = match policy.check(session.lifetime(), now) {
        Validity::Expired => {
            return Ok((Lookup::Dead(DeadToken::Expired(Box::new(session))), None));
        }
        Validity::Alive => Lookup::Alive(session),
        Validity::AliveTouch => {
            store.note_session_use(&hash, now);
            session.last_used_at = now;
            Lookup::AliveTouch(session)
        }
    };
    Ok((lookup, user))
}

/// Records a refused token (audit, reuse detection) and returns the error
/// every dead token gets, the same 209 whatever the reason.
pub async fn refuse(
    store: &Store,
    refusals: &RefusalLog,
    policy: &SessionPolicy,
    now: Millis,
    dead: DeadToken,
    ip: Option<IpAddr>,
) -> Error {
    let recorded = match dead {
        DeadToken::Malformed => Ok(()),
        DeadToken::Unknown(hash) => detect_reuse(store, refusals, policy, now, &hash, ip).await,
        DeadToken::Expired(session) => {
            refusals
                .record(store, now, Event::ExpiredTokenUsed, (&*session).into(), ip)
                .await;
            Ok(())
        }
    };
    match recorded {
        Ok(()) => Error::invalid_session(),
        Err(error) => error,
    }
}

/// A token that was rotated out and comes back after the grace window was
/// most likely stolen (the legitimate client switched to the new one): every
/// session of its user is revoked. Inside the window it is only refused, so a
/// client that lost the rotation response is not punished.
async fn detect_reuse(
    store: &Store,
    refusals: &RefusalLog,
    policy: &SessionPolicy,
    now: Millis,
    hash: &token::TokenHash,
    ip: Option<IpAddr>,
) -> Result<()> {
    let Some((session_id, user_id, rotated_at)) = store.rotated_token(hash).await? else {
        return Ok(());
    };
    if now - rotated_at < policy.reuse_grace {
        return Ok(());
    }
    let subject = audit::Subject {
        user_id: Some(&user_id),
        session_id: Some(&session_id),
        installation_id: None,
    };
    if refusals
        .record(store, now, Event::ReuseDetected, subject, ip)
        .await
    {
        tracing::warn!(target: "cloudcode::audit", user = %user_id, ?ip, "rotated-out session token reused: revoking every session of the user");
    }
    store
        .delete_sessions_of_user(&user_id, None, Event::RevokedByReuse, Trail::new(now, ip))
        .await?;
    Ok(())
}
