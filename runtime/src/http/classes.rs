//! `/classes/:className[/:id]`. `_User` and `_Session` are the same
//! resources as `/users` and `/sessions`; the JS SDK uses this form for
//! fetches, saves, queries and deletes.

use axum::extract::{Path, State};

use super::Envelope;
use crate::Core;
use crate::error::Result;
use crate::fields::body_object;
use crate::service::{Reply, objects, sessions, users};

pub async fn create(
    State(core): State<Core>,
    Path(class): Path<String>,
    env: Envelope,
) -> Result<Reply> {
    core.call(move |core| match class.as_str() {
        "_User" => users::signup(core, &env.credentials, env.body),
        "_Session" => sessions::create(core, &env.credentials),
        _ => objects::create(core, &env.credentials, &class, env.body),
    })
    .await
}

pub async fn find(
    State(core): State<Core>,
    Path(class): Path<String>,
    env: Envelope,
) -> Result<Reply> {
    let params = body_object(env.body)?;
    core.call(move |core| match class.as_str() {
        "_User" => users::find(core, &env.credentials, params),
        "_Session" => sessions::find(core, &env.credentials, params),
        _ => objects::find(core, &env.credentials, &class, params),
    })
    .await
}

pub async fn get(
    State(core): State<Core>,
    Path((class, id)): Path<(String, String)>,
    env: Envelope,
) -> Result<Reply> {
    core.call(move |core| match class.as_str() {
        "_User" => users::get(core, &env.credentials, &id),
        "_Session" => sessions::get(core, &env.credentials, &id),
        _ => objects::get(core, &env.credentials, &class, &id),
    })
    .await
}

pub async fn update(
    State(core): State<Core>,
    Path((class, id)): Path<(String, String)>,
    env: Envelope,
) -> Result<Reply> {
    core.call(move |core| match class.as_str() {
        "_User" => users::update(core, &env.credentials, &id, env.body),
        "_Session" => sessions::update(core, &env.credentials, &id, env.body),
        _ => objects::update(core, &env.credentials, &class, &id, env.body),
    })
    .await
}

pub async fn delete(
    State(core): State<Core>,
    Path((class, id)): Path<(String, String)>,
    env: Envelope,
) -> Result<Reply> {
    core.call(move |core| match class.as_str() {
        "_User" => users::delete(core, &env.credentials, &id),
        "_Session" => sessions::delete(core, &env.credentials, &id),
        _ => objects::delete(core, &env.credentials, &class, &id),
    })
    .await
}
