//! The official Parse JavaScript SDK suite of `js_sdk.rs`, with the server
//! on PostgreSQL (see `api/postgres.rs`). Where there is no PostgreSQL, it
//! is one test that says it was skipped.

#[cfg(postgres_tests)]
include!("js_suite.rs");

#[cfg(not(postgres_tests))]
#[test]
fn skipped_without_postgresql() {
    eprintln!(
        "skipped: the Parse JS SDK suite on PostgreSQL: no PostgreSQL here (install its server \
         binaries, e.g. apt install postgresql, set PG_BIN, or set CLOUDCODE_TEST_POSTGRES)"
    );
}
