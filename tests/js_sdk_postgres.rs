//! The official Parse JavaScript SDK suite of `js_sdk.rs`, with the server
//! on PostgreSQL (see `api/postgres.rs`).

include!("js_suite.rs");
