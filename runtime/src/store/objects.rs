//! The port's operations on objects of application classes.

use super::query::{Found, Query, Reader};
use super::{Backend, ObjectRecord, Store, StoreError, blocking};

impl Store {
    pub async fn create_object(
        &self,
        class: &str,
        object: &ObjectRecord,
    ) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let (class, object) = (class.to_string(), object.clone());
                blocking(db, move |db| db.create_object(&class, &object)).await
            }
            Backend::Postgres(pg) => Box::pin(pg.create_object(class, object)).await,
        }
    }

    pub async fn object(
        &self,
        class: &str,
        object_id: &str,
    ) -> Result<Option<ObjectRecord>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => db.object(class, object_id),
            Backend::Postgres(pg) => Box::pin(pg.object(class, object_id)).await,
        }
    }

    /// The objects of `class` that `query` selects among those `reader`
    /// may read.
    pub async fn find_objects(
        &self,
        class: &str,
        query: &Query,
        reader: &Reader,
    ) -> Result<Found<ObjectRecord>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let (class, query, reader) = (class.to_string(), query.clone(), reader.clone());
                blocking(db, move |db| db.find_objects(&class, &query, &reader)).await
            }
            Backend::Postgres(pg) => Box::pin(pg.find_objects(class, query, reader)).await,
        }
    }

    /// Reads, changes and writes an object in one transaction; `change` may
    /// refuse, and what else it returns comes back with the written object.
    /// `None` when absent.
    pub async fn update_object<T, E>(
        &self,
        class: &str,
        object_id: &str,
        change: impl FnOnce(&mut ObjectRecord) -> Result<T, E> + Send + 'static,
    ) -> Result<Option<(ObjectRecord, T)>, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        match &self.backend {
            Backend::Sqlite(db) => {
                let (class, object_id) = (class.to_string(), object_id.to_string());
                blocking(db, move |db| db.update_object(&class, &object_id, change)).await
            }
            Backend::Postgres(pg) => Box::pin(pg.update_object(class, object_id, change)).await,
        }
    }

    /// Deletes an object if `allowed` approves of its current state,
    /// atomically. `Ok(None)`: no such object.
    pub async fn delete_object<E>(
        &self,
        class: &str,
        object_id: &str,
        allowed: impl FnOnce(&ObjectRecord) -> Result<(), E> + Send + 'static,
    ) -> Result<Option<()>, E>
    where
        E: From<StoreError> + Send + 'static,
    {
        match &self.backend {
            Backend::Sqlite(db) => {
                let (class, object_id) = (class.to_string(), object_id.to_string());
                blocking(db, move |db| db.delete_object(&class, &object_id, allowed)).await
            }
            Backend::Postgres(pg) => Box::pin(pg.delete_object(class, object_id, allowed)).await,
        }
    }
}
