//! The port's audit trail operations.

use super::events::{Event, EventRecord, Subject, Trail};
use super::{Backend, Store, StoreError, blocking};
use crate::clock::Millis;

impl Store {
    /// Records an event that comes with no change of its own (a refused
    /// token).
    pub async fn record_event(
        &self,
        event: Event,
        subject: Subject<'_>,
        trail: Trail,
    ) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let [user_id, session_id, installation_id] =
                    [subject.user_id, subject.session_id, subject.installation_id]
                        .map(|id| id.map(String::from));
                blocking(db, move |db| {
                    let subject = Subject {
                        user_id: user_id.as_deref(),
                        session_id: session_id.as_deref(),
                        installation_id: installation_id.as_deref(),
                    };
                    db.record_event(event, subject, trail)
                })
                .await
            }
            Backend::Postgres(pg) => Box::pin(pg.record_event(event, subject, trail)).await,
        }
    }

    /// The audit trail, oldest first.
    pub async fn events(&self) -> Result<Vec<EventRecord>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => blocking(db, |db| db.events()).await,
            Backend::Postgres(pg) => Box::pin(pg.events()).await,
        }
    }

    /// Drops audit rows older than `before`; returns how many.
    pub async fn purge_events(&self, before: Millis) -> Result<usize, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => blocking(db, move |db| db.purge_events(before)).await,
            Backend::Postgres(pg) => Box::pin(pg.purge_events(before)).await,
        }
    }
}
