//! The PostgreSQL backend: the state of any number of cloudcode nodes.
//!
//! Everything is in the database and nothing is cached on a node, so no
//! node can answer from a stale row: a revocation committed through one
//! node is what the next lookup on every node reads. Losing the database
//! fails every request that needs it (a 500 with a Parse error), never
//! serves from memory.
//!
//! Transactions run at READ COMMITTED and take row locks in one order: the
//! user's row first (`FOR NO KEY UPDATE`, which foreign-key checks do not
//! wait for), then session rows. Every write that changes a user's sessions
//! as a whole (a user write, a login, revoking all) takes the user's row
//! first, so they run one at a time per user, as they do on SQLite.

mod classes;
mod objects;
mod query;
mod readers;
mod restore;
mod rows;
mod schema;
mod sessions;
mod throttle;
mod tls;
mod users;

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Transaction;
use deadpool_postgres::{Client, Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::error::SqlState;
use tokio_postgres::{NoTls, Row};

use super::events::{Event, EventRecord, Journal, Subject, Trail};
use super::{RevokedSession, StoreError, UniqueField};
use crate::clock::Millis;

/// Connections a node keeps to the database at most.
const POOL_SIZE: usize = 16;
/// How long a request waits to connect, or for a free connection, before it
/// fails (500): an unreachable database fails requests, it does not hang them.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const POOL_WAIT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct Pg {
    /// Connections held by one operation at a time (transactions, scans).
    pool: Pool,
    /// Shared connections for the hot point reads ([`readers`]).
    readers: Arc<readers::Readers>,
    pub(in crate::store) journal: Journal,
}

impl Pg {
    /// Connects to `uri` (`postgres://user[:password]@host[:port]/database`)
    /// and brings the schema up to date.
    pub async fn connect(uri: &str, ca: Option<&std::path::Path>) -> Result<Self, StoreError> {
        let mut config: tokio_postgres::Config = uri.parse()?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let tls = tls::Tls::for_config(&config, ca)?;
        let recycling = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match tls.clone() {
            tls::Tls::Off => Manager::from_config(config.clone(), NoTls, recycling),
            tls::Tls::Verified(connector) => {
                Manager::from_config(config.clone(), connector, recycling)
            }
        };
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| StoreError::Database(Box::new(e)))?;
        schema::migrate(&mut checkout(&pool).await?).await?;
        // After the migration: the shared connections prepare their reads
        // against the schema it made.
        let readers = Arc::new(readers::Readers::start(config, tls).await?);
        Ok(Pg {
            pool,
            readers,
            journal: Journal::default(),
        })
    }

    async fn client(&self) -> Result<Client, StoreError> {
        checkout(&self.pool).await
    }
}

async fn checkout(pool: &Pool) -> Result<Client, StoreError> {
    pool.get()
        .await
        .map_err(|e| StoreError::Database(Box::new(e)))
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(error: tokio_postgres::Error) -> Self {
        let field = error
            .as_db_error()
            .filter(|db| db.code() == &SqlState::UNIQUE_VIOLATION)
            .and_then(|db| match db.constraint() {
                Some("users_username_unique") => Some(UniqueField::Username),
                Some("users_email_unique") => Some(UniqueField::Email),
                Some("objects_unique") => Some(UniqueField::ObjectId),
                _ => None,
            });
        match field {
            Some(field) => StoreError::Duplicate(field),
            None => StoreError::Database(Box::new(error)),
        }
    }
}

/// Statements run by their text, prepared once per connection and kept
/// (deadpool's statement cache): each use after the first is one round trip
/// where an unprepared statement costs two (parse, then execute). Only for
/// the fixed statements of this backend: a find's SQL varies with the
/// client's query and goes unprepared (`query_typed`), so no cache grows.
#[async_trait::async_trait]
trait Cached: deadpool_postgres::GenericClient {
    async fn rows(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        let statement = self.prepare_cached(sql).await?;
        Ok(self.query(&statement, params).await?)
    }

