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

/// The write runs on the blocking pool, the afterSave hooks on this task.
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
    let object = {
        let class = class.to_string();
        core.blocking(move |core| {
            core.store.create_object(&class, &object)?;
            Ok(object)
        })
        .await?
    };
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

pub fn get(core: &Core, caller: &Caller, class: &str, object_id: &str) -> Result<Reply> {
    check_class(class)?;
    let object = core
        .store
        .object(class, object_id)?
        .filter(|o| allowed(caller, o, Access::Read))
        .ok_or_else(Error::not_found)?;
    Ok(Reply::ok(Value::Object(render::object(&object))))
}

/// A scan, on the blocking pool.
pub async fn find(
    core: &Core,
    caller: &Caller,
    class: &str,
    params: Map<String, Value>,
) -> Result<Reply> {
    check_class(class)?;
    let options = FindOptions::from_params(params)?;
    let (caller, class) = (caller.clone(), class.to_string());
    core.blocking(move |core| {
        let objects = core.store.objects(&class)?;
        let visible = objects
            .iter()
            .filter(|o| allowed(&caller, o, Access::Read))
            .map(render::object);
        Ok(Reply::ok(options.run(visible)))
    })
    .await
}

/// The write runs on the blocking pool, the afterSave hooks on this task.
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
    let (object, original, computed) = {
        let (caller, class, object_id) = (caller.clone(), class.to_string(), object_id.to_string());
        core.blocking(move |core| {
            let mut computed = Vec::new();
            let mut original = None;
            let object = core
                .store
                .update_object(&class, &object_id, |object| {
                    if !allowed(&caller, object, Access::Write) {
                        return Err(Error::not_found());
                    }
                    original = Some(object.clone());
                    computed = fields::apply(&mut object.fields, changes)?;
                    object.updated_at = now;
                    Ok(())
                })?
                .ok_or_else(Error::not_found)?;
            Ok((object, original, computed))
        })
        .await?
    };
    super::after_save(core, caller, class, changed, || {
        (
            render::object(&object),
            original.as_ref().map(render::object),
        )
    })
    .await;
    Ok(Reply::ok(render::update_answer(
        object.updated_at,
        &object.fields,
        &computed,
    )))
}

/// The write runs on the blocking pool.
pub async fn delete(core: &Core, caller: &Caller, class: &str, object_id: &str) -> Result<Reply> {
    check_class(class)?;
    let (caller, class, object_id) = (caller.clone(), class.to_string(), object_id.to_string());
    core.blocking(move |core| remove(core, &caller, &class, &object_id))
        .await
}

fn remove(core: &Core, caller: &Caller, class: &str, object_id: &str) -> Result<Reply> {
    core.store
        .delete_object(class, object_id, |object| {
            if allowed(caller, object, Access::Write) {
                Ok(())
            } else {
                Err(Error::not_found())
            }
        })?
        .ok_or_else(Error::not_found)?;
    Ok(Reply::empty())
}
