//! `/sessions`: extract and delegate (see [`crate::service`]).

use axum::extract::State;

use super::Payload;
use crate::Core;
use crate::auth::Caller;
use crate::error::Result;
use crate::fields::body_object;
use crate::service::{Reply, sessions};

pub async fn me(State(core): State<Core>, caller: Caller) -> Result<Reply> {
    sessions::me(&core, &caller)
}

pub async fn audit(State(core): State<Core>, caller: Caller, payload: Payload) -> Result<Reply> {
    let params = body_object(payload.body)?;
    sessions::audit_trail(&core, &caller, params).await
}
