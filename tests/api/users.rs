//! Signup, login, logout, the current user, user CRUD and password changes.

use serde_json::json;

use crate::harness::Server;

#[test]
fn signup_returns_201_location_and_a_strong_token() {
    let srv = Server::start();
    let r = srv
        .post("/users")
        .installation("dev-1")
        .json(
            json!({"username": "alice", "password": "s3cret", "email": "a@example.com", "age": 30}),
        )
        .send();
    assert_eq!(r.status, 201, "{}", r.json);
    let id = r.str("objectId");
    assert_eq!(id.len(), 10);
    assert_eq!(
        r.location.as_deref(),
        Some(format!("/parse/users/{id}").as_str())
    );
    let token = r.str("sessionToken");
    assert!(token.starts_with("r:") && token.len() == 66);
    assert!(token[2..].bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(!token.contains(&id) && !token.contains("alice"));
    assert!(r.json.get("password").is_none());
    let me = srv.get("/users/me").token(&token).send();
    assert_eq!(me.json["age"], 30);
    assert_eq!(me.json["email"], "a@example.com");
    assert_eq!(me.json["sessionToken"], token.as_str());
    assert!(me.json.get("password").is_none());
}

#[test]
fn signup_validation() {
    let srv = Server::start();
    srv.signup("taken");
    let cases = [
        (json!({"password": "x"}), 200),
        (json!({"username": "", "password": "x"}), 200),
        (json!({"username": 7, "password": "x"}), 200),
        (json!({"username": "u1"}), 201),
        (json!({"username": "u1", "password": ""}), 201),
        (json!({"username": "u1", "password": {"a": 1}}), 201),
        (json!({"username": "TAKEN", "password": "x"}), 202),
        (
            json!({"username": "u1", "password": "x", "email": "nope"}),
            125,
        ),
        (
            json!({"username": "u1", "password": "x", "sessionToken": "r:aaaa"}),
            105,
        ),
        (
            json!({"username": "u1", "password": "x", "_hashed_password": "x"}),
            105,
        ),
        (
            json!({"username": "u1", "password": "x", "ACL": "public"}),
            123,
        ),
    ];
    for (body, code) in cases {
        srv.post("/users")
            .json(body.clone())
            .send()
            .assert_error(400, code);
    }
    srv.post("/users")
        .json(json!({"username": "e1", "password": "x", "email": "dup@example.com"}))
        .send()
        .assert_ok();
    srv.post("/users")
        .json(json!({"username": "e2", "password": "x", "email": "DUP@example.com"}))
        .send()
        .assert_error(400, 203);
}

#[test]
fn login_by_username_or_email_creates_a_new_session_each_time() {
    let srv = Server::start();
    srv.post("/users")
        .json(json!({"username": "bob", "password": "pw", "email": "bob@example.com"}))
        .send()
        .assert_ok();
    let a = srv
        .post("/login")
        .json(json!({"username": "bob", "password": "pw"}))
        .send();
    assert_eq!(a.status, 200);
    assert_eq!(a.json["username"], "bob");
    assert!(a.json.get("password").is_none());
    let b = srv
        .post("/login")
        .json(json!({"email": "bob@example.com", "password": "pw"}))
        .send();
    assert_eq!(b.status, 200);
    assert_ne!(a.str("sessionToken"), b.str("sessionToken"));
    let c = srv
        .post("/login")
        .token(&a.str("sessionToken"))
        .json(json!({"username": "BOB", "password": "pw"}))
        .send();
    assert_ne!(
        c.str("sessionToken"),
        a.str("sessionToken"),
        "a token sent with login is ignored"
    );
}

#[test]
fn asvs_6_3_8_failed_logins_do_not_reveal_whether_the_account_exists() {
    let srv = Server::start();
    srv.signup("carol");
    let wrong_password = srv
        .post("/login")
        .json(json!({"username": "carol", "password": "bad"}))
        .send();
    let unknown_user = srv
        .post("/login")
        .json(json!({"username": "nobody", "password": "bad"}))
        .send();
    wrong_password.assert_error(404, 101);
    assert_eq!(
        (wrong_password.status, &wrong_password.json),
        (unknown_user.status, &unknown_user.json)
    );
    srv.post("/login")
        .json(json!({"password": "x"}))
        .send()
        .assert_error(400, 200);
    srv.post("/login")
        .json(json!({"username": "carol"}))
        .send()
        .assert_error(400, 201);
    srv.post("/login")
        .json(json!({"username": "carol", "password": 5}))
        .send()
        .assert_error(404, 101);
    srv.post("/login")
        .json(json!({"username": ["carol"], "password": "x"}))
        .send()
        .assert_error(404, 101);
}

#[test]
fn asvs_7_4_1_logout_kills_the_token_everywhere() {
    let srv = Server::start();
    let (_, token) = srv.signup("dave");
    let other = srv.login("dave", "phone");
    assert_eq!(
        srv.post("/logout")
            .token(&token)
            .json(json!({}))
            .send()
            .json,
        json!({})
    );
    for r in [
        srv.get("/users/me").token(&token).send(),
        srv.get("/sessions/me").token(&token).send(),
        srv.get("/classes/Game").token(&token).send(),
        srv.post("/logout").token(&token).send(),
    ] {
        r.assert_error(400, 209);
    }
    assert_eq!(srv.me_status(&other), 200, "other devices stay logged in");
    assert_eq!(
        srv.post("/logout").send().json,
        json!({}),
        "logout without a token is harmless"
    );
}

#[test]
fn users_me_needs_a_live_session() {
    let srv = Server::start();
    srv.get("/users/me").send().assert_error(400, 209);
    srv.get("/users/me").master().send().assert_error(400, 209);
}

#[test]
fn user_records_are_private_and_tokens_only_echo_to_their_owner() {
    let srv = Server::start();
    let (alice, alice_token) = srv.signup("alice");
    let (_, bob_token) = srv.signup("bob");
    let own = srv
        .get(&format!("/users/{alice}"))
        .token(&alice_token)
        .send();
    assert_eq!(own.json["sessionToken"], alice_token.as_str());
    srv.get(&format!("/users/{alice}"))
        .token(&bob_token)
        .send()
        .assert_error(404, 101);
    srv.get(&format!("/classes/_User/{alice}"))
        .send()
        .assert_error(404, 101);
    let by_master = srv.get(&format!("/classes/_User/{alice}")).master().send();
    assert_eq!(by_master.json["username"], "alice");
    assert!(by_master.json.get("sessionToken").is_none());
    let found = srv
        .get("/classes/_User")
        .master()
        .header("Content-Type", "application/json")
        .send();
    assert_eq!(found.json["results"].as_array().unwrap().len(), 2);
    assert!(found.json.to_string().find("sessionToken").is_none());
    let as_bob = srv.get("/users").token(&bob_token).send();
    let names: Vec<_> = as_bob.json["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].clone())
        .collect();
    assert_eq!(names, vec![json!("bob")]);
    let q = srv.sdk(
        "/classes/_User",
        json!({"_method": "GET", "_ApplicationId": crate::harness::APP_ID,
            "_MasterKey": crate::harness::MASTER_KEY, "where": {"username": "alice"}, "count": 1}),
    );
    assert_eq!(q.json["count"], 1);
}

#[test]
fn users_update_only_themselves() {
    let srv = Server::start();
    let (alice, alice_token) = srv.signup("alice");
    let (_, bob_token) = srv.signup("bob");
    let r = srv
        .put(&format!("/users/{alice}"))
        .token(&alice_token)
        .json(json!({"nick": "al"}))
        .send();
    assert_eq!(r.status, 200);
    assert!(r.json["updatedAt"].is_string());
    assert!(
        r.json.get("sessionToken").is_none(),
        "no password change, no new token"
    );
    srv.put(&format!("/users/{alice}"))
        .token(&bob_token)
        .json(json!({"nick": "x"}))
        .send()
        .assert_error(400, 206);
    srv.put(&format!("/users/{alice}"))
        .json(json!({"nick": "x"}))
        .send()
        .assert_error(400, 206);
    srv.put(&format!("/classes/_User/{alice}"))
        .token(&alice_token)
        .json(json!({"username": "BOB"}))
        .send()
        .assert_error(400, 202);
    srv.put(&format!("/classes/_User/{alice}"))
        .token(&alice_token)
        .json(json!({"sessionToken": "r:x"}))
        .send()
        .assert_error(400, 105);
    let me = srv.get("/users/me").token(&alice_token).send();
    assert_eq!(me.json["nick"], "al");
}

/// The host's own rule, without hooks: no session that existed before the
/// change survives it, the caller's included (rotating it is a hook's job).
#[test]
fn without_a_rotating_hook_a_password_change_ends_every_session() {
    let srv = Server::start_with(&["--no-builtin-hooks"]);
    let (id, _) = srv.signup("erin");
    let laptop = srv.login("erin", "laptop");
    let phone = srv.login("erin", "phone");
    let tablet = srv.login("erin", "tablet");
    let r = srv
        .put(&format!("/classes/_User/{id}"))
        .token(&laptop)
        .json(json!({"password": "new-secret"}))
        .send();
    assert_eq!(r.status, 200, "{}", r.json);
    assert!(r.json.get("password").is_none());
    assert!(
        r.json.get("sessionToken").is_none(),
        "rotation is the hook's job"
    );
    assert_eq!(
        srv.me_status(&laptop),
        400,
        "the caller's token died with the change"
    );
    assert_eq!(srv.me_status(&phone), 400);
    assert_eq!(srv.me_status(&tablet), 400);
    srv.post("/login")
        .json(json!({"username": "erin", "password": "pw-erin"}))
        .send()
        .assert_error(404, 101);
    let fresh = srv
        .post("/login")
        .json(json!({"username": "erin", "password": "new-secret"}))
        .send();
    assert_eq!(fresh.status, 200);
}

#[test]
fn parse_3289_a_master_key_password_change_kills_every_session() {
    let srv = Server::start();
    let (id, first) = srv.signup("frank");
    let second = srv.login("frank", "phone");
    let r = srv
        .put(&format!("/users/{id}"))
        .master()
        .json(json!({"password": "reset"}))
        .send();
    assert_eq!(r.status, 200);
    assert!(r.json.get("sessionToken").is_none());
    assert_eq!(srv.me_status(&first), 400);
    assert_eq!(srv.me_status(&second), 400);
}

#[test]
fn asvs_7_4_2_deleting_a_user_deletes_their_sessions() {
    let srv = Server::start();
    let (id, token) = srv.signup("gina");
    let other = srv.login("gina", "phone");
    let (_, stranger) = srv.signup("hank");
    srv.delete(&format!("/users/{id}"))
        .token(&stranger)
        .send()
        .assert_error(400, 206);
    srv.delete(&format!("/users/{id}"))
        .send()
        .assert_error(400, 206);
    assert_eq!(
        srv.delete(&format!("/classes/_User/{id}"))
            .token(&token)
            .send()
            .json,
        json!({})
    );
    assert_eq!(srv.me_status(&token), 400);
    assert_eq!(srv.me_status(&other), 400);
    let sessions = srv.get("/sessions").master().send();
    assert!(
        sessions.json["results"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["user"]["objectId"] != id.as_str())
    );
    srv.delete(&format!("/users/{id}"))
        .master()
        .send()
        .assert_error(404, 101);
}

#[test]
fn bcrypt_hashes_migrated_from_parse_log_in_and_are_upgraded() {
    let srv = Server::start();
    let (id, _) = srv.signup("legacy");
    // bcrypt's alphabet ($./A-Za-z0-9) and object ids need no SQL quoting.
    let legacy_hash = bcrypt::hash("parse-password", 4).unwrap();
    srv.sql(&format!(
        "UPDATE users SET password_hash = '{legacy_hash}' WHERE object_id = '{id}'"
    ));
    let r = srv
        .post("/login")
        .json(json!({"username": "legacy", "password": "parse-password"}))
        .send();
    assert_eq!(r.status, 200, "{}", r.json);
    let stored = srv
        .sql(&format!(
            "SELECT password_hash FROM users WHERE object_id = '{id}'"
        ))
        .remove(0);
    assert!(stored.starts_with("$argon2id$"), "{stored}");
    let again = srv
        .post("/login")
        .json(json!({"username": "legacy", "password": "parse-password"}))
        .send();
    assert_eq!(again.status, 200);
}
