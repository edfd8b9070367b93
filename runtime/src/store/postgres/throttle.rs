//! The login throttle's counts, shared by every node.

use tokio_postgres::Row;

use super::{Cached, Pg};
use crate::backoff::Failures;
use crate::clock::Millis;
use crate::store::StoreError;

const FAILURE_COLUMNS: &str = "window_start, in_window, consecutive, last";

fn failures_from_row(row: &Row) -> Failures {
    let count = |i: usize| u32::try_from(row.get::<_, i64>(i)).unwrap_or(u32::MAX);
    Failures {
        window_start: row.get(0),
        in_window: count(1),
        consecutive: count(2),
        last: row.get(3),
    }
}

impl Pg {
    pub async fn login_failures(&self, key: &[u8; 32]) -> Result<Option<Failures>, StoreError> {
        let client = self.client().await?;
        let row = client
            .row(
                &format!("SELECT {FAILURE_COLUMNS} FROM login_failures WHERE key = $1"),
                &[&key.as_slice()],
            )
            .await?;
        Ok(row.as_ref().map(failures_from_row))
    }

    /// Counts a failure atomically: two nodes recording at once both count,
    /// and a success clearing the count meanwhile is not an error.
    pub async fn record_login_failure(
        &self,
        key: &[u8; 32],
        now: Millis,
        window: Millis,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // Each pass either writes or saw another transaction win a race on
        // this key; a handful of passes is plenty.
        for _ in 0..8 {
            let row = tx
                .query_opt(
                    &format!(
                        "SELECT {FAILURE_COLUMNS} FROM login_failures WHERE key = $1 FOR UPDATE"
                    ),
                    &[&key.as_slice()],
                )
                .await?;
            let exists = row.is_some();
            let mut failures = row.as_ref().map(failures_from_row).unwrap_or_default();
            failures.record(now, window);
            let sql = if exists {
                "UPDATE login_failures SET window_start = $2, in_window = $3, consecutive = $4, last = $5
                 WHERE key = $1"
            } else {
                "INSERT INTO login_failures (key, window_start, in_window, consecutive, last)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key) DO NOTHING"
            };
            let written = tx
                .execute(
                    sql,
                    &[
                        &key.as_slice(),
                        &failures.window_start,
                        &i64::from(failures.in_window),
                        &i64::from(failures.consecutive),
                        &failures.last,
                    ],
                )
                .await?;
            // Zero rows: another node inserted the first count (read it,
            // locked, and count on top) or a success deleted it (start over).
            if written == 1 {
                tx.commit().await?;
                return Ok(());
            }
        }
        Err(StoreError::Stale)
    }

    pub async fn clear_login_failures(&self, key: &[u8; 32]) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM login_failures WHERE key = $1",
                &[&key.as_slice()],
            )
            .await?;
        Ok(())
    }

    pub async fn forget_login_failures(&self, before: Millis) -> Result<usize, StoreError> {
        let client = self.client().await?;
        let forgotten = client
            .execute("DELETE FROM login_failures WHERE last < $1", &[&before])
            .await?;
        Ok(forgotten as usize)
    }
}
