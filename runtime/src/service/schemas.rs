//! `/schemas` and `/purge`, the class administration Parse Dashboard is
//! built on (master key only). A class's schema is what the server always
//! has (`objectId`, dates, ACL, and the fields of `_User` and `_Session`),
//! the fields declared through `/schemas`, and the fields its stored data
//! shows: objects are schemaless JSON here, so a field written by any
//! client appears without being declared, typed by the values it holds.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::{Reply, master_only};
use crate::Core;
use crate::auth::Caller;
use crate::error::{Code, Error, Result};
use crate::naming;
use crate::store::classes::{DeclaredClass, FieldSeen, JsonKind};

/// The classes with rules of their own: always there, never dropped or purged.
const BUILT_IN: [&str; 2] = ["_User", "_Session"];

/// Every class has these; none can be declared or removed.
const DEFAULT_FIELDS: [(&str, &str); 4] = [
    ("objectId", "String"),
    ("createdAt", "Date"),
    ("updatedAt", "Date"),
    ("ACL", "ACL"),
];

/// The field types a declaration may name.
const TYPES: [&str; 12] = [
    "String", "Number", "Boolean", "Date", "Object", "Array", "Pointer", "Relation", "File",
    "GeoPoint", "Polygon", "Bytes",
];

fn built_in_fields(class: &str) -> Vec<(&'static str, Value)> {
    let pointer_to_user = json!({"type": "Pointer", "targetClass": "_User"});
    match class {
        "_User" => vec![
            ("username", json!({"type": "String"})),
            ("password", json!({"type": "String"})),
            ("email", json!({"type": "String"})),
            ("emailVerified", json!({"type": "Boolean"})),
            ("authData", json!({"type": "Object"})),
        ],
        "_Session" => vec![
            ("user", pointer_to_user),
            ("installationId", json!({"type": "String"})),
            ("sessionToken", json!({"type": "String"})),
            ("expiresAt", json!({"type": "Date"})),
            ("createdWith", json!({"type": "Object"})),
            ("restricted", json!({"type": "Boolean"})),
        ],
        _ => Vec::new(),
    }
}

/// The fields no declaration may add or remove in `class`.
fn is_fixed(class: &str, field: &str) -> bool {
    DEFAULT_FIELDS.iter().any(|(name, _)| *name == field)
        || built_in_fields(class)
            .iter()
            .any(|(name, _)| *name == field)
}

/// The Parse type a stored value of this shape has (none for null).
fn type_of(seen: &FieldSeen) -> Option<Value> {
    Some(match seen.kind {
        JsonKind::Null => return None,
        JsonKind::Boolean => json!({"type": "Boolean"}),
        JsonKind::Number => json!({"type": "Number"}),
        JsonKind::String => json!({"type": "String"}),
        JsonKind::Array => json!({"type": "Array"}),
        JsonKind::Object => match (seen.type_tag.as_deref(), &seen.class_name) {
            (Some("Pointer"), Some(target)) => json!({"type": "Pointer", "targetClass": target}),
            (Some("Relation"), Some(target)) => {
                json!({"type": "Relation", "targetClass": target})
            }
            (Some(tag @ ("Date" | "File" | "GeoPoint" | "Polygon" | "Bytes")), _) => {
                json!({"type": tag})
            }
            _ => json!({"type": "Object"}),
        },
    })
}

/// Parse's default class-level permissions: anyone may do anything the
/// objects' ACLs allow (this server has no class-level permissions).
fn open_permissions() -> Value {
    let public = json!({"*": true});
    json!({
        "find": public, "count": public, "get": public, "create": public,
        "update": public, "delete": public, "addField": public,
        "protectedFields": {"*": []},
    })
}

/// The classes as the store knows them, by name.
struct Classes {
    /// Each class's fields beyond the defaults: built-in, declared, or
    /// seen in the data.
    schemas: BTreeMap<String, Map<String, Value>>,
    /// What `/schemas` declared of each.
    declared: BTreeMap<String, Map<String, Value>>,
}

