//! The session audit trail. Every session event becomes a row of
//! `session_events`, which the master key reads at `GET /sessions/audit`,
//! and a structured `tracing` event (target `cloudcode::audit`). The store
//! writes the rows of a change in the change's own transaction
//! ([`crate::store::Trail`]); this module adds the events that come with no
//! change: refused tokens, stored at a bounded rate.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

pub use crate::store::{Event, Subject, Trail};

use crate::clock::Millis;
use crate::store::Store;

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
    pub async fn record(
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
        if let Err(error) = store
            .record_event(event, subject, Trail::new(now, ip))
            .await
        {
            // Refusing the token does not depend on the row.
            tracing::error!(%error, event = event.as_str(), "could not store an audit event");
        }
        true
    }
}
