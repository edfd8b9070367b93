//! What is on disk and in the logs: hashes, never tokens or passwords.

use r2d2_sqlite::rusqlite::Connection;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::harness::Server;

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn seed_c1_the_database_holds_only_token_hashes_and_password_hashes() {
    if crate::harness::skipped_on_postgres() {
        return;
    }
    let srv = Server::start();
    let (id, signup_token) = srv.signup("sam");
    let tokens = [signup_token, srv.login("sam", "a"), srv.login("sam", "b")];
    srv.put(&format!("/users/{id}"))
        .token(&tokens[1])
        .json(json!({"nick": "s"}))
        .send()
        .assert_ok();
    let db = Connection::open(srv.db_path()).unwrap();
    let hashes: Vec<Vec<u8>> = db
        .prepare("SELECT token_hash FROM sessions")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for token in &tokens {
        let digest = Sha256::digest(token.as_bytes()).to_vec();
        assert!(
            hashes.contains(&digest),
            "sessions are looked up by SHA-256"
        );
    }
    drop(db);
    let mut files = Vec::new();
    for entry in std::fs::read_dir(srv.db_path().parent().unwrap()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            files.extend(std::fs::read(path).unwrap());
        }
    }
    for token in &tokens {
        assert!(!contains(&files, token.as_bytes()), "raw token on disk");
        assert!(
            !contains(&files, &token.as_bytes()[2..]),
            "token payload on disk"
        );
        let hex = hex::encode(Sha256::digest(token.as_bytes()));
        assert!(!contains(&files, hex.as_bytes()));
    }
    assert!(!contains(&files, b"pw-sam"), "raw password on disk");
}

#[test]
fn stored_hashes_cannot_be_replayed_as_tokens() {
    if crate::harness::skipped_on_postgres() {
        return;
    }
    let srv = Server::start();
    let (_, token) = srv.signup("tia");
    let db = Connection::open(srv.db_path()).unwrap();
    let stored: Vec<u8> = db
        .query_row("SELECT token_hash FROM sessions", [], |r| r.get(0))
        .unwrap();
    for candidate in [format!("r:{}", hex::encode(&stored)), hex::encode(&stored)] {
        assert_eq!(srv.me_status(&candidate), 400);
    }
    assert_eq!(srv.me_status(&token), 200);
}

#[test]
fn seed_c3_logs_never_contain_tokens_or_passwords() {
    let srv = Server::start();
    let (id, token) = srv.signup("uma");
    let other = srv.login("uma", "x");
    srv.post("/login")
        .json(json!({"username": "uma", "password": "wrong-guess"}))
        .send();
    srv.put(&format!("/users/{id}"))
        .token(&token)
        .json(json!({"password": "next-pass"}))
        .send()
        .assert_ok();
    srv.get("/users/me").token(&other).send();
    srv.post("/logout").token(&token).send();
    srv.get("/sessions")
        .header("X-Parse-Master-Key", "a-wrong-master-key")
        .send();
    let logs = srv.logs();
    for secret in [
        token.as_str(),
        other.as_str(),
        "pw-uma",
        "wrong-guess",
        "next-pass",
        crate::harness::MASTER_KEY,
        "a-wrong-master-key",
    ] {
        assert!(!logs.contains(secret), "log leaks {secret}");
    }
}

/// Each suite runs on its own backend: `api` on SQLite files, `api_postgres`
/// on a PostgreSQL database per server.
#[test]
fn the_suite_runs_on_its_backend() {
    let srv = Server::start();
    srv.signup("backend");
    assert_eq!(
        srv.database_uri().starts_with("postgres://"),
        crate::harness::on_postgres()
    );
    assert_eq!(srv.sql("SELECT COUNT(*) FROM users"), ["1"]);
}

/// Sessions are cached per process, yet a revocation committed by another
/// process (here a second server on the same database) is seen at once.
#[test]
fn a_logout_through_another_server_on_the_same_database_applies_at_once() {
    let first = Server::start();
    let second = Server::start_with(&["--database-uri", &first.database_uri()]);
    let (_, token) = first.signup("two-servers");
    for _ in 0..3 {
        assert_eq!(first.me_status(&token), 200);
    }
    second.post("/logout").token(&token).send().assert_ok();
    assert_eq!(first.me_status(&token), 400);
}

