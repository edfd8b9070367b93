//! Black-box tests: the real `cloudcode` binary on 127.0.0.1, real HTTP,
//! every server on SQLite (`on_postgres.rs` runs the same on PostgreSQL).

include!("suite.rs");
