use axum::extract::State;

use super::error::Path;

use super::Payload;
use crate::Core;
use crate::auth::Caller;
use crate::error::Result;
use crate::service::{Reply, functions};

pub async fn hooks(State(core): State<Core>, caller: Caller) -> Result<Reply> {
    functions::hooks(&core, &caller)
}

pub async fn call(
    State(core): State<Core>,
    Path(name): Path<String>,
    caller: Caller,
    payload: Payload,
) -> Result<Reply> {
    functions::call(&core, &caller, &name, payload.body).await
}
