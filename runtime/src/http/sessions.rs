//! `/sessions`: extract and delegate (see [`crate::service`]).

use axum::extract::State;

use super::error::Path;

use super::Payload;
use crate::Core;
use crate::auth::Caller;
use crate::error::Result;
use crate::fields::body_object;
use crate::service::{Reply, sessions};

pub async fn me(State(core): State<Core>, caller: Caller) -> Result<Reply> {
    sessions::me(&core, &caller)
}

pub async fn find(State(core): State<Core>, caller: Caller, payload: Payload) -> Result<Reply> {
    let params = body_object(payload.body)?;
    sessions::find(&core, &caller, params).await
}

pub async fn create(caller: Caller) -> Result<Reply> {
    sessions::create(&caller)
}

pub async fn get(
    State(core): State<Core>,
    Path(id): Path<String>,
    caller: Caller,
) -> Result<Reply> {
    sessions::get(&core, &caller, &id)
}

pub async fn update(
    State(core): State<Core>,
    Path(id): Path<String>,
    caller: Caller,
    payload: Payload,
) -> Result<Reply> {
    sessions::update(&core, &caller, &id, payload.body).await
}

pub async fn delete(
    State(core): State<Core>,
    Path(id): Path<String>,
    caller: Caller,
) -> Result<Reply> {
    sessions::delete(&core, &caller, &id).await
}

pub async fn audit(State(core): State<Core>, caller: Caller, payload: Payload) -> Result<Reply> {
    let params = body_object(payload.body)?;
    sessions::audit_trail(&core, &caller, params).await
}
