use tokio_postgres::types::Json;
use tokio_postgres::{GenericClient, Row, Transaction};

use super::Pg;
use super::rows::fields_from;
use crate::store::query::pointers;
use crate::store::{Fields, ObjectRecord, StoreError};

pub(super) const OBJECT_COLUMNS: &str = "object_id, fields, created_at, updated_at";

pub(super) fn object_from_row(row: &Row) -> Result<ObjectRecord, StoreError> {
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

/// Adds the object's rows to `object_pointers` (after its old ones are gone).
async fn index_pointers(
    client: &impl GenericClient,
    class: &str,
    object_id: &str,
    fields: &Fields,
) -> Result<(), StoreError> {
    let (fields, targets): (Vec<String>, Vec<String>) = pointers(fields).into_iter().unzip();
    if !fields.is_empty() {
        client
            .execute(INDEX_POINTERS, &[&class, &object_id, &fields, &targets])
            .await?;
    }
    Ok(())
}

const INDEX_POINTERS: &str = "INSERT INTO object_pointers (class_name, field, target, object_id)
     SELECT $1, field, target, $2 FROM unnest($3::text[], $4::text[]) AS p(field, target)";

/// Indexes the pointers of every stored object (once, when the index is new).
pub(super) async fn index_all_pointers(tx: &Transaction<'_>) -> Result<(), StoreError> {
    for row in tx
        .query("SELECT class_name, object_id, fields FROM objects", &[])
        .await?
    {
        let (class, object_id): (String, String) = (row.get(0), row.get(1));
        index_pointers(tx, &class, &object_id, &fields_from(row.get(2))?).await?;
    }
    Ok(())
}

/// Inserts the object and its pointers in one statement (atomic, one round trip).
pub(super) async fn insert_object(
    client: &impl GenericClient,
    class: &str,
    object: &ObjectRecord,
) -> Result<(), StoreError> {
    let (fields, targets): (Vec<String>, Vec<String>) =
        pointers(&object.fields).into_iter().unzip();
    client
        .execute(
            &format!(
                "WITH object AS (
                    INSERT INTO objects (class_name, object_id, fields, created_at, updated_at)
                    VALUES ($1, $2, $5, $6, $7))
                 {INDEX_POINTERS}"
            ),
            &[
                &class,
                &object.object_id,
                &fields,
                &targets,
                &Json(&object.fields),
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
                &Json(&object.fields),
                &object.updated_at,
            ],
        )
        .await
        .map_err(StoreError::from)?;
        tx.execute(
            "DELETE FROM object_pointers WHERE class_name = $1 AND object_id = $2",
            &[&class, &object_id],
        )
        .await
        .map_err(StoreError::from)?;
        index_pointers(&*tx, class, object_id, &object.fields).await?;
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
