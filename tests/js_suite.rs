// The Parse JS SDK suite's driver, shared by the `js_sdk` (SQLite) and
// `js_sdk_postgres` roots; `harness::on_postgres` tells them apart.

#[path = "api/harness.rs"]
#[allow(dead_code)]
mod harness;
#[path = "api/postgres.rs"]
#[allow(dead_code)]
mod postgres;

use std::process::Command;

#[path = "node.rs"]
mod node;

use harness::{APP_ID, MASTER_KEY, Server};
use node::{npm_project, run};

#[test]
fn parse_js_sdk_end_to_end() {
    let js = npm_project("js", "parse");
    // The built-in hooks, and a before-login hook the suite logs in against.
    let srv = Server::start_with_hooks(&["block-suspended-users"], &[]);
    let suite = run(Command::new("node")
        .args(["--test", "--test-reporter=spec"])
        .current_dir(&js)
        .env("CLOUDCODE_URL", &srv.base)
        .env("CLOUDCODE_APP_ID", APP_ID)
        .env("CLOUDCODE_MASTER_KEY", MASTER_KEY));
    assert!(
        suite.status.success(),
        "the Parse JS SDK suite failed; server log:\n{}",
        srv.logs()
    );
}
