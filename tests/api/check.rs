//! What operators read. `cloudcode check`: the settings `serve` would run
//! with, judged; a high finding fails the command so that a deploy script
//! can gate on it, and `serve` logs the same findings at start. The logs:
//! no colour codes when they go to a file, one JSON object per line with
//! `--log-format json`.

use std::process::Command;

use crate::harness::Server;

fn check(flags: &[&str]) -> (i32, String) {
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cloudcode"))
        .arg("check")
        .arg("--data-dir")
        .arg(data.path().join("data"))
        // The servers' compiled hooks: `check` loads the hooks too.
        .arg("--hooks-cache-dir")
        .arg(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("hook-cache"))
        .args(flags)
        .env_remove("PARSE_SERVER_DATABASE_URI")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn check_passes_the_defaults_and_fails_on_a_high_finding() {
    if crate::harness::on_postgres() {
        eprintln!("skipped on PostgreSQL: runs no server");
        return;
    }
    let (status, out) = check(&[]);
    assert_eq!(status, 0, "{out}");
    assert!(out.contains("no findings"), "{out}");

    let (status, out) = check(&["--login-free-failures", "50"]);
    assert_eq!(status, 0, "a medium finding alone does not fail: {out}");
    assert!(out.starts_with("MEDIUM  --login-free-failures:"), "{out}");

    let (status, out) = check(&["--host", "0.0.0.0", "--insecure-http", "--session-length", "31536000"]);
    assert_eq!(status, 1, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("HIGH    --insecure-http: plain HTTP on 0.0.0.0"), "{out}");
    assert!(lines[1].trim_start().starts_with("fix: serve HTTPS"), "{out}");
    assert!(lines[2].starts_with("MEDIUM  --session-length"), "most severe first: {out}");
    assert!(out.ends_with("2 finding(s), 1 high\n"), "{out}");
}

#[test]
fn serve_logs_what_check_finds() {
    let server = Server::start_with(&["--login-max-failures-per-ip", "5000"]);
    let logs = server.logs();
    assert!(
        logs.contains("5000 failed logins allowed before throttling bites")
            && logs.contains("--login-max-failures-per-ip"),
        "{logs}"
    );
}

#[test]
fn logs_to_a_file_carry_no_colour_codes_and_json_logs_parse() {
    let human = Server::start().logs();
    assert!(human.contains("hook loaded"), "{human}");
    assert!(!human.contains('\u{1b}'), "ANSI escapes in a log file: {human:?}");

    let server = Server::start_with(&["--log-format", "json"]);
    let (_, token) = server.signup("json-logs");
    assert_eq!(server.me_status(&token), 200);
    let logs = server.logs();
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .filter(|line| !line.is_empty())
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert!(lines.len() > 2, "{logs}");
    assert!(
        lines
            .iter()
            .any(|line| line["fields"]["message"] == "hook loaded" && line["level"] == "INFO"),
        "{logs}"
    );
    assert!(!logs.contains(&token), "a token in the logs");
}

/// Grants are judged against what each hook asks for: more than it asks
/// is medium (a replaced file would inherit it), less is low (its calls
/// fail); a hooks config the server would refuse is high.
#[test]
fn check_judges_each_hooks_grant_against_its_manifest() {
    if crate::harness::on_postgres() {
        eprintln!("skipped on PostgreSQL: runs no server");
        return;
    }
    let hooks = tempfile::tempdir().unwrap();
    std::fs::copy(
        crate::harness::component("guest-lifecycle"),
        hooks.path().join("lifecycle.wasm"),
    )
    .unwrap();
    let config = hooks.path().join("hooks.toml");
    let dir = hooks.path().to_str().unwrap();
    let config_path = config.to_str().unwrap();

    std::fs::write(
        &config,
        "[hooks.\"lifecycle.wasm\"]\ngrant = [\"sessions:revoke\", \"sessions:rotate\", \"log\"]\n",
    )
    .unwrap();
    let (status, out) = check(&["--hooks-dir", dir, "--hooks-config", config_path]);
    assert_eq!(status, 0, "{out}");
    assert!(
        out.contains("MEDIUM  --hooks-config: hook ")
            && out.contains("lifecycle.wasm is granted sessions:rotate, which it does not ask for"),
        "{out}"
    );

    std::fs::write(&config, "[hooks.\"lifecycle.wasm\"]\ngrant = [\"log\"]\n").unwrap();
    let (status, out) = check(&["--hooks-dir", dir, "--hooks-config", config_path]);
    assert_eq!(status, 0, "{out}");
    assert!(
        out.contains("LOW     --hooks-config: hook ")
            && out.contains("lifecycle.wasm asks for sessions:revoke, which it is not granted"),
        "{out}"
    );

    std::fs::write(&config, "[hooks.\"lifecycle.wasm\"]\ngrant = [\"sessions:revoke\", \"log\"]\n").unwrap();
    let (status, out) = check(&["--hooks-dir", dir, "--hooks-config", config_path]);
    assert_eq!((status, out.as_str()), (0, "no findings: nothing weak or risky in these settings\n"));

    std::fs::write(&config, "[hooks.\"gone.wasm\"]\ngrant = [\"log\"]\n").unwrap();
    let (status, out) = check(&["--hooks-dir", dir, "--hooks-config", config_path]);
    assert_eq!(status, 0, "{out}");
    assert!(
        out.contains("MEDIUM  --hooks-config: the hooks config names gone.wasm, which is not a loaded hook"),
        "{out}"
    );

    std::fs::write(hooks.path().join("broken.wasm"), b"\0asm not a component").unwrap();
    let (status, out) = check(&["--hooks-dir", dir]);
    assert_eq!(status, 1, "{out}");
    assert!(out.contains("broken.wasm"), "{out}");
    assert!(out.contains("HIGH    --hooks-dir / --hooks-config: the server would not start"), "{out}");
}
