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