    async fn row(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Option<Row>, StoreError> {
        let statement = self.prepare_cached(sql).await?;
        Ok(self.query_opt(&statement, params).await?)
    }

    async fn run(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<u64, StoreError> {
        let statement = self.prepare_cached(sql).await?;
        Ok(self.execute(&statement, params).await?)
    }
}

impl<C: deadpool_postgres::GenericClient> Cached for C {}

/// Inserts the audit rows of `event` about `subjects` in the caller's
/// transaction.
async fn insert_events(
    tx: &deadpool_postgres::Transaction<'_>,
    event: Event,
    trail: Trail,
    subjects: &[Subject<'_>],
) -> Result<(), StoreError> {
    // Most changes end no other session (a login replaces none): no round trip.
    if subjects.is_empty() {
        return Ok(());
    }
    // One statement for all of them (a revoke-all of many sessions too).
    let column = |part: for<'s> fn(&Subject<'s>) -> Option<&'s str>| -> Vec<Option<String>> {
        subjects.iter().map(|s| part(s).map(String::from)).collect()
    };
    let users = column(|s| s.user_id);
    let sessions = column(|s| s.session_id);
    let installations = column(|s| s.installation_id);
    let ip = trail.ip.map(|ip| ip.to_string());
    tx.run(
        "INSERT INTO session_events (at, kind, user_id, session_id, installation_id, ip)
         SELECT $1, $2, subject.user_id, subject.session_id, subject.installation_id, $6
         FROM unnest($3::text[], $4::text[], $5::text[])
              AS subject(user_id, session_id, installation_id)",
        &[
            &trail.at,
            &event.as_str(),
            &users,
            &sessions,
            &installations,
            &ip,
        ],
    )
    .await?;
    Ok(())
}

/// Sessions as a write that removed or changed them returns them (the
/// columns of `RETURNING object_id, user_id, installation_id,
/// last_used_at, absolute_expires_at`).
fn revoked(rows: Vec<Row>) -> Vec<RevokedSession> {
    rows.iter()
        .map(|row| RevokedSession {
            object_id: row.get(0),
            user_id: row.get(1),
            installation_id: row.get(2),
            lifetime: crate::policy::Lifetime {
                last_used_at: row.get(3),
                absolute_expires_at: row.get(4),
            },
        })
        .collect()
}

const RETURNING: &str =
    "RETURNING object_id, user_id, installation_id, last_used_at, absolute_expires_at";

/// Takes the user's row lock that orders every write to a user's sessions;
/// false if the user does not exist.
async fn lock_user(tx: &Transaction<'_>, user_id: &str) -> Result<bool, StoreError> {
    let row = tx
        .row(
            "SELECT 1 FROM users WHERE object_id = $1 FOR NO KEY UPDATE",
            &[&user_id],
        )
        .await?;
    Ok(row.is_some())
}

impl Pg {
    /// Ends a transaction that changed sessions: their `event` rows go in, it
    /// commits, and then (only then) the events are logged.
    pub(super) async fn commit_session_change(
        &self,
        tx: deadpool_postgres::Transaction<'_>,
        event: Event,
        trail: Trail,
        changed: Vec<RevokedSession>,
    ) -> Result<Vec<RevokedSession>, StoreError> {
        let subjects: Vec<Subject<'_>> = changed.iter().map(Subject::from).collect();
        insert_events(&tx, event, trail, &subjects).await?;
        tx.commit().await?;
        self.journal.log(event, trail, subjects);
        Ok(changed)
    }

    pub async fn record_event(
        &self,
        event: Event,
        subject: Subject<'_>,
        trail: Trail,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        insert_events(&tx, event, trail, &[subject]).await?;
        tx.commit().await?;
        self.journal.log(event, trail, [subject]);
        Ok(())
    }

    pub async fn events(&self) -> Result<Vec<EventRecord>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, at, kind, user_id, session_id, installation_id, ip
                 FROM session_events ORDER BY id",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| EventRecord {
                id: row.get(0),
                at: row.get(1),
                kind: row.get(2),
                user_id: row.get(3),
                session_id: row.get(4),
                installation_id: row.get(5),
                ip: row.get(6),
            })
            .collect())
    }

    pub async fn purge_events(&self, before: Millis) -> Result<usize, StoreError> {
        let client = self.client().await?;
        let purged = client
            .execute("DELETE FROM session_events WHERE at < $1", &[&before])
            .await?;
        Ok(purged as usize)
    }
}
