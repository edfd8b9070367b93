//! The login throttle's counts.

use r2d2_sqlite::rusqlite::{OptionalExtension, Row, params};

use super::{Db, execute_cached};
use crate::backoff::Failures;
use crate::clock::Millis;
use crate::store::StoreError;

const SELECT_FAILURES: &str =
    "SELECT window_start, in_window, consecutive, last FROM login_failures WHERE key = ?1";

fn failures_from_row(row: &Row<'_>) -> r2d2_sqlite::rusqlite::Result<Failures> {
    Ok(Failures {
        window_start: row.get(0)?,
        in_window: row.get(1)?,
        consecutive: row.get(2)?,
        last: row.get(3)?,
    })
}

impl Db {
    pub fn login_failures(&self, key: &[u8; 32]) -> Result<Option<Failures>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(SELECT_FAILURES)?;
            Ok(stmt
                .query_row([key.as_slice()], failures_from_row)
                .optional()?)
        })
    }

    pub fn record_login_failure(
        &self,
        key: &[u8; 32],
        now: Millis,
        window: Millis,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            let mut failures = tx
                .query_row(
                    SELECT_FAILURES,
                    [key.as_slice()],
                    failures_from_row,
                )
                .optional()?
                .unwrap_or_default();
            failures.record(now, window);
            execute_cached(
                tx,
                "INSERT OR REPLACE INTO login_failures (key, window_start, in_window, consecutive, last)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    key.as_slice(),
                    failures.window_start,
                    failures.in_window,
                    failures.consecutive,
                    failures.last
                ],
            )?;
            Ok(())
        })
    }

    pub fn clear_login_failures(&self, key: &[u8; 32]) -> Result<(), StoreError> {
        execute_cached(
            &*self.conn()?,
            "DELETE FROM login_failures WHERE key = ?1",
            [key.as_slice()],
        )?;
        Ok(())
    }

    pub fn forget_login_failures(&self, before: Millis) -> Result<usize, StoreError> {
        Ok(self
            .conn()?
            .execute("DELETE FROM login_failures WHERE last < ?1", [before])?)
    }
}
