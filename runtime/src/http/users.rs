//! `/users`, `/login`, `/logout`: extract and delegate; the services decide
//! what runs on the blocking pool (see [`crate::service`]).

use axum::extract::State;

use super::error::Path;

use super::Payload;
use crate::Core;
use crate::auth::{Caller, Credentials};
use crate::error::{Error, Result};
use crate::fields::body_object;
use crate::service::{Reply, login, users};

pub async fn signup(State(core): State<Core>, caller: Caller, payload: Payload) -> Result<Reply> {
    users::signup(&core, &caller, payload.body).await
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
    login::login(&core, &credentials, payload.body).await
}

pub async fn logout(State(core): State<Core>, caller: Caller) -> Result<Reply> {
    login::logout(&core, &caller).await
}

pub async fn me(State(core): State<Core>, caller: Caller) -> Result<Reply> {
    users::me(&core, &caller)
}

pub async fn find(State(core): State<Core>, caller: Caller, payload: Payload) -> Result<Reply> {
    let params = body_object(payload.body)?;
    users::find(&core, &caller, params).await
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
    users::update(&core, &caller, &id, payload.body).await
}

pub async fn delete(
    State(core): State<Core>,
    Path(id): Path<String>,
    caller: Caller,
) -> Result<Reply> {
    users::delete(&core, &caller, &id).await
}
