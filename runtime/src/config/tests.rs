use super::database::sqlite_path;
use super::*;
use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: ServeArgs,
}

fn args(extra: &[&str]) -> ServeArgs {
    let mut argv = vec!["cloudcode"];
    argv.extend_from_slice(extra);
    Cli::parse_from(argv).args
}

#[test]
fn first_start_generates_a_private_random_master_key_and_reuses_it() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("data");
    let dir_arg = dir.to_str().unwrap();
    let first = args(&["--data-dir", dir_arg]).into_config().unwrap();
    let second = args(&["--data-dir", dir_arg]).into_config().unwrap();
    assert_eq!(first.master_key.len(), 64);
    assert_eq!(first.master_key, second.master_key);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir.join("master.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let other_dir = dir.join("other");
    let third = args(&["--data-dir", other_dir.to_str().unwrap()])
        .into_config()
        .unwrap();
    assert_ne!(first.master_key, third.master_key);
}

#[test]
fn bad_settings_are_refused_with_a_reason() {
    for bad in [
        vec!["--master-key", "short"],
        vec!["--master-key-ips", "not-an-ip"],
        vec!["--database-uri", "mongodb://db/app"],
        vec!["--database-uri", "postgres://db:notaport/app"],
        vec!["--session-length", "0"],
        vec!["--mount-path", "parse"],
        vec!["--header-timeout", "0"],
        vec!["--body-timeout", "0"],
        vec!["--send-timeout", "0"],
        vec!["--max-connections", "0"],
        vec!["--max-connections-per-ip", "0"],
    ] {
        let mut argv = vec!["--data-dir", "/nonexistent/never-created"];
        argv.extend(bad.iter());
        let err = args(&argv).into_config().err().expect("must be refused");
        assert!(!err.to_string().is_empty());
    }
}

#[test]
fn mount_paths_and_database_uris() {
    assert_eq!(normalize_mount("/parse/").unwrap(), "/parse");
    assert_eq!(normalize_mount("/").unwrap(), "");
    assert_eq!(
        sqlite_path("sqlite:/tmp/x.db").unwrap(),
        PathBuf::from("/tmp/x.db")
    );
    assert_eq!(
        sqlite_path("data/x.db").unwrap(),
        PathBuf::from("data/x.db")
    );
    let postgres = Database::from_uri("postgres://app:s3cret@db.internal:5433/parse").unwrap();
    assert_eq!(
        postgres,
        Database::Postgres {
            uri: "postgres://app:s3cret@db.internal:5433/parse".into(),
            ca: None
        }
    );
    // Shown without its password.
    assert_eq!(
        postgres.to_string(),
        "postgres://app@db.internal:5433/parse"
    );
    assert!(!format!("{postgres:?}").contains("s3cret"));
}
