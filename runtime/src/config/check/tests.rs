use clap::Parser;

use super::*;
use crate::config::ServeArgs;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: ServeArgs,
}

/// The findings for `flags` (with a private data directory of their own).
fn check(flags: &[&str]) -> Vec<Finding> {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut argv = vec!["cloudcode", "--data-dir", data.to_str().unwrap()];
    argv.extend_from_slice(flags);
    let config = Cli::try_parse_from(argv)
        .unwrap()
        .args
        .into_config()
        .unwrap();
    findings(&config)
}

fn settings(found: &[Finding], severity: Severity) -> Vec<&'static str> {
    found
        .iter()
        .filter(|f| f.severity == severity)
        .map(|f| f.setting)
        .collect()
}

#[test]
fn the_defaults_have_no_finding() {
    assert_eq!(check(&[]), vec![]);
}

#[test]
fn plain_http_on_a_public_address_is_high() {
    let found = check(&["--host", "0.0.0.0", "--insecure-http"]);
    assert_eq!(settings(&found, Severity::High), ["--insecure-http"]);
    assert!(found[0].fix.contains("--tls-cert"), "{found:?}");
    assert_eq!(
        check(&["--insecure-http"]),
        vec![],
        "loopback only: nothing crosses a network"
    );
}

#[test]
fn a_master_key_open_to_public_addresses_is_high() {
    let found = check(&["--master-key-ips", "127.0.0.1/8,10.0.0.0/8,0.0.0.0/0"]);
    assert_eq!(settings(&found, Severity::High), ["--master-key-ips"]);
    assert!(found[0].problem.contains("0.0.0.0/0"), "{found:?}");
    assert_eq!(
        check(&["--master-key-ips", "192.168.0.0/16,fd00::/8,::1"]),
        vec![]
    );
}

#[test]
fn a_short_or_reused_master_key_is_named() {
    let short = check(&["--master-key", "sixteen-chars-ok"]);
    assert_eq!(settings(&short, Severity::Medium), ["--master-key"]);
    let reused = check(&[
        "--master-key",
        "a-javascript-key-that-is-long-enough-1",
        "--javascript-key",
        "a-javascript-key-that-is-long-enough-1",
    ]);
    assert_eq!(settings(&reused, Severity::High), ["--master-key"]);
}

#[test]
fn long_sessions_and_idle_timeouts_are_medium() {
    let found = check(&["--session-length", "31536000"]);
    assert_eq!(settings(&found, Severity::Medium), ["--session-length"]);
    let found = check(&["--session-idle-timeout", "3000000"]);
    assert_eq!(
        settings(&found, Severity::Medium),
        ["--session-idle-timeout"]
    );
    let found = check(&[
        "--session-length",
        "86400",
        "--session-idle-timeout",
        "86400",
    ]);
    assert_eq!(
        settings(&found, Severity::Medium),
        ["--session-idle-timeout"]
    );
}

#[test]
fn loose_or_disabled_throttling_is_named() {
    let found = check(&["--login-free-failures", "50"]);
    assert_eq!(
        settings(&found, Severity::Medium),
        ["--login-free-failures"]
    );
    let found = check(&[
        "--login-max-failures-per-hour",
        "1000000",
        "--login-max-failures-per-ip",
        "5000",
    ]);
    assert_eq!(
        settings(&found, Severity::High),
        ["--login-max-failures-per-hour"]
    );
    assert_eq!(
        settings(&found, Severity::Medium),
        ["--login-max-failures-per-ip"]
    );
}

#[test]
fn hook_limits_far_above_the_defaults_are_named() {
    let found = check(&[
        "--hook-memory-mib",
        "1024",
        "--hook-function-timeout",
        "120",
        "--hook-concurrency",
        "1000",
    ]);
    assert_eq!(
        settings(&found, Severity::Medium),
        [
            "--hook-memory-mib",
            "--hook-function-timeout / --hook-after-save-timeout"
        ]
    );
    assert_eq!(settings(&found, Severity::Low), ["--hook-concurrency"]);
}

#[cfg(unix)]
#[test]
fn data_readable_by_others_is_named() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args = || {
        Cli::try_parse_from(["cloudcode", "--data-dir", data.to_str().unwrap()])
            .unwrap()
            .args
            .into_config()
            .unwrap()
    };
    let config = args();
    let database = data.join("cloudcode.db");
    std::fs::write(&database, b"").unwrap();
    std::fs::set_permissions(&database, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(
        findings(&config),
        vec![],
        "a 0644 file in a 0700 directory is out of reach"
    );
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let found = findings(&config);
    assert_eq!(settings(&found, Severity::High), ["--database-uri"]);
    assert_eq!(settings(&found, Severity::Medium), ["--data-dir"]);
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    let key = config.master_key_file.clone().unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
    assert_eq!(
        settings(&findings(&config), Severity::High),
        ["--data-dir (master.key)"]
    );
}

#[test]
fn a_remote_database_in_clear_text_is_medium() {
    let found = check(&["--database-uri", "postgres://app@db.example.com/parse"]);
    assert_eq!(settings(&found, Severity::Medium), ["--database-uri"]);
    assert_eq!(
        check(&["--database-uri", "postgres://app@127.0.0.1/parse"]),
        vec![]
    );
    assert_eq!(
        check(&[
            "--database-uri",
            "postgres://app@db.example.com/parse?sslmode=require"
        ]),
        vec![]
    );
}

#[test]
fn metrics_on_a_public_address_are_medium() {
    let found = check(&["--metrics-addr", "0.0.0.0:9464"]);
    assert_eq!(settings(&found, Severity::Medium), ["--metrics-addr"]);
    assert!(found[0].problem.contains("0.0.0.0:9464"), "{found:?}");
    for private in ["127.0.0.1:9464", "10.1.2.3:9464", "[::1]:9464"] {
        assert_eq!(check(&["--metrics-addr", private]), vec![], "{private}");
    }
}
