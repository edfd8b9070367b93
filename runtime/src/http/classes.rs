//! `/classes/:className[/:id]`. `_User` and `_Session` are the same
//! resources as `/users` and `/sessions`; the JS SDK uses this form for
//! fetches, saves, queries and deletes.

use axum::extract::State;

use super::error::Path;

use super::Payload;
use crate::Core;
use crate::auth::Caller;
use crate::error::Result;
use crate::fields::body_object;
use crate::service::{Reply, objects, sessions, users};

pub async fn create(
    State(core): State<Core>,
    Path(class): Path<String>,
    caller: Caller,
    payload: Payload,
) -> Result<Reply> {
    match class.as_str() {
        "_User" => users::signup(&core, &caller, payload.body).await,
        "_Session" => sessions::create(&caller),
        _ => objects::create(&core, &caller, &class, payload.body).await,
    }
}

pub async fn find(
    State(core): State<Core>,
    Path(class): Path<String>,
    caller: Caller,
    payload: Payload,
) -> Result<Reply> {
    let params = body_object(payload.body)?;
    match class.as_str() {
        "_User" => users::find(&core, &caller, params).await,
        "_Session" => sessions::find(&core, &caller, params).await,
        _ => objects::find(&core, &caller, &class, params).await,
    }
}

/// A read by key: inline.
pub async fn get(
    State(core): State<Core>,
    Path((class, id)): Path<(String, String)>,
    caller: Caller,
) -> Result<Reply> {
    match class.as_str() {
        "_User" => users::get(&core, &caller, &id),
        "_Session" => sessions::get(&core, &caller, &id),
        _ => objects::get(&core, &caller, &class, &id),
    }
}

pub async fn update(
    State(core): State<Core>,
    Path((class, id)): Path<(String, String)>,
    caller: Caller,
    payload: Payload,
) -> Result<Reply> {
    match class.as_str() {
        "_User" => users::update(&core, &caller, &id, payload.body).await,
        "_Session" => sessions::update(&core, &caller, &id, payload.body).await,
        _ => objects::update(&core, &caller, &class, &id, payload.body).await,
    }
}

pub async fn delete(
    State(core): State<Core>,
    Path((class, id)): Path<(String, String)>,
    caller: Caller,
) -> Result<Reply> {
    match class.as_str() {
        "_User" => users::delete(&core, &caller, &id).await,
        "_Session" => sessions::delete(&core, &caller, &id).await,
        _ => objects::delete(&core, &caller, &class, &id).await,
    }
}
