//! The session audit trail. Every session event becomes a structured
//! `tracing` event (target `cloudcode::audit`) and a row of
//! `session_events`, which the master key reads at `GET /sessions/audit`.
//! Events carry user id, session objectId, installation id and IP; never a
//! token. A failure to store an event is logged, never fails the request.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use crate::clock::Millis;
use crate::store::{EventRecord, RevokedSession, SessionRecord, Store};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// Signup or login started a session.
    Created,
    /// A login on the same installation replaced the session.
    Replaced,
    /// `POST /logout`.
    LoggedOut,
    /// The owner deleted the session (`DELETE /sessions/:id`).
    RevokedByUser,
    /// The master key deleted it.
    RevokedByAdmin,
    /// The master key moved its expiry earlier.
    ShortenedByAdmin,
    /// A hook revoked it (logoutFromAllDevices, ...).
    RevokedByHook,
    /// A hook gave it a new token.
    Rotated,
    /// The user's password changed.
    RevokedByPasswordChange,
    /// The user was deleted.
    RevokedWithUser,
    /// A rotated-out token came back after the grace window: every session
    /// of the user is revoked.
    ReuseDetected,
    /// Revoked because a rotated-out token of the user was reused.
    RevokedByReuse,
    /// A token was presented after its session expired (idle or absolute).
    ExpiredTokenUsed,
    /// The sweeper purged the expired session.
    Expired,
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Created => "created",
            Event::Replaced => "replaced",
            Event::LoggedOut => "logged_out",
            Event::RevokedByUser => "revoked_by_user",
            Event::RevokedByAdmin => "revoked_by_admin",
            Event::ShortenedByAdmin => "shortened_by_admin",
            Event::RevokedByHook => "revoked_by_hook",
            Event::Rotated => "rotated",
            Event::RevokedByPasswordChange => "revoked_by_password_change",
            Event::RevokedWithUser => "revoked_with_user",
            Event::ReuseDetected => "reuse_detected",
            Event::RevokedByReuse => "revoked_by_reuse",
            Event::ExpiredTokenUsed => "expired_token_used",
            Event::Expired => "expired",
        }
    }
}

/// The session an event is about.
#[derive(Debug, Clone, Copy, Default)]
pub struct Subject<'a> {
    pub user_id: Option<&'a str>,
    pub session_id: Option<&'a str>,
    pub installation_id: Option<&'a str>,
}

impl<'a> From<&'a SessionRecord> for Subject<'a> {
    fn from(s: &'a SessionRecord) -> Self {
        Subject {
            user_id: Some(&s.user_id),
            session_id: Some(&s.object_id),
            installation_id: s.installation_id.as_deref(),
        }
    }
}

impl<'a> From<&'a RevokedSession> for Subject<'a> {
    fn from(s: &'a RevokedSession) -> Self {
        Subject {
            user_id: Some(&s.user_id),
            session_id: Some(&s.object_id),
            installation_id: s.installation_id.as_deref(),
        }
    }
}

pub fn record(store: &Store, now: Millis, event: Event, subject: Subject<'_>, ip: Option<IpAddr>) {
    let kind = event.as_str();
    tracing::info!(
        target: "cloudcode::audit",
        event = kind,
        user = subject.user_id,
        session = subject.session_id,
        installation = subject.installation_id,
        ip = ip.map(|ip| ip.to_string()),
        "session event"
    );
    let row = EventRecord {
        id: 0,
        at: now,
        kind: kind.to_string(),
        user_id: subject.user_id.map(String::from),
        session_id: subject.session_id.map(String::from),
        installation_id: subject.installation_id.map(String::from),
        ip: ip.map(|ip| ip.to_string()),
    };
    if let Err(error) = store.insert_event(&row) {
        tracing::error!(%error, event = kind, "could not store an audit event");
    }
}

/// Records the same event for each of `sessions`.
pub fn record_all(
    store: &Store,
    now: Millis,
    event: Event,
    sessions: &[RevokedSession],
    ip: Option<IpAddr>,
) {
    for session in sessions {
        record(store, now, event, session.into(), ip);
    }
}

/// How often a refused token's event is stored per session and kind.
pub const REFUSAL_WINDOW: Millis = 15 * 60 * 1000;
/// Sessions whose refusals are remembered at once.
const MAX_REMEMBERED: usize = 10_000;

/// Events about refused tokens (an expired token presented, a rotated-out
/// token reused) come from whoever replays the token, without
/// authentication, as fast as they like. Each session's first event of a
/// kind is stored, then at most one per [`REFUSAL_WINDOW`]; the rest go to
/// the debug log only, so replaying cannot grow the audit table.
#[derive(Debug, Default)]
pub struct RefusalLog {
    last_stored: Mutex<HashMap<(Event, String), Millis>>,
}

impl RefusalLog {
    /// Records `event` unless the same session's same event was stored
    /// within the window; true if it did.
    pub fn record(
        &self,
        store: &Store,
        now: Millis,
        event: Event,
        subject: Subject<'_>,
        ip: Option<IpAddr>,
    ) -> bool {
        let key = (event, subject.session_id.unwrap_or_default().to_string());
        {
            let mut seen = self.last_stored.lock().unwrap_or_else(|e| e.into_inner());
            if seen.get(&key).is_some_and(|&at| now - at < REFUSAL_WINDOW) {
                tracing::debug!(target: "cloudcode::audit", event = event.as_str(), session = subject.session_id, "repeated refusal not stored");
                return false;
            }
            if seen.len() >= MAX_REMEMBERED {
                seen.retain(|_, at| now - *at < REFUSAL_WINDOW);
                if seen.len() >= MAX_REMEMBERED {
                    seen.clear();
                }
            }
            seen.insert(key, now);
        }
        record(store, now, event, subject, ip);
        true
    }
}
