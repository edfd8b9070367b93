//! The black-box suite of `main.rs` with every server on PostgreSQL: a
//! throwaway cluster the suite starts itself, or the server
//! `CLOUDCODE_TEST_POSTGRES` names (see `postgres.rs`). Where there is
//! neither, the suite is one test that says it was skipped.

#[cfg(postgres_tests)]
include!("suite.rs");

#[cfg(not(postgres_tests))]
#[test]
fn skipped_without_postgresql() {
    eprintln!(
        "skipped: the black-box suite on PostgreSQL: no PostgreSQL here (install its server \
         binaries, e.g. apt install postgresql, set PG_BIN, or set CLOUDCODE_TEST_POSTGRES)"
    );
}
