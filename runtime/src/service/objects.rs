//! Application classes: objects stored as JSON, guarded by their ACLs.

use serde_json::{Map, Value, json};

use super::Reply;
use super::render;
use crate::Core;
use crate::acl::{self, Access};
use crate::auth::Caller;
use crate::clock::to_iso;
use crate::error::{Code, Error, Result};
use crate::fields;
use crate::naming;
use crate::query::FindOptions;
use crate::store::ObjectRecord;
use crate::token;

/// Checks an application class name; system classes other than `_User` and
/// `_Session` (which have their own services) are not offered.
pub fn check_class(class: &str) -> Result<()> {
    if class.starts_with('_') {
        return Err(Error::forbidden(format!(
            "{class} is not supported by this server."
        )));
    }
    if !naming::is_valid_key(class) {
        return Err(Error::parse(
            Code::InvalidClassName,
            format!("Invalid class name: {class}"),
        ));
    }
    Ok(())
}

fn allowed(caller: &Caller, object: &ObjectRecord, access: Access) -> bool {
    caller.master || acl::allows(&object.fields, caller.user_id(), access)
}

/// Stores the object, then runs the afterSave hooks on this task.
pub async fn create(core: &Core, caller: &Caller, class: &str, body: Value) -> Result<Reply> {
    check_class(class)?;
    let body = fields::body_object(body)?;
    let changed: Vec<String> = body.keys().cloned().collect();
    let mut object_fields = Map::new();
    fields::apply(&mut object_fields, body)?;
    let now = core.now();
    let object = ObjectRecord {
        object_id: token::object_id(),
        fields: object_fields,
        created_at: now,
        updated_at: now,
    };
    core.store.create_object(class, &object).await?;
    super::after_save(core, caller, class, changed, || {
        (render::object(&object), None)
    })
    .await;
    let location = format!(
        "{}/classes/{class}/{}",
        core.config.mount_path, object.object_id
    );
    Ok(Reply::created(
        location,
        json!({"objectId": object.object_id, "createdAt": to_iso(now)}),
    ))
}

pub async fn get(core: &Core, caller: &Caller, class: &str, object_id: &str) -> Result<Reply> {
    check_class(class)?;
    let object = core
        .store
        .object(class, object_id)
        .await?
        .filter(|o| allowed(caller, o, Access::Read))
        .ok_or_else(Error::not_found)?;
    Ok(Reply::ok(Value::Object(render::object(&object))))
}

pub async fn find(
    core: &Core,
    caller: &Caller,
    class: &str,
    params: Map<String, Value>,
) -> Result<Reply> {
    check_class(class)?;
    let options = FindOptions::from_params(params)?;
    let found = core
        .store
        .find_objects(class, options.query(), &caller.reader())
        .await?;
    Ok(Reply::ok(options.answer(found.map(render::object))))
}

/// Changes the object under its ACL, then runs the afterSave hooks on this task.
pub async fn update(
    core: &Core,
    caller: &Caller,
    class: &str,
    object_id: &str,
    body: Value,
) -> Result<Reply> {
    check_class(class)?;
    let changes = fields::body_object(body)?;
    let changed: Vec<String> = changes.keys().cloned().collect();
    let now = core.now();
    let writer = caller.clone();
    let (object, (original, computed)) = core
        .store
        .update_object(class, object_id, move |object| {
            if !allowed(&writer, object, Access::Write) {
                return Err(Error::not_found());
            }
            let original = object.clone();
            let computed = fields::apply(&mut object.fields, changes)?;
            object.updated_at = now;
            Ok((original, computed))
        })
        .await?
        .ok_or_else(Error::not_found)?;
    super::after_save(core, caller, class, changed, || {
        (render::object(&object), Some(render::object(&original)))
    })
    .await;
    Ok(Reply::ok(render::update_answer(
        object.updated_at,
        &object.fields,
        &computed,
    )))
}

/// Deletes the object if its ACL, as committed, lets the caller write it.
pub async fn delete(core: &Core, caller: &Caller, class: &str, object_id: &str) -> Result<Reply> {
    check_class(class)?;
    let writer = caller.clone();
    core.store
        .delete_object(class, object_id, move |object| {
            if allowed(&writer, object, Access::Write) {
                Ok(())
            } else {
                Err(Error::not_found())
            }
        })
        .await?
        .ok_or_else(Error::not_found)?;
    Ok(Reply::empty())
}
