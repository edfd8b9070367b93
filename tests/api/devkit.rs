//! The path of a hook author outside this repository: `cloudcode new-hook`
//! makes a crate that builds, passes its own sandbox tests, loads into a
//! server and answers over HTTP, with the commands its README gives.

use std::path::Path;
use std::process::Command;

use serde_json::json;

use crate::harness::Server;

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

#[test]
fn a_new_hook_crate_builds_tests_loads_and_answers() {
    if crate::harness::skipped_on_postgres() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let said = run(Command::new(env!("CARGO_BIN_EXE_cloudcode"))
        .args(["new-hook", "my-first-hook", "--dir"])
        .arg(dir.path()));
    assert!(said.contains("cargo build --release --target wasm32-wasip2"), "{said}");
    let krate = dir.path().join("my-first-hook");
    // One target directory for every run of this test, as the README
    // advises for hook crates: the testkit's sandbox compiles once.
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("new-hook-target");
    let cargo = |args: &[&str]| {
        let mut cmd = cloudcode_runtime::sandbox::guest_build::nested_cargo();
        cmd.current_dir(&krate).args(args).env("CARGO_TARGET_DIR", &target);
        run(&mut cmd)
    };

    let tested = cargo(&["test"]);
    assert!(tested.contains("test result: ok. 2 passed"), "{tested}");
    cargo(&["build", "--release", "--target", "wasm32-wasip2"]);
    let component = std::fs::read(target.join("wasm32-wasip2/release/my_first_hook.wasm")).unwrap();

    let config = krate.join("hooks.toml");
    let srv = Server::try_start_with_hooks(
        &[],
        &[("my_first_hook.wasm", &component)],
        &["--hooks-config", config.to_str().unwrap()],
    )
    .unwrap();
    let r = srv
        .post("/functions/myFirstHook")
        .json(json!({"name": "Ada"}))
        .send();
    assert_eq!((r.status, &r.json), (200, &json!({"result": {"hello": "Ada"}})));
    srv.signup("author");
    srv.login("author", "laptop");
    let logs = srv.logs();
    assert!(logs.contains("logged in on laptop"), "the after-login trigger ran: {logs}");
}
