//! Reuse detection of rotated-out tokens, and the session audit trail.

use std::thread::sleep;
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::Server;

fn change_password(srv: &Server, id: &str, token: &str, password: &str) -> String {
    let r = srv
        .put(&format!("/users/{id}"))
        .token(token)
        .json(json!({"password": password}))
        .send();
    assert_eq!(r.status, 200, "{}", r.json);
    r.str("sessionToken")
}

#[test]
fn asvs_7_2_4_rotated_token_reused_after_the_grace_window_revokes_the_family() {
    let srv = Server::start_with(&["--token-reuse-grace", "0.4"]);
    let (id, _) = srv.signup("gus");
    let stolen = srv.login("gus", "laptop");
    let rotated = change_password(&srv, &id, &stolen, "n3w");
    let later_device = srv.login_with("gus", "n3w", "phone");
    sleep(Duration::from_millis(600));

    srv.get("/users/me")
        .token(&stolen)
        .send()
        .assert_error(400, 209);

    assert_eq!(srv.me_status(&rotated), 400, "the whole family is revoked");
    assert_eq!(srv.me_status(&later_device), 400);
    assert!(srv.logs().contains("reused"));
}

#[test]
fn a_rotated_token_inside_the_grace_window_is_only_refused() {
    let srv = Server::start_with(&["--token-reuse-grace", "30"]);
    let (id, _) = srv.signup("hal");
    let old = srv.login("hal", "laptop");
    let rotated = change_password(&srv, &id, &old, "n3w");
    srv.get("/users/me")
        .token(&old)
        .send()
        .assert_error(400, 209);
    assert_eq!(srv.me_status(&rotated), 200, "a lost response is not theft");
}

/// The client holds its old token until the password change's response
/// reaches it: the grace window starts then, not when the change was
/// written before slow afterSave hooks ran (a 12 MB user record on a
/// loaded machine took longer than the window and ended every session).
#[test]
fn the_grace_window_starts_when_the_rotated_token_is_handed_out() {
    let srv = Server::start_with_hooks(
        &["guest-sleep"],
        &["--token-reuse-grace", "3", "--hook-after-save-timeout", "10"],
    );
    let (id, old) = srv.signup("slow-save");
    let r = srv
        .put(&format!("/users/{id}"))
        .token(&old)
        .json(json!({"password": "n3w", "sleepMs": 5000}))
        .send();
    assert_eq!(r.status, 200, "{}", r.json);
    let rotated = r.str("sessionToken");
    srv.get("/users/me")
        .token(&old)
        .send()
        .assert_error(400, 209);
    assert_eq!(srv.me_status(&rotated), 200, "the client's own late request is not theft");
    assert!(!srv.logs().contains("reused"));
}

fn events(srv: &Server) -> Vec<Value> {
    let r = srv.get("/sessions/audit?limit=1000").master().send();
    assert_eq!(r.status, 200, "{}", r.json);
    r.json["results"].as_array().unwrap().clone()
}

#[test]
fn every_session_event_is_audited_without_tokens() {
    let srv = Server::start_with(&["--token-reuse-grace", "0.2"]);
    let (id, signup) = srv.signup("ida");
    let phone = srv.login("ida", "phone");
    let phone_again = srv.login("ida", "phone");
    srv.post("/logout").token(&phone_again).send().assert_ok();
    let laptop = srv.login("ida", "laptop");
    let tablet = srv.login("ida", "tablet");
    let rotated = change_password(&srv, &id, &laptop, "n3w");
    let session = srv
        .get("/sessions/me")
        .token(&rotated)
        .send()
        .str("objectId");
    let watch = srv.login_with("ida", "n3w", "watch");
    let watch_session = srv.get("/sessions/me").token(&watch).send().str("objectId");
    srv.delete(&format!("/sessions/{watch_session}"))
        .master()
        .send()
        .assert_ok();
    srv.post("/functions/logoutFromAllDevices")
        .token(&rotated)
        .json(json!({"keepCurrent": true}))
        .send()
        .assert_ok();
    sleep(Duration::from_millis(300));
    srv.get("/users/me")
        .token(&laptop)
        .send()
        .assert_error(400, 209);

    let trail = events(&srv);
    let kinds: Vec<&str> = trail.iter().map(|e| e["event"].as_str().unwrap()).collect();
    for expected in [
        "created",
        "replaced",
        "logged_out",
        "rotated",
        "revoked_by_password_change",
        "revoked_by_admin",
        "reuse_detected",
        "revoked_by_reuse",
    ] {
        assert!(
            kinds.contains(&expected),
            "{expected} missing from {kinds:?}"
        );
    }
    let rotation = trail.iter().find(|e| e["event"] == "rotated").unwrap();
    assert_eq!(rotation["sessionId"], session.as_str());
    assert_eq!(rotation["user"]["objectId"], id.as_str());
    assert_eq!(rotation["installationId"], "laptop");
    assert_eq!(rotation["ip"], "127.0.0.1");
    let text = serde_json::to_string(&trail).unwrap();
    for token in [
        &signup,
        &phone,
        &phone_again,
        &laptop,
        &tablet,
        &rotated,
        &watch,
    ] {
        assert!(!text.contains(token.as_str()));
    }
    let logs = srv.logs();
    assert!(logs.contains("cloudcode::audit"));
    for token in [&signup, &phone, &laptop, &rotated, &watch] {
        assert!(!logs.contains(token.as_str()), "log leaks a token");
    }
}

#[test]
fn hooks_and_sweeps_are_audited_and_only_the_master_key_reads_the_trail() {
    let srv = Server::start_with(&["--session-length", "0.5", "--session-sweep-interval", "0.2"]);
    let (_, token) = srv.signup("jon");
    srv.get("/sessions/audit")
        .token(&token)
        .send()
        .assert_error(400, 119);
    srv.get("/sessions/audit").send().assert_error(400, 119);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !events(&srv).iter().any(|e| e["event"] == "expired") {
        assert!(
            std::time::Instant::now() < deadline,
            "the sweep was not audited"
        );
        sleep(Duration::from_millis(100));
    }
    let (_, other) = srv.signup("kay");
    srv.post("/functions/logoutFromAllDevices")
        .token(&other)
        .send()
        .assert_ok();
    assert!(events(&srv).iter().any(|e| e["event"] == "revoked_by_hook"));
    let filtered = srv
        .get("/sessions/audit?where=%7B%22event%22%3A%22expired%22%7D")
        .master()
        .send();
    assert!(
        filtered.json["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["event"] == "expired")
    );
}