/// Failed logins through one server throttle the account on every server
/// of the database: guesses spread over nodes share one budget.
#[test]
fn failed_logins_through_one_server_throttle_the_account_on_another() {
    let first = Server::start_with(&["--login-free-failures", "2"]);
    let second = Server::start_with(&[
        "--login-free-failures",
        "2",
        "--database-uri",
        &first.database_uri(),
    ]);
    first.signup("spread");
    let attempt = |srv: &Server, password: &str| {
        srv.post("/login")
            .json(json!({"username": "spread", "password": password}))
            .send()
    };
    attempt(&first, "wrong").assert_error(404, 101);
    attempt(&second, "wrong").assert_error(404, 101);
    attempt(&first, "wrong").assert_error(404, 101);
    attempt(&second, "pw-spread").assert_error(429, 155);
    attempt(&first, "pw-spread").assert_error(429, 155);
}

/// `kill -9` in the middle of session traffic: every session change and its
/// audit row were committed together, so after the kill every session in
/// the table has its `created` row, and every session that is gone has a
/// row saying how it ended.
#[test]
fn a_kill_mid_traffic_leaves_every_session_change_with_its_audit_row() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let mut srv = Server::start();
    srv.signup("churn");
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..3)
        .map(|worker| {
            let stop = stop.clone();
            let base = srv.base.clone();
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let token = ureq::post(&format!("{base}/login"))
                        .set("X-Parse-Application-Id", crate::harness::APP_ID)
                        .set("X-Parse-Installation-Id", &format!("w{worker}-{}", i % 3))
                        .send_json(serde_json::json!({"username": "churn", "password": "pw-churn"}))
                        .ok()
                        .and_then(|r| r.into_json::<serde_json::Value>().ok())
                        .and_then(|v| v["sessionToken"].as_str().map(String::from));
                    let Some(token) = token else { break };
                    if i % 2 == 0 {
                        let _ = ureq::post(&format!("{base}/logout"))
                            .set("X-Parse-Application-Id", crate::harness::APP_ID)
                            .set("X-Parse-Session-Token", &token)
                            .call();
                    }
                    i += 1;
                }
                i
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    srv.kill();
    stop.store(true, Ordering::Relaxed);
    let logins: i32 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert!(logins > 5, "traffic ran: {logins} logins");

    let ids = |sql: &str| srv.sql(sql);
    let live = ids("SELECT object_id FROM sessions");
    let created = ids("SELECT session_id FROM session_events WHERE kind = 'created'");
    let ended =
        ids("SELECT session_id FROM session_events WHERE kind IN ('logged_out', 'replaced')");
    for session in &live {
        assert!(
            created.contains(session),
            "session {session} has no 'created' row"
        );
        assert!(
            !ended.contains(session),
            "session {session} is alive yet ended"
        );
    }
    for session in &created {
        assert!(
            live.contains(session) || ended.contains(session),
            "session {session} is gone without a row saying why"
        );
    }
}

/// Losing PostgreSQL fails requests closed, quickly and with a Parse error
/// (never an answer from memory, never a hang), and the server serves again
/// once the database is back.
#[test]
fn losing_the_database_fails_requests_closed_and_the_server_recovers() {
    if !crate::harness::on_postgres() {
        eprintln!("skipped: runs in the PostgreSQL suite (api_postgres)");
        return;
    }
    use std::time::{Duration, Instant};
    let cluster = crate::postgres::Cluster::private().unwrap();
    let srv = Server::start_with(&["--database-uri", &cluster.create_database()]);
    let (_, token) = srv.signup("outage");
    assert_eq!(srv.me_status(&token), 200);

    cluster.stop();
    let started = Instant::now();
    let me = srv.get("/users/me").token(&token).send();
    assert_eq!((me.status, me.json["code"].as_u64()), (500, Some(1)), "{}", me.json);
    let login = srv
        .post("/login")
        .json(json!({"username": "outage", "password": "pw-outage"}))
        .send();
    assert_eq!(login.status, 500, "{}", login.json);
    assert!(started.elapsed() < Duration::from_secs(20), "{:?}", started.elapsed());

    cluster.restart();
    let deadline = Instant::now() + Duration::from_secs(20);
    while srv.me_status(&token) != 200 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(srv.me_status(&token), 200, "served again");
}

