use axum::extract::{Path, State};

use super::Envelope;
use crate::Core;
use crate::error::Result;
use crate::fields::body_object;
use crate::service::{Reply, sessions};

pub async fn me(State(core): State<Core>, env: Envelope) -> Result<Reply> {
    core.call(move |core| sessions::me(core, &env.credentials))
        .await
}

pub async fn find(State(core): State<Core>, env: Envelope) -> Result<Reply> {
    let params = body_object(env.body)?;
    core.call(move |core| sessions::find(core, &env.credentials, params))
        .await
}

pub async fn create(State(core): State<Core>, env: Envelope) -> Result<Reply> {
    core.call(move |core| sessions::create(core, &env.credentials))
        .await
}

pub async fn get(State(core): State<Core>, Path(id): Path<String>, env: Envelope) -> Result<Reply> {
    core.call(move |core| sessions::get(core, &env.credentials, &id))
        .await
}

pub async fn update(
    State(core): State<Core>,
    Path(id): Path<String>,
    env: Envelope,
) -> Result<Reply> {
    core.call(move |core| sessions::update(core, &env.credentials, &id, env.body))
        .await
}

pub async fn delete(
    State(core): State<Core>,
    Path(id): Path<String>,
    env: Envelope,
) -> Result<Reply> {
    core.call(move |core| sessions::delete(core, &env.credentials, &id))
        .await
}

pub async fn audit(State(core): State<Core>, env: Envelope) -> Result<Reply> {
    let params = body_object(env.body)?;
    core.call(move |core| sessions::audit_trail(core, &env.credentials, params))
        .await
}
