//! `/users`, `/login`, `/logout`. Reads by key run inline (see
//! [`crate::store`]); writes, queries and password hashing go to the
//! blocking pool.

use axum::extract::State;

use super::error::Path;

use super::Payload;
use crate::Core;
use crate::auth::{Caller, Credentials};
use crate::error::{Error, Result};
use crate::fields::body_object;
use crate::service::{Reply, login, users};

pub async fn signup(State(core): State<Core>, caller: Caller, payload: Payload) -> Result<Reply> {
    core.blocking(move |core| users::signup(core, &caller, payload.body))
        .await
}

pub async fn login(
    State(core): State<Core>,
    credentials: Credentials,
    payload: Payload,
) -> Result<Reply> {
    if payload.from_url && payload.body.get("password").is_some() {
        return Err(Error::forbidden(
            "Send credentials in the request body, never in the URL.",
        ));
    }
    core.blocking(move |core| login::login(core, &credentials, payload.body))
        .await
}

pub async fn logout(State(core): State<Core>, caller: Caller) -> Result<Reply> {
    core.blocking(move |core| login::logout(core, &caller))
        .await
}

pub async fn me(State(core): State<Core>, caller: Caller) -> Result<Reply> {
    users::me(&core, &caller)
}

pub async fn find(State(core): State<Core>, caller: Caller, payload: Payload) -> Result<Reply> {
    let params = body_object(payload.body)?;
    core.blocking(move |core| users::find(core, &caller, params))
        .await
}

pub async fn get(
    State(core): State<Core>,
    Path(id): Path<String>,
    caller: Caller,
) -> Result<Reply> {
    users::get(&core, &caller, &id)
}

pub async fn update(
    State(core): State<Core>,
    Path(id): Path<String>,
    caller: Caller,
    payload: Payload,
) -> Result<Reply> {
    core.blocking(move |core| users::update(core, &caller, &id, payload.body))
        .await
}

pub async fn delete(
    State(core): State<Core>,
    Path(id): Path<String>,
    caller: Caller,
) -> Result<Reply> {
    core.blocking(move |core| users::delete(core, &caller, &id))
        .await
}