/// `sslmode=require`: every connection of the node is TLS, the server's
/// certificate is verified against `--database-ca`, and a server that a
/// different CA vouches for is refused at start, as is a plain connection
/// to a server that demands TLS.
#[test]
fn tls_to_the_database_is_verified() {
    if !crate::harness::on_postgres() {
        eprintln!("skipped: runs in the PostgreSQL suite (api_postgres)");
        return;
    }
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let authority = || {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap();
        let certificate = params.self_signed(&key).unwrap();
        (params, key, certificate)
    };
    let (ca_params, ca_key, ca_certificate) = authority();
    let server_key = KeyPair::generate().unwrap();
    let server_certificate = CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
        .unwrap()
        .signed_by(&server_key, &Issuer::from_params(&ca_params, &ca_key))
        .unwrap();
    let cluster = crate::postgres::Cluster::private_tls(
        &server_certificate.pem(),
        &server_key.serialize_pem(),
    )
    .unwrap();
    let files = tempfile::tempdir().unwrap();
    let ca_file = files.path().join("ca.pem");
    std::fs::write(&ca_file, ca_certificate.pem()).unwrap();
    let (_, _, stranger) = authority();
    let stranger_file = files.path().join("other-ca.pem");
    std::fs::write(&stranger_file, stranger.pem()).unwrap();

    let plain = cluster.create_database();
    let database = plain.rsplit('/').next().unwrap().to_string();
    let uri = format!("{plain}?sslmode=require");
    let ca = ca_file.to_str().unwrap();
    let srv = Server::start_with(&["--database-uri", &uri, "--database-ca", ca]);
    let (_, token) = srv.signup("over-tls");
    assert_eq!(srv.me_status(&token), 200);
    let connections = |ssl: bool| {
        cluster.psql(
            "postgres",
            &format!(
                "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) \
                 WHERE datname = '{database}' AND ssl = {ssl}"
            ),
        )[0]
        .clone()
    };
    assert_ne!(connections(true), "0", "the node's connections are TLS");
    assert_eq!(connections(false), "0", "and none is in the clear");

    let stranger = stranger_file.to_str().unwrap();
    let refused = Server::try_start(&["--database-uri", &uri, "--database-ca", stranger])
        .err()
        .expect("a server another CA vouches for is refused");
    assert!(refused.to_lowercase().contains("certificate"), "{refused}");
    let in_the_clear = Server::try_start(&["--database-uri", &plain])
        .err()
        .expect("a plain connection to a TLS-only server fails");
    assert!(in_the_clear.contains("no encryption"), "{in_the_clear}");
    let misplaced = Server::try_start(&["--database-uri", &plain, "--database-ca", ca])
        .err()
        .expect("a CA without sslmode=require is a configuration error");
    assert!(misplaced.contains("sslmode=require"), "{misplaced}");
}

/// SQLite's shared memory (`<db>-shm`) is safe only while every process
/// with the database open holds a read lock on its "dead man switch" byte:
/// a process that opens the database and finds that byte unlocked takes the
/// memory for abandoned and rebuilds it under the others' feet (a server
/// touching it then dies of SIGBUS). Closing any descriptor of a file drops
/// all of its process's locks on it, so the server must never open and close
/// the `-shm` file itself. An operator's `sqlite3` next to a live server is
/// normal use.
#[test]
fn an_operators_sqlite3_next_to_a_live_server_leaves_it_serving() {
    if crate::harness::skipped_on_postgres() {
        return;
    }
    let srv = Server::start();
    let (_, token) = srv.signup("operator");
    let mut shm = srv.db_path().into_os_string();
    shm.push("-shm");
    assert_eq!(
        shm_lock_holder(std::path::Path::new(&shm)),
        Some(srv.pid() as i32),
        "the server keeps its lock on the wal-index"
    );
    for round in 0..20 {
        // Each opens the database, reads and closes it, as `sqlite3` does.
        assert_eq!(srv.sql("SELECT COUNT(*) FROM users"), ["1"]);
        srv.login("operator", &format!("device-{round}"));
    }
    srv.get("/users/me").token(&token).send().assert_ok();
    assert_eq!(
        srv.sql("SELECT COUNT(*) FROM sessions"),
        ["21"],
        "every login was written"
    );
}

/// The process holding a lock on the wal-index's dead-man-switch byte
/// (offset 128 of `-shm` in SQLite's unix VFS), if any.
fn shm_lock_holder(shm: &std::path::Path) -> Option<i32> {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(shm).unwrap();
    // SAFETY: a zeroed `flock` is a valid value; F_GETLK only fills it in.
    let mut probe: libc::flock = unsafe { std::mem::zeroed() };
    probe.l_type = libc::F_WRLCK as _;
    probe.l_whence = libc::SEEK_SET as _;
    probe.l_start = 128;
    probe.l_len = 1;
    // SAFETY: a valid descriptor and a valid `flock` to fill.
    let status = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETLK, &mut probe) };
    assert_eq!(status, 0, "F_GETLK: {}", std::io::Error::last_os_error());
    (i32::from(probe.l_type) != libc::F_UNLCK).then_some(probe.l_pid)
}