/// Every class, or only `only` (whose objects alone are then read).
async fn classes(core: &Core, only: Option<&str>) -> Result<Classes> {
    let (declared, seen) =
        tokio::try_join!(core.store.declared_classes(), core.store.fields_seen(only))?;
    let wanted = |class: &str| only.is_none_or(|only| only == class);
    let declared: BTreeMap<String, Map<String, Value>> = declared
        .into_iter()
        .filter(|d| wanted(&d.class))
        .map(|DeclaredClass { class, fields }| (class, fields))
        .collect();
    let mut schemas = declared.clone();
    for class in BUILT_IN.into_iter().filter(|c| wanted(c)) {
        schemas.entry(class.to_string()).or_default();
    }
    for seen in &seen {
        let fields = schemas.entry(seen.class.clone()).or_default();
        if let Some(kind) = type_of(seen)
            && !fields.contains_key(&seen.field)
            && !is_fixed(&seen.class, &seen.field)
        {
            fields.insert(seen.field.clone(), kind);
        }
    }
    Ok(Classes { schemas, declared })
}

/// The schema as Parse renders it.
fn render(class: &str, extra: &Map<String, Value>) -> Value {
    let mut fields = Map::new();
    for (name, kind) in DEFAULT_FIELDS {
        fields.insert(name.into(), json!({"type": kind}));
    }
    for (name, kind) in built_in_fields(class) {
        fields.insert(name.into(), kind);
    }
    fields.extend(extra.clone());
    json!({
        "className": class,
        "fields": fields,
        "classLevelPermissions": open_permissions(),
    })
}

fn check_name(class: &str) -> Result<()> {
    if BUILT_IN.contains(&class) || naming::is_valid_key(class) {
        Ok(())
    } else {
        Err(Error::parse(
            Code::InvalidClassName,
            format!(
                "Invalid classname: {class}, classnames can only have alphanumeric characters and _, and must start with an alpha character "
            ),
        ))
    }
}

fn missing(class: &str) -> Error {
    Error::parse(
        Code::InvalidClassName,
        format!("Class {class} does not exist."),
    )
}

/// `GET /schemas`.
pub async fn all(core: &Core, caller: &Caller) -> Result<Reply> {
    master_only(caller)?;
    let results: Vec<Value> = classes(core, None)
        .await?
        .schemas
        .iter()
        .map(|(class, fields)| render(class, fields))
        .collect();
    Ok(Reply::ok(json!({"results": results})))
}

/// `GET /schemas/:className`.
pub async fn one(core: &Core, caller: &Caller, class: &str) -> Result<Reply> {
    master_only(caller)?;
    let schemas = classes(core, Some(class)).await?.schemas;
    let fields = schemas.get(class).ok_or_else(|| missing(class))?;
    Ok(Reply::ok(render(class, fields)))
}

/// A declaration's fields, checked: each a known type, pointers and
/// relations with a valid target, no fixed field.
fn declared_fields(class: &str, fields: &Map<String, Value>) -> Result<Map<String, Value>> {
    let mut checked = Map::new();
    for (name, kind) in fields {
        if !naming::is_valid_key(name) {
            return Err(Error::invalid_key(name));
        }
        if is_fixed(class, name) {
            return Err(Error::parse(
                Code::ChangedImmutableField,
                format!("field {name} cannot be changed"),
            ));
        }
        let type_name = kind.get("type").and_then(Value::as_str).unwrap_or_default();
        if !TYPES.contains(&type_name) {
            return Err(Error::parse(
                Code::IncorrectType,
                format!("invalid field type: {type_name}"),
            ));
        }
        let mut field = json!({"type": type_name});
        if matches!(type_name, "Pointer" | "Relation") {
            let target = kind
                .get("targetClass")
                .and_then(Value::as_str)
                .unwrap_or_default();
            check_name(target)?;
            field["targetClass"] = json!(target);
        }
        checked.insert(name.clone(), field);
    }
    Ok(checked)
}

