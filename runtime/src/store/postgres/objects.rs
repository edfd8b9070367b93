use serde_json::Value;
use tokio_postgres::{GenericClient, Row, Transaction};

use super::Pg;
use super::users::fields_from;
use crate::store::{ObjectRecord, StoreError};

const OBJECT_COLUMNS: &str = "object_id, fields, created_at, updated_at";

fn object_from_row(row: &Row) -> Result<ObjectRecord, StoreError> {
    Ok(ObjectRecord {
        object_id: row.get(0),
        fields: fields_from(row.get(1))?,
        created_at: row.get(2),
        updated_at: row.get(3),
    })
}

/// The object, locked (`lock`: the row lock clause) until the transaction ends.
async fn locked(
    tx: &Transaction<'_>,
    class: &str,
    object_id: &str,
    lock: &str,
) -> Result<Option<ObjectRecord>, StoreError> {
    let row = tx
        .query_opt(
            &format!(
                "SELECT {OBJECT_COLUMNS} FROM objects WHERE class_name = $1 AND object_id = $2 {lock}"
            ),
            &[&class, &object_id],
        )
        .await?;
    row.as_ref().map(object_from_row).transpose()
}

pub(super) async fn insert_object(
    client: &impl GenericClient,
    class: &str,
    object: &ObjectRecord,
) -> Result<(), StoreError> {
    client
        .execute(
            "INSERT INTO objects (class_name, object_id, fields, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &class,
                &object.object_id,
                &Value::Object(object.fields.clone()),
                &object.created_at,
                &object.updated_at,
            ],
        )
        .await?;
    Ok(())
}

impl Pg {
    pub async fn create_object(
        &self,
        class: &str,
        object: &ObjectRecord,
    ) -> Result<(), StoreError> {
        insert_object(&**self.client().await?, class, object).await
    }

    pub async fn object(
        &self,
        class: &str,
        object_id: &str,
    ) -> Result<Option<ObjectRecord>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!(
                    "SELECT {OBJECT_COLUMNS} FROM objects WHERE class_name = $1 AND object_id = $2"
                ),
                &[&class, &object_id],
            )
            .await?;
        row.as_ref().map(object_from_row).transpose()
    }

    pub async fn objects(&self, class: &str) -> Result<Vec<ObjectRecord>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {OBJECT_COLUMNS} FROM objects WHERE class_name = $1
                     ORDER BY created_at, object_id"
                ),
                &[&class],
            )
            .await?;
        rows.iter().map(object_from_row).collect()
    }

    pub async fn update_object<T, E>(
        &self,
        class: &str,
        object_id: &str,
        change: impl FnOnce(&mut ObjectRecord) -> Result<T, E>,
    ) -> Result<Option<(ObjectRecord, T)>, E>
    where
        E: From<StoreError>,
    {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(StoreError::from)?;
        let Some(mut object) = locked(&tx, class, object_id, "FOR NO KEY UPDATE").await? else {
            return Ok(None);
        };
        let outcome = change(&mut object)?;
        tx.execute(
            "UPDATE objects SET fields = $3, updated_at = $4 WHERE class_name = $1 AND object_id = $2",
            &[
                &class,
                &object_id,
                &Value::Object(object.fields.clone()),
                &object.updated_at,
            ],
        )
        .await
        .map_err(StoreError::from)?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(Some((object, outcome)))
    }

    pub async fn delete_object<E>(
        &self,
        class: &str,
        object_id: &str,
        allowed: impl FnOnce(&ObjectRecord) -> Result<(), E>,
    ) -> Result<Option<()>, E>
    where
        E: From<StoreError>,
    {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(StoreError::from)?;
        let Some(object) = locked(&tx, class, object_id, "FOR UPDATE").await? else {
            return Ok(None);
        };
        allowed(&object)?;
        tx.execute(
            "DELETE FROM objects WHERE class_name = $1 AND object_id = $2",
            &[&class, &object_id],
        )
        .await
        .map_err(StoreError::from)?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(Some(()))
    }
}
