//! The session audit trail's vocabulary. Every backend writes the rows of a
//! session change in the change's own transaction, so a change and its
//! audit row are committed together or not at all, and logs them (target
//! `cloudcode::audit`) only after the commit. Events carry user id, session
//! objectId, installation id and IP; never a token.

use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use tokio::sync::mpsc;

use super::{RevokedSession, SessionRecord};
use crate::clock::Millis;
use crate::metrics;

/// What happened to a session.
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

    /// Whether the event ends its session (the others start, change or
    /// only report one).
    pub fn ends_session(self) -> bool {
        match self {
            Event::Replaced
            | Event::LoggedOut
            | Event::RevokedByUser
            | Event::RevokedByAdmin
            | Event::RevokedByHook
            | Event::RevokedByPasswordChange
            | Event::RevokedWithUser
            | Event::RevokedByReuse
            | Event::Expired => true,
            Event::Created
            | Event::ShortenedByAdmin
            | Event::Rotated
            | Event::ReuseDetected
            | Event::ExpiredTokenUsed => false,
        }
    }
}

/// When and from where a change is made: what its audit rows record
/// besides the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trail {
    pub at: Millis,
    pub ip: Option<IpAddr>,
}

impl Trail {
    pub fn new(at: Millis, ip: Option<IpAddr>) -> Self {
        Self { at, ip }
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

/// One row of the session audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    pub id: i64,
    pub at: Millis,
    pub kind: String,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub installation_id: Option<String>,
    pub ip: Option<String>,
}

/// A session that ended, as the store reports it once the ending
/// committed (never its token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    /// What ended it: an event whose [`Event::ends_session`] is true.
    pub event: Event,
    pub user_id: String,
    pub session_id: String,
    pub installation_id: Option<String>,
    /// Where the request that ended it came from.
    pub ip: Option<IpAddr>,
}

/// Where a store's committed events go: the log and the metrics always,
/// and the sessions that end to whoever watches them (the after-session-end
/// hooks). Shared by every clone of a store.
#[derive(Clone, Default)]
pub(crate) struct Journal {
    ends: Arc<OnceLock<mpsc::UnboundedSender<Ended>>>,
}

impl Journal {
    /// The sessions that end from now on, as they commit. Only the first
    /// watcher gets them.
    pub(crate) fn watch_ends(&self) -> Option<mpsc::UnboundedReceiver<Ended>> {
        let (sender, receiver) = mpsc::unbounded_channel();
        self.ends.set(sender).ok().map(|()| receiver)
    }

    /// Logs events that were committed (after the commit: a log line
    /// never tells of a change that did not happen), counts the sessions
    /// they start and end, and reports those that end to the watcher.
    pub(crate) fn log<'a>(
        &self,
        event: Event,
        trail: Trail,
        subjects: impl IntoIterator<Item = Subject<'a>>,
    ) {
        let watcher = self.ends.get().filter(|_| event.ends_session());
        log(event, trail, subjects, |subject| {
            let Some(watcher) = watcher else {
                return;
            };
            let (Some(user_id), Some(session_id)) = (subject.user_id, subject.session_id) else {
                return;
            };
            // A watcher that is gone (the server stopping) misses nothing
            // anyone could act on.
            let _ = watcher.send(Ended {
                event,
                user_id: user_id.to_string(),
                session_id: session_id.to_string(),
                installation_id: subject.installation_id.map(String::from),
                ip: trail.ip,
            });
        });
    }
}

fn log<'a>(
    event: Event,
    trail: Trail,
    subjects: impl IntoIterator<Item = Subject<'a>>,
    mut each: impl FnMut(&Subject<'a>),
) {
    let metrics = metrics::get();
    let reason = metrics::ReasonLabels {
        reason: event.as_str(),
    };
    for subject in subjects {
        if event == Event::Created {
            metrics.sessions_created.inc();
        } else if event.ends_session() {
            metrics.sessions_ended.get_or_create(&reason).inc();
        }
        tracing::info!(
            target: "cloudcode::audit",
            event = event.as_str(),
            user = subject.user_id,
            session = subject.session_id,
            installation = subject.installation_id,
            ip = trail.ip.map(|ip| ip.to_string()),
            "session event"
        );
        each(&subject);
    }
}
