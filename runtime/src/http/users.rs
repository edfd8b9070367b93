//! `/users`, `/login`, `/logout`: extract and delegate; the services decide
//! what runs on the blocking pool (see [`crate::service`]).

use axum::extract::State;

use super::{Me, Payload};
use crate::Core;
use crate::auth::{Caller, Credentials};
use crate::error::{Error, Result};
use crate::service::{Reply, login, users};

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

pub async fn me(State(core): State<Core>, Me(caller): Me) -> Result<Reply> {
    users::me(&core, &caller).await
}
