//! The port's operations on classes as a whole (what `/schemas` and
//! `/purge` need): the fields an operator declared, the fields the stored
//! data shows, and emptying a class.

use serde_json::{Map, Value};

use super::{Backend, Store, StoreError, blocking};

/// The JSON kind of a stored field value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JsonKind {
    Null,
    Boolean,
    Number,
    String,
    Array,
    Object,
}

/// One shape a field takes in a class's stored objects (`_User` for the
/// users' own fields): its kind and, for an object, the Parse `__type` and
/// `className` it carries.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldSeen {
    pub class: String,
    pub field: String,
    pub kind: JsonKind,
    pub type_tag: Option<String>,
    pub class_name: Option<String>,
}

/// A class as declared through `/schemas`: its fields by name, each a
/// Parse field type (`{"type": "Pointer", "targetClass": "_User"}`).
#[derive(Debug, Clone, PartialEq)]
pub struct DeclaredClass {
    pub class: String,
    pub fields: Map<String, Value>,
}

impl Store {
    /// Every declared class, by name.
    pub async fn declared_classes(&self) -> Result<Vec<DeclaredClass>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => blocking(db, |db| db.declared_classes()).await,
            Backend::Postgres(pg) => Box::pin(pg.declared_classes()).await,
        }
    }

    /// The shapes the stored fields take, of every class or of one.
    pub async fn fields_seen(&self, class: Option<&str>) -> Result<Vec<FieldSeen>, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let class = class.map(String::from);
                blocking(db, move |db| db.fields_seen(class.as_deref())).await
            }
            Backend::Postgres(pg) => Box::pin(pg.fields_seen(class)).await,
        }
    }

    /// Declares `class` with `fields`; false if it was declared already.
    pub async fn declare_class(
        &self,
        class: &str,
        fields: &Map<String, Value>,
    ) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let (class, fields) = (class.to_string(), fields.clone());
                blocking(db, move |db| db.declare_class(&class, &fields)).await
            }
            Backend::Postgres(pg) => Box::pin(pg.declare_class(class, fields)).await,
        }
    }

    /// Sets the declared fields of `class` to `fields` and deletes the
    /// values of the `removed` fields from every object of the class, in
    /// one transaction.
    pub async fn redeclare_class(
        &self,
        class: &str,
        fields: &Map<String, Value>,
        removed: &[String],
    ) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let (class, fields, removed) =
                    (class.to_string(), fields.clone(), removed.to_vec());
                blocking(db, move |db| db.redeclare_class(&class, &fields, &removed)).await
            }
            Backend::Postgres(pg) => Box::pin(pg.redeclare_class(class, fields, removed)).await,
        }
    }

    /// Forgets the declaration of `class` if it has no objects; the number
    /// of objects it has otherwise (and then nothing changes).
    pub async fn drop_class(&self, class: &str) -> Result<u64, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let class = class.to_string();
                blocking(db, move |db| db.drop_class(&class)).await
            }
            Backend::Postgres(pg) => Box::pin(pg.drop_class(class)).await,
        }
    }

    /// Deletes every object of `class`; how many there were.
    pub async fn purge_objects(&self, class: &str) -> Result<u64, StoreError> {
        match &self.backend {
            Backend::Sqlite(db) => {
                let class = class.to_string();
                blocking(db, move |db| db.purge_objects(&class)).await
            }
            Backend::Postgres(pg) => Box::pin(pg.purge_objects(class)).await,
        }
    }
}
