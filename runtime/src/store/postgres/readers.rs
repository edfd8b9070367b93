//! A few shared connections for the hot point reads (a token's session, a
//! user), instead of one pooled connection held per request. Each connection
//! has one batcher: the reads that arrive while its previous batch is in
//! flight go out together, one statement per kind of read with all their
//! keys (`= ANY($1)`). On a small machine that shares its cores with the
//! database, a statement's fixed cost, not its rows, is most of the cost of
//! a read (BENCHMARKS.md, "On PostgreSQL"); under load a batch pays it once
//! for many requests, and an idle node still sends each read at once.
//!
//! Reads only, at READ COMMITTED: a batch's statement starts after every
//! read in it arrived, so whatever committed before a read arrived is what
//! it sees, and a revocation holds here as on the pool. A broken connection
//! fails the reads of its batch (500) and is replaced for the next batch;
//! none is ever answered from memory.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_postgres::{Client, Config, NoTls, Row, Statement};

use super::CONNECT_TIMEOUT;
use super::rows::{SESSION_COLUMNS, USER_COLUMNS};
use super::tls::Tls;
use crate::store::StoreError;
use crate::token::TokenHash;

/// Shared connections a node keeps for point reads.
const SHARED: usize = 2;
/// A batch that has not answered in this long fails, and its connection is
/// dropped: a stalled connection must not hold requests.
const READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The most reads one batch carries; the rest wait for the next.
const BATCH: usize = 256;

/// The statements the shared connections serve, prepared once per connection.
/// Each selects its key first, then the record, for all the keys in `$1`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
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
    /// The key a row of this read was found by (its column 0).
    fn key_of(self, row: &Row) -> Key {
        match self {
            Read::User => Key::ObjectId(row.get(0)),
            Read::SessionByToken | Read::SessionAndUserByToken => {
                // Found by equality with a 32-byte key, so 32 bytes long.
                let hash: &[u8] = row.get(0);
                Key::TokenHash(TokenHash(hash.try_into().unwrap_or_default()))
            }
        }
    }

    fn sql(self) -> String {
        let of = |alias: &str, columns: &str| {
            let qualified: Vec<String> = columns
                .split(", ")
                .map(|c| format!("{alias}.{c}"))
                .collect();
            qualified.join(", ")
        };
        match self {
            Read::SessionByToken => format!(
                "SELECT token_hash, {SESSION_COLUMNS} FROM sessions WHERE token_hash = ANY($1)"
            ),
            Read::SessionAndUserByToken => format!(
                "SELECT s.token_hash, {}, {} FROM sessions s JOIN users u ON u.object_id = s.user_id
                 WHERE s.token_hash = ANY($1)",
                of("s", SESSION_COLUMNS),
                of("u", USER_COLUMNS)
            ),
            Read::User => {
                format!("SELECT object_id, {USER_COLUMNS} FROM users WHERE object_id = ANY($1)")
            }
        }
    }
}

/// What a read looks up: a token's hash or a user's id, as the read's
/// statement takes it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(super) enum Key {
    TokenHash(TokenHash),
    ObjectId(String),
}

/// A found row: the record's columns start at [`FOUND_AT`] (column 0 is the
/// key it was found by).
pub(super) const FOUND_AT: usize = 1;

type Answer = Result<Option<Row>, StoreError>;

struct Pending {
    read: Read,
    key: Key,
    answer: oneshot::Sender<Answer>,
}

pub(super) struct Readers {
    queues: Vec<mpsc::UnboundedSender<Pending>>,
    next: AtomicUsize,
}

/// How the batchers (re)connect.
struct Connections {
    config: Config,
    tls: Tls,
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
    /// Opens every shared connection (at start-up: a database that refuses
    /// them fails the start, not the first requests) and starts their
    /// batchers, which end when the readers are dropped.
    pub(super) async fn start(config: Config, tls: Tls) -> Result<Self, StoreError> {
        let connections = Arc::new(Connections { config, tls });
        let mut queues = Vec::with_capacity(SHARED);
        for _ in 0..SHARED {
            let shared = connections.open().await?;
            let (queue, pending) = mpsc::unbounded_channel();
            tokio::spawn(batcher(connections.clone(), shared, pending));
            queues.push(queue);
        }
        Ok(Readers {
            queues,
            next: AtomicUsize::new(0),
        })
    }

