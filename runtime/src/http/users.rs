use axum::extract::{Path, State};

use super::Envelope;
use crate::Core;
use crate::error::{Error, Result};
use crate::fields::body_object;
use crate::service::{Reply, users};

pub async fn signup(State(core): State<Core>, env: Envelope) -> Result<Reply> {
    core.call(move |core| users::signup(core, &env.credentials, env.body))
        .await
}

pub async fn login(State(core): State<Core>, env: Envelope) -> Result<Reply> {
    if env.from_url && env.body.get("password").is_some() {
        return Err(Error::forbidden(
            "Send credentials in the request body, never in the URL.",
        ));
    }
    core.call(move |core| users::login(core, &env.credentials, env.body))
        .await
}

pub async fn logout(State(core): State<Core>, env: Envelope) -> Result<Reply> {
    core.call(move |core| users::logout(core, &env.credentials))
        .await
}

pub async fn me(State(core): State<Core>, env: Envelope) -> Result<Reply> {
    core.call(move |core| users::me(core, &env.credentials))
        .await
}

pub async fn find(State(core): State<Core>, env: Envelope) -> Result<Reply> {
    let params = body_object(env.body)?;
    core.call(move |core| users::find(core, &env.credentials, params))
        .await
}

pub async fn get(State(core): State<Core>, Path(id): Path<String>, env: Envelope) -> Result<Reply> {
    core.call(move |core| users::get(core, &env.credentials, &id))
        .await
}

pub async fn update(
    State(core): State<Core>,
    Path(id): Path<String>,
    env: Envelope,
) -> Result<Reply> {
    core.call(move |core| users::update(core, &env.credentials, &id, env.body))
        .await
}

pub async fn delete(
    State(core): State<Core>,
    Path(id): Path<String>,
    env: Envelope,
) -> Result<Reply> {
    core.call(move |core| users::delete(core, &env.credentials, &id))
        .await
}
