//! A few shared connections for the hot point reads (a token's session, a
//! user): the statements of many requests pipelined on each, instead of one
//! pooled connection held per request. On a small machine that shares its
//! cores with the database, waking one backend per batch rather than one
//! per request is most of the cost of a read (BENCHMARKS.md, "On
//! PostgreSQL").
//!
//! Reads only, at READ COMMITTED: whatever committed on any connection
//! before a read starts is what it sees, so a revocation holds here as on
//! the pool. A broken connection fails the reads on it (500) and is replaced
//! by the next read; none is ever answered from memory.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, NoTls, Row, Statement};

use super::CONNECT_TIMEOUT;
use super::rows::{SESSION_COLUMNS, USER_COLUMNS};
use super::tls::Tls;
use crate::store::StoreError;

/// Shared connections a node keeps for point reads.
const SHARED: usize = 2;
/// A read that has not answered in this long fails, and its connection is
/// dropped: a stalled connection must not hold requests.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The statements the shared connections serve, prepared once per connection.
#[derive(Clone, Copy)]
pub(super) enum Read {
    SessionByToken,
    /// The session's columns, then its user's: `/users/me` in one read.
    SessionAndUserByToken,
    User,
}

const READS: [Read; 3] = [
    Read::SessionByToken,
    Read::SessionAndUserByToken,
    Read::User,
];

impl Read {
    fn sql(self) -> String {
        let of = |alias: &str, columns: &str| {
            let qualified: Vec<String> = columns
                .split(", ")
                .map(|c| format!("{alias}.{c}"))
                .collect();
            qualified.join(", ")
        };
        match self {
            Read::SessionByToken => {
                format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE token_hash = $1")
            }
            Read::SessionAndUserByToken => format!(
                "SELECT {}, {} FROM sessions s JOIN users u ON u.object_id = s.user_id
                 WHERE s.token_hash = $1",
                of("s", SESSION_COLUMNS),
                of("u", USER_COLUMNS)
            ),
            Read::User => format!("SELECT {USER_COLUMNS} FROM users WHERE object_id = $1"),
        }
    }
}

pub(super) struct Readers {
    config: Config,
    tls: Tls,
    slots: Vec<Slot>,
    next: AtomicUsize,
}

#[derive(Default)]
struct Slot {
    current: Mutex<Option<Arc<Shared>>>,
    /// Held while connecting: the reads that find the slot empty wait for
    /// one new connection instead of each opening their own.
    connecting: tokio::sync::Mutex<()>,
}

struct Shared {
    client: Client,
    statements: Vec<Statement>,
}

fn timed_out(what: &str) -> StoreError {
    StoreError::Database(Box::new(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("the database did not answer a {what} in time"),
    )))
}

impl Readers {
    pub(super) fn new(config: Config, tls: Tls) -> Self {
        Readers {
            config,
            tls,
            slots: (0..SHARED).map(|_| Slot::default()).collect(),
            next: AtomicUsize::new(0),
        }
    }

    /// Opens every shared connection (at start-up: a database that refuses
    /// them fails the start, not the first requests).
    pub(super) async fn connect_all(&self) -> Result<(), StoreError> {
        for slot in &self.slots {
            self.connected(slot).await?;
        }
        Ok(())
    }

    /// Runs `read`; `None` when it finds no row.
    pub(super) async fn query_opt(
        &self,
        read: Read,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, StoreError> {
        let slot = &self.slots[self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len()];
        let shared = self.connected(slot).await?;
        let statement = &shared.statements[read as usize];
        match tokio::time::timeout(READ_TIMEOUT, shared.client.query_opt(statement, params)).await {
            Ok(row) => Ok(row?),
            Err(_) => {
                let mut current = slot.current.lock().unwrap_or_else(|e| e.into_inner());
                if current.as_ref().is_some_and(|c| Arc::ptr_eq(c, &shared)) {
                    *current = None;
                }
                Err(timed_out("read"))
            }
        }
    }

    /// The slot's connection, or a new one if it has none or it closed.
    async fn connected(&self, slot: &Slot) -> Result<Arc<Shared>, StoreError> {
        let live = || {
            let current = slot.current.lock().unwrap_or_else(|e| e.into_inner());
            current.clone().filter(|s| !s.client.is_closed())
        };
        if let Some(shared) = live() {
            return Ok(shared);
        }
        let _connecting = slot.connecting.lock().await;
        // Another read may have reconnected while this one waited.
        if let Some(shared) = live() {
            return Ok(shared);
        }
        let fresh = tokio::time::timeout(CONNECT_TIMEOUT, self.connect())
            .await
            .map_err(|_| timed_out("connection"))??;
        *slot.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(fresh.clone());
        Ok(fresh)
    }

    async fn connect(&self) -> Result<Arc<Shared>, StoreError> {
        let client = match &self.tls {
            Tls::Off => {
                let (client, connection) = self.config.connect(NoTls).await?;
                tokio::spawn(watch(connection));
                client
            }
            Tls::Verified(connector) => {
                let (client, connection) = self.config.connect(connector.clone()).await?;
                tokio::spawn(watch(connection));
                client
            }
        };
        let mut statements = Vec::with_capacity(READS.len());
        for read in READS {
            statements.push(client.prepare(&read.sql()).await?);
        }
        Ok(Arc::new(Shared { client, statements }))
    }
}

/// Drives a shared connection until it closes, and says why it did.
async fn watch(connection: impl std::future::Future<Output = Result<(), tokio_postgres::Error>>) {
    if let Err(error) = connection.await {
        tracing::warn!(%error, "a shared database connection closed");
    }
}
