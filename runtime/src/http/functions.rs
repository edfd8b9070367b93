use axum::extract::{Path, State};

use super::Envelope;
use crate::Core;
use crate::error::Result;
use crate::service::{Reply, functions};

pub async fn call(
    State(core): State<Core>,
    Path(name): Path<String>,
    env: Envelope,
) -> Result<Reply> {
    core.call(move |core| functions::call(core, &env.credentials, &name, env.body))
        .await
}
