//! The black-box suite of `main.rs` with every server on PostgreSQL: a
//! throwaway cluster the suite starts itself (see `postgres.rs`).

include!("suite.rs");
