//! A bare axum server answering `GET /health` with the JSON cloudcode's
//! `/health` gives, on the same runtime and allocator, with no middleware,
//! state or storage: what this machine serves at best. `bench/load.sh`
//! measures it beside cloudcode in the same run.
//!
//! An example of the runtime crate only so that it builds with the same
//! dependencies; it uses none of cloudcode. Usage:
//! `cargo run --release -p cloudcode-runtime --example bare_axum -- <port>`
//! (listens on 127.0.0.1 only).

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|port| port.parse().ok())
        .unwrap_or(18438);
    let app = Router::new().route("/health", get(health));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, app).await
}

async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}