    /// Runs `read` for `key`; `None` when it finds no row. The record's
    /// columns start at [`FOUND_AT`].
    pub(super) async fn query_opt(&self, read: Read, key: Key) -> Answer {
        let queue = &self.queues[self.next.fetch_add(1, Ordering::Relaxed) % self.queues.len()];
        let (answer, answered) = oneshot::channel();
        let stopped = || StoreError::Database("the shared database connections stopped".into());
        queue
            .send(Pending { read, key, answer })
            .map_err(|_| stopped())?;
        answered.await.map_err(|_| stopped())?
    }
}

impl Connections {
    async fn open(&self) -> Result<Shared, StoreError> {
        tokio::time::timeout(CONNECT_TIMEOUT, self.connect())
            .await
            .map_err(|_| timed_out("connection"))?
    }

    async fn connect(&self) -> Result<Shared, StoreError> {
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
        Ok(Shared { client, statements })
    }
}

/// Serves one shared connection: takes every read waiting (up to [`BATCH`]),
/// runs them as one statement per kind, pipelined, answers each, and goes
/// again. Reconnects before a batch when the connection closed; a batch that
/// fails is failed for each of its reads.
async fn batcher(
    connections: Arc<Connections>,
    shared: Shared,
    mut pending: mpsc::UnboundedReceiver<Pending>,
) {
    let mut current = Some(shared);
    let mut batch = Vec::with_capacity(BATCH);
    while pending.recv_many(&mut batch, BATCH).await > 0 {
        if current.as_ref().is_none_or(|s| s.client.is_closed()) {
            current = connections.open().await.map_err(fail(&mut batch)).ok();
        }
        if let Some(shared) = &current {
            match tokio::time::timeout(READ_TIMEOUT, run(shared, &mut batch)).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => fail(&mut batch)(error),
                Err(_) => {
                    fail(&mut batch)(timed_out("read"));
                    current = None;
                }
            }
        }
        batch.clear();
    }
}

/// Answers every read still in `batch` with (a copy of) `error`.
fn fail(batch: &mut Vec<Pending>) -> impl FnOnce(StoreError) + '_ {
    move |error| {
        let message = error.to_string();
        for read in batch.drain(..) {
            let _ = read
                .answer
                .send(Err(StoreError::Database(message.clone().into())));
        }
    }
}

/// Runs the batch's reads, one statement per kind of read, and answers them.
async fn run(shared: &Shared, batch: &mut Vec<Pending>) -> Result<(), StoreError> {
    let (sessions, joined, users) = tokio::join!(
        fetch(shared, Read::SessionByToken, batch),
        fetch(shared, Read::SessionAndUserByToken, batch),
        fetch(shared, Read::User, batch),
    );
    let mut found: HashMap<(Read, Key), Row> = HashMap::new();
    for (read, rows) in READS.into_iter().zip([sessions?, joined?, users?]) {
        found.extend(rows.into_iter().map(|row| ((read, read.key_of(&row)), row)));
    }
    for pending in batch.drain(..) {
        let row = found.get(&(pending.read, pending.key)).cloned();
        let _ = pending.answer.send(Ok(row));
    }
    Ok(())
}

/// The rows of `read` for the keys the batch holds for it (none asked, no
/// statement sent).
async fn fetch(
    shared: &Shared,
    read: Read,
    batch: &[Pending],
) -> Result<Vec<Row>, tokio_postgres::Error> {
    let mut hashes: Vec<&[u8]> = Vec::new();
    let mut ids: Vec<&str> = Vec::new();
    for pending in batch.iter().filter(|p| p.read == read) {
        match &pending.key {
            Key::TokenHash(hash) => hashes.push(&hash.0),
            Key::ObjectId(id) => ids.push(id),
        }
    }
    let statement = &shared.statements[read as usize];
    match read {
        _ if hashes.is_empty() && ids.is_empty() => Ok(Vec::new()),
        Read::User => shared.client.query(statement, &[&ids]).await,
        Read::SessionByToken | Read::SessionAndUserByToken => {
            shared.client.query(statement, &[&hashes]).await
        }
    }
}

/// Drives a shared connection until it closes, and says why it did.
async fn watch(connection: impl std::future::Future<Output = Result<(), tokio_postgres::Error>>) {
    if let Err(error) = connection.await {
        tracing::warn!(%error, "a shared database connection closed");
    }
}
