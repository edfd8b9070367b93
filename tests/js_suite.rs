// The Parse JS SDK suite's driver, shared by the `js_sdk` (SQLite) and
// `js_sdk_postgres` roots; `harness::on_postgres` tells them apart.

#[path = "api/harness.rs"]
#[allow(dead_code)]
mod harness;
#[path = "api/postgres.rs"]
#[allow(dead_code)]
mod postgres;

use std::path::Path;
use std::process::Command;

use harness::{APP_ID, MASTER_KEY, Server};

fn run(cmd: &mut Command) -> std::process::Output {
    let desc = format!("{cmd:?}");
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {desc}: {e} (is Node.js installed?)"));
    print!("{}", String::from_utf8_lossy(&output.stdout));
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    output
}

#[test]
fn parse_js_sdk_end_to_end() {
    let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/js");
    if !js.join("node_modules/parse").exists() {
        let install = run(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&js));
        assert!(
            install.status.success(),
            "npm ci failed in {}",
            js.display()
        );
    }
    let srv = Server::start();
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
