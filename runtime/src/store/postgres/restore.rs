//! Writing a whole snapshot into an empty database (`cloudcode migrate`).

use tokio_postgres::types::Json;

use super::Pg;
use super::objects::insert_object;
use super::sessions::insert_session_row;
use super::users::{Save, save_user};
use crate::store::StoreError;
use crate::store::snapshot::{Copied, Snapshot};

impl Pg {
    /// Writes every row of `snapshot` in one transaction, into a database
    /// that holds no user, session or object yet (else nothing is written).
    pub async fn restore(&self, snapshot: &Snapshot) -> Result<Copied, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let occupied: bool = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM users) OR EXISTS (SELECT 1 FROM sessions)
                        OR EXISTS (SELECT 1 FROM objects)",
                &[],
            )
            .await?
            .get(0);
        if occupied {
            return Err(StoreError::NotEmpty);
        }
        for user in &snapshot.users {
            save_user(&tx, user, Save::Insert).await?;
        }
        for (session, hash) in &snapshot.sessions {
            insert_session_row(&tx, session, hash).await?;
        }
        let rotated = tx
            .prepare(
                "INSERT INTO rotated_tokens (token_hash, session_id, user_id, rotated_at)
                 VALUES ($1, $2, $3, $4)",
            )
            .await?;
        for r in &snapshot.rotated_tokens {
            tx.execute(
                &rotated,
                &[&r.token_hash, &r.session_id, &r.user_id, &r.rotated_at],
            )
            .await?;
        }
        // Events keep their ids (the trail's order); the sequence goes on
        // after the last.
        let event = tx
            .prepare(
                "INSERT INTO session_events (id, at, kind, user_id, session_id, installation_id, ip)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .await?;
        for e in &snapshot.events {
            tx.execute(
                &event,
                &[
                    &e.id,
                    &e.at,
                    &e.kind,
                    &e.user_id,
                    &e.session_id,
                    &e.installation_id,
                    &e.ip,
                ],
            )
            .await?;
        }
        tx.execute(
            "SELECT setval(pg_get_serial_sequence('session_events', 'id'),
                           GREATEST((SELECT MAX(id) FROM session_events), 1))",
            &[],
        )
        .await?;
        for (class, object) in &snapshot.objects {
            insert_object(&*tx, class, object).await?;
        }
        let failures = tx
            .prepare(
                "INSERT INTO login_failures (key, window_start, in_window, consecutive, last)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .await?;
        for (key, f) in &snapshot.login_failures {
            tx.execute(
                &failures,
                &[
                    key,
                    &f.window_start,
                    &i64::from(f.in_window),
                    &i64::from(f.consecutive),
                    &f.last,
                ],
            )
            .await?;
        }
        for declared in &snapshot.classes {
            tx.execute(
                "INSERT INTO classes (class_name, fields) VALUES ($1, $2)",
                &[&declared.class, &Json(&declared.fields)],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(snapshot.counts())
    }
}
