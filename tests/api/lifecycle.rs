//! Hooks over the whole session lifecycle (contract 0.2.0): before-login,
//! after-login, after-session-end with its reasons; the operator's grants;
//! and components of contract 0.1.0 that keep working beside them.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{Server, grant_all};

/// Waits until the server's log has `needle` (hooks that run after a
/// session ends run in the background).
fn wait_for_log(srv: &Server, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let logs = srv.logs();
        if logs.contains(needle) || Instant::now() > deadline {
            return logs;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn session_id(srv: &Server, token: &str) -> String {
    srv.get("/sessions/me").token(token).send().str("objectId")
}

/// Sets fields of a user with the master key, as an admin would.
fn set_fields(srv: &Server, user: &str, fields: serde_json::Value) {
    srv.put(&format!("/users/{user}"))
        .master()
        .json(fields)
        .send()
        .assert_ok();
}

fn hooks_config(dir: &tempfile::TempDir, text: &str) -> String {
    let path = dir.path().join("hooks.toml");
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn before_login_refuses_suspended_users_with_the_hooks_error() {
    let srv = Server::start_with_hooks(&["block-suspended-users"], &[]);
    let (mallory, _) = srv.signup("mallory");
    set_fields(&srv, &mallory, json!({"suspended": true}));
    let refused = srv
        .post("/login")
        .json(json!({"username": "mallory", "password": "pw-mallory"}))
        .send();
    refused.assert_error(404, 101);
    assert_eq!(refused.json["error"], "This account is suspended.");
    srv.signup("alice");
    srv.login("alice", "phone");
}

#[test]
fn a_before_login_hook_that_traps_refuses_the_login() {
    let srv = Server::start_with_hooks(&["guest-lifecycle"], &[]);
    let (id, _) = srv.signup("trappy");
    set_fields(&srv, &id, json!({"trapOnLogin": true}));
    let refused = srv
        .post("/login")
        .json(json!({"username": "trappy", "password": "pw-trappy"}))
        .send();
    refused.assert_error(400, 141);
    assert!(
        !refused.json.to_string().contains("broken login policy"),
        "the trap's detail is for the log: {}",
        refused.json
    );
    assert!(srv.logs().contains("before-login hook failed"));
    srv.signup("fine");
    srv.login("fine", "phone");
}

#[test]
fn after_login_keeps_the_newest_sessions_by_the_operators_setting() {
    let dir = tempfile::tempdir().unwrap();
    let config = hooks_config(
        &dir,
        r#"
        [hooks."max-sessions-per-user.wasm"]
        grant = ["sessions:read", "sessions:revoke", "log"]
        config = { max-sessions = 2 }
        "#,
    );
    let srv = Server::start_with_hooks(
        &["max-sessions-per-user"],
        &["--hooks-config", &config],
    );
    let (_, signup) = srv.signup("capped");
    let phone = srv.login("capped", "phone");
    let laptop = srv.login("capped", "laptop");
    assert_eq!(srv.me_status(&signup), 400, "the oldest went");
    assert_eq!(srv.me_status(&phone), 200);
    assert_eq!(srv.me_status(&laptop), 200);
    let tablet = srv.login("capped", "tablet");
    assert_eq!(srv.me_status(&phone), 400);
    assert_eq!(srv.me_status(&laptop), 200);
    assert_eq!(srv.me_status(&tablet), 200);
}

#[test]
fn after_session_end_fires_once_per_ended_session_with_its_reason() {
    let srv = Server::start_with_hooks(&["guest-lifecycle"], &["--token-reuse-grace", "0.2"]);
    let mut expected = Vec::new();

    let (user, signup) = srv.signup("ender");
    expected.push((session_id(&srv, &signup), "logout"));
    srv.post("/logout").token(&signup).send().assert_ok();

    let by_user = srv.login("ender", "a");
    let id = session_id(&srv, &by_user);
    srv.delete(&format!("/sessions/{id}"))
        .token(&by_user)
        .send()
        .assert_ok();
    expected.push((id, "revoked-by-user"));

    let by_admin = srv.login("ender", "b");
    let id = session_id(&srv, &by_admin);
    srv.delete(&format!("/sessions/{id}"))
        .master()
        .send()
        .assert_ok();
    expected.push((id, "revoked-by-admin"));

    let replaced = srv.login("ender", "c");
    expected.push((session_id(&srv, &replaced), "replaced"));
    let replacing = srv.login("ender", "c");
    expected.push((session_id(&srv, &replacing), "revoked-by-hook"));

    let caller = srv.login("ender", "d");
    let other = srv.login("ender", "e");
    expected.push((session_id(&srv, &other), "revoked-by-hook"));
    let revoked = srv.post("/functions/revokeMine").token(&caller).send();
    assert_eq!(revoked.status, 200, "{}", revoked.json);

    let bystander = srv.login("ender", "f");
    expected.push((session_id(&srv, &bystander), "password-change"));
    let caller_id = session_id(&srv, &caller);
    let changed = srv
        .put(&format!("/users/{user}"))
        .token(&caller)
        .json(json!({"password": "n3w", "currentPassword": "pw-ender"}))
        .send();
    assert_eq!(changed.status, 200, "{}", changed.json);

    // The rotated-out token, replayed after the grace window, ends every
    // session of the user: the rotated one among them.
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(srv.me_status(&caller), 400);
    expected.push((caller_id, "reuse-detected"));

    let (doomed, doomed_token) = srv.signup("doomed");
    expected.push((session_id(&srv, &doomed_token), "user-deleted"));
    srv.delete(&format!("/users/{doomed}"))
        .master()
        .send()
        .assert_ok();

    let (last_id, last_reason) = expected.last().unwrap().clone();
    let logs = wait_for_log(&srv, &format!("session-ended {last_id} {last_reason}"));
    std::thread::sleep(Duration::from_millis(200));
    let logs = srv.logs().max(logs);
    for (id, reason) in &expected {
        let line = format!("session-ended {id} {reason}");
        assert_eq!(logs.matches(&line).count(), 1, "{line} in:\n{logs}");
    }
    assert_eq!(
        logs.matches("session-ended ").count(),
        expected.len(),
        "no other session ended: {logs}"
    );
}

#[test]
fn after_session_end_tells_of_expired_sessions_once_swept() {
    let srv = Server::start_with_hooks(
        &["guest-lifecycle"],
        &["--session-length", "1", "--session-sweep-interval", "0.2"],
    );
    let (_, token) = srv.signup("fleeting");
    let id = session_id(&srv, &token);
    let logs = wait_for_log(&srv, &format!("session-ended {id} expired"));
    assert!(logs.contains(&format!("session-ended {id} expired")), "{logs}");
}

#[test]
fn a_hook_denied_a_capability_fails_with_141_and_the_log_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = hooks_config(
        &dir,
        r#"
        [hooks."guest-lifecycle.wasm"]
        grant = ["log"]
        "#,
    );
    let srv = Server::start_with_hooks(&["guest-lifecycle"], &["--hooks-config", &config]);
    srv.signup("denied");
    let phone = srv.login("denied", "phone");
    let laptop = srv.login("denied", "laptop");
    srv.post("/functions/revokeMine")
        .token(&phone)
        .send()
        .assert_error(400, 141);
    assert_eq!(srv.me_status(&laptop), 200, "nothing was revoked");
    let logs = srv.logs();
    assert!(logs.contains("capability not granted: sessions:revoke"), "{logs}");
    assert!(
        logs.contains("guest-lifecycle.wasm contract=cloudcode:hooks@0.2.0")
            && logs.contains("granted=log denied=sessions:revoke"),
        "start-up names what each hook got: {logs}"
    );
}

#[test]
fn a_hook_from_the_hooks_dir_without_grants_gets_log_only() {
    let srv = Server::start_with_hooks(
        &["guest-lifecycle"],
        &["--hooks-config", "/dev/null"],
    );
    srv.signup("ungranted");
    let phone = srv.login("ungranted", "phone");
    srv.post("/functions/revokeMine")
        .token(&phone)
        .send()
        .assert_error(400, 141);
    assert!(srv.logs().contains("granted=log denied=sessions:revoke"));
}

#[test]
fn a_bad_hooks_config_stops_the_server_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    for (text, needle) in [
        ("[hooks.\"guest-lifecycle.wasm\"]\ngrant = [\"network\"]", "unknown capability \"network\""),
        ("[hooks.\"guest-lifecycle.wasm\"]\ngrant = \"log\"", "line 2: invalid type"),
    ] {
        let config = hooks_config(&dir, text);
        let log = Server::try_start_with_hooks(
            &["guest-lifecycle"],
            &[],
            &["--hooks-config", &config],
        )
        .err()
        .expect("must refuse to start");
        assert!(log.contains(needle), "{needle:?} not in: {log}");
    }
}

/// Components built with SDK 0.1 (contract 0.1.0, committed as built
/// before 0.2.0 existed) load and work unchanged beside 0.2.0 ones.
#[test]
fn contract_0_1_0_components_keep_working() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/contract-0.1.0");
    let logout = std::fs::read(fixtures.join("logout-from-all-devices.wasm")).unwrap();
    let rotate = std::fs::read(fixtures.join("rotate-on-password-change.wasm")).unwrap();
    let mut grants = grant_all(&["guest-lifecycle"]);
    grants.push_str(
        "[hooks.\"old-logout.wasm\"]\ngrant = [\"sessions:revoke\"]\n\
         [hooks.\"old-rotate.wasm\"]\ngrant = [\"sessions:rotate\", \"sessions:revoke\"]\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let config = hooks_config(&dir, &grants);
    let srv = Server::try_start_with_hooks(
        &["guest-lifecycle"],
        &[("old-logout.wasm", &logout), ("old-rotate.wasm", &rotate)],
        &["--no-builtin-hooks", "--hooks-config", &config],
    )
    .unwrap();
    let logs = srv.logs();
    assert!(logs.contains("old-logout.wasm contract=cloudcode:hooks@0.1.0"), "{logs}");
    assert!(logs.contains("guest-lifecycle.wasm contract=cloudcode:hooks@0.2.0"), "{logs}");

    let (user, _) = srv.signup("veteran");
    let phone = srv.login("veteran", "phone");
    let laptop = srv.login("veteran", "laptop");
    let r = srv
        .post("/functions/logoutFromAllDevices")
        .token(&phone)
        .json(json!({"keepCurrent": true}))
        .send();
    assert_eq!((r.status, &r.json), (200, &json!({"result": 2})));
    assert_eq!(srv.me_status(&laptop), 400);

    let r = srv
        .put(&format!("/users/{user}"))
        .token(&phone)
        .json(json!({"password": "n3w", "currentPassword": "pw-veteran"}))
        .send();
    assert_eq!(r.status, 200, "{}", r.json);
    let rotated = r.str("sessionToken");
    assert_ne!(rotated, phone, "the 0.1.0 afterSave rotated the token");
    assert_eq!(srv.me_status(&rotated), 200);
    // The 0.2.0 hook heard of the sessions the 0.1.0 one ended.
    wait_for_log(&srv, "revoked-by-hook");
    assert!(srv.logs().contains("revoked-by-hook"));
}