fn fields_param(body: &Map<String, Value>) -> Result<Map<String, Value>> {
    match body.get("fields") {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(fields)) => Ok(fields.clone()),
        Some(_) => Err(Error::incorrect_type("fields must be an object")),
    }
}

/// `POST /schemas/:className`: declares a new class.
pub async fn create(
    core: &Core,
    caller: &Caller,
    class: &str,
    body: Map<String, Value>,
) -> Result<Reply> {
    master_only(caller)?;
    if let Some(named) = body.get("className").and_then(Value::as_str)
        && named != class
    {
        return Err(Error::parse(
            Code::InvalidClassName,
            format!("Class name mismatch between {named} and {class}."),
        ));
    }
    check_name(class)?;
    let exists = Error::parse(
        Code::InvalidClassName,
        format!("Class {class} already exists."),
    );
    if classes(core, Some(class))
        .await?
        .schemas
        .contains_key(class)
    {
        return Err(exists);
    }
    let fields = declared_fields(class, &fields_param(&body)?)?;
    if !core.store.declare_class(class, &fields).await? {
        return Err(exists);
    }
    Ok(Reply::ok(render(class, &fields)))
}

/// `PUT /schemas/:className`: adds fields (`{"type": ...}`) and removes
/// them (`{"__op": "Delete"}`, with their values in every object).
pub async fn update(
    core: &Core,
    caller: &Caller,
    class: &str,
    body: Map<String, Value>,
) -> Result<Reply> {
    master_only(caller)?;
    let Classes {
        schemas,
        mut declared,
    } = classes(core, Some(class)).await?;
    let current = schemas.get(class).ok_or_else(|| missing(class))?;
    let mut next = declared.remove(class).unwrap_or_default();
    let mut removed = Vec::new();
    let mut added = Map::new();
    for (name, change) in fields_param(&body)? {
        if change.get("__op").and_then(Value::as_str) == Some("Delete") {
            if is_fixed(class, &name) {
                return Err(Error::parse(
                    Code::ChangedImmutableField,
                    format!("field {name} cannot be changed"),
                ));
            }
            if !current.contains_key(&name) {
                return Err(Error::parse(
                    Code::ClassNotEmpty,
                    format!("Field {name} does not exist, cannot delete."),
                ));
            }
            next.remove(&name);
            removed.push(name);
        } else {
            if current.contains_key(&name) || is_fixed(class, &name) {
                return Err(Error::parse(
                    Code::ClassNotEmpty,
                    format!("Field {name} exists, cannot update."),
                ));
            }
            added.insert(name, change);
        }
    }
    next.extend(declared_fields(class, &added)?);
    core.store.redeclare_class(class, &next, &removed).await?;
    let mut fields = current.clone();
    fields.retain(|name, _| !removed.contains(name));
    fields.extend(next);
    Ok(Reply::ok(render(class, &fields)))
}

/// `DELETE /schemas/:className`: forgets an empty class.
pub async fn drop(core: &Core, caller: &Caller, class: &str) -> Result<Reply> {
    master_only(caller)?;
    check_name(class)?;
    if BUILT_IN.contains(&class) {
        return Err(Error::forbidden(format!("{class} cannot be dropped.")));
    }
    let held = core.store.drop_class(class).await?;
    if held > 0 {
        return Err(Error::parse(
            Code::ClassNotEmpty,
            format!("Class {class} is not empty, contains {held} objects, cannot drop schema."),
        ));
    }
    Ok(Reply::ok(json!({})))
}

/// `DELETE /purge/:className`: deletes every object of an application
/// class. Users and sessions are ended one by one, through their own
/// rules (audit, cascades), never in bulk.
pub async fn purge(core: &Core, caller: &Caller, class: &str) -> Result<Reply> {
    master_only(caller)?;
    check_name(class)?;
    if BUILT_IN.contains(&class) {
        return Err(Error::forbidden(format!(
            "{class} cannot be purged here: delete its rows one by one."
        )));
    }
    core.store.purge_objects(class).await?;
    Ok(Reply::ok(json!({})))
}
