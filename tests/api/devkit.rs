//! The path of a hook author outside this repository: `cloudcode new-hook`
//! makes a crate that builds, passes its own sandbox tests, loads into a
//! server and answers over HTTP, with the commands its README gives.

use std::path::Path;
use std::process::Command;

use serde_json::json;

use crate::harness::Server;

/// The command's output; it must succeed.
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

fn fails(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(!out.status.success(), "{cmd:?} passed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_new_hook_crate_builds_tests_loads_and_answers() {
    if crate::harness::skipped_on_postgres() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let binary = Path::new(env!("CARGO_BIN_EXE_cloudcode"));
    let said = run(Command::new(binary)
        .args(["new-hook", "my-first-hook", "--dir"])
        .arg(dir.path()));
    assert!(said.contains("cargo build --release"), "{said}");
    let krate = dir.path().join("my-first-hook");
    // The README's `cargo install` puts `cloudcode` on PATH; here, the one
    // this test suite built. One target directory for every run of this
    // test: only the hook's small dependencies compile, once.
    let path = std::env::join_paths(
        std::iter::once(binary.parent().unwrap().to_path_buf())
            .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .unwrap();
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("new-hook-target");
    let cargo = |args: &[&str]| {
        let mut cmd = cloudcode_runtime::sandbox::guest_build::nested_cargo();
        cmd.current_dir(&krate)
            .args(args)
            .env("CARGO_TARGET_DIR", &target)
            .env("PATH", &path);
        cmd
    };

    let tested = run(&mut cargo(&["test"]));
    assert!(tested.contains("test result: ok. 2 passed"), "{tested}");
    // The tests run what the sources build now, never an older component.
    let lib = krate.join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap();
    std::fs::write(&lib, source.replace("\"hello\": name", "\"hi\": name")).unwrap();
    let failed = fails(&mut cargo(&["test", "--test", "sandbox", "--", "greets"]));
    assert!(
        failed.contains("test the_function_greets ... FAILED")
            && failed.contains(r#"left: Object {"hi": String("world")}"#)
            && failed.contains("test result: FAILED. 0 passed; 1 failed"),
        "{failed}"
    );
    std::fs::write(&lib, source).unwrap();

    run(&mut cargo(&["build", "--release"]));
    let component = std::fs::read(target.join("wasm32-wasip2/release/my_first_hook.wasm")).unwrap();
    let checked = run(Command::new(binary).arg("check-hook").arg(
        target.join("wasm32-wasip2/release/my_first_hook.wasm"),
    ));
    assert!(checked.contains("myFirstHook"), "{checked}");

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
