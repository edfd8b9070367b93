//! The login throttle's counts, shared by every node.

use tokio_postgres::Row;

use super::Pg;
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
        let statement = client
            .prepare_cached(&format!(
                "SELECT {FAILURE_COLUMNS} FROM login_failures WHERE key = $1"
            ))
            .await?;
        let row = client.query_opt(&statement, &[&key.as_slice()]).await?;
        Ok(row.as_ref().map(failures_from_row))
    }

    /// Counts a failure atomically: two nodes recording at once both count.
    pub async fn record_login_failure(
        &self,
        key: &[u8; 32],
        now: Millis,
        window: Millis,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // Make sure the row exists, then lock it: concurrent first failures
        // meet on the primary key instead of both inserting.
        tx.execute(
            "INSERT INTO login_failures (key, window_start, in_window, consecutive, last)
             VALUES ($1, 0, 0, 0, 0) ON CONFLICT (key) DO NOTHING",
            &[&key.as_slice()],
        )
        .await?;
        let row = tx
            .query_one(
                &format!("SELECT {FAILURE_COLUMNS} FROM login_failures WHERE key = $1 FOR UPDATE"),
                &[&key.as_slice()],
            )
            .await?;
        let mut failures = failures_from_row(&row);
        failures.record(now, window);
        tx.execute(
            "UPDATE login_failures SET window_start = $2, in_window = $3, consecutive = $4, last = $5
             WHERE key = $1",
            &[
                &key.as_slice(),
                &failures.window_start,
                &i64::from(failures.in_window),
                &i64::from(failures.consecutive),
                &failures.last,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
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
