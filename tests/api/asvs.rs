//! ASVS 5.0 V7 items and Parse advisories not covered by a test elsewhere,
//! each named after its item (SECURITY.md maps every item to its test).

use std::collections::HashSet;

use serde_json::json;

use crate::harness::Server;

#[test]
fn asvs_7_2_1_every_request_is_checked_against_the_session_row() {
    let srv = Server::start();
    let (_, token) = srv.signup("uma");
    assert_eq!(srv.me_status(&token), 200);
    srv.sql("DELETE FROM sessions");
    assert_eq!(srv.me_status(&token), 400, "no cache outlives the row");
}

#[test]
fn asvs_7_2_2_and_7_2_3_tokens_are_fresh_unique_opaque_and_256_bit() {
    let srv = Server::start();
    let (id, _) = srv.signup("val");
    let tokens: Vec<String> = (0..100)
        .map(|i| srv.login("val", &format!("d{i}")))
        .collect();
    let distinct: HashSet<&String> = tokens.iter().collect();
    assert_eq!(distinct.len(), tokens.len());
    for token in &tokens {
        assert_eq!(token.len(), 66);
        assert!(
            token.starts_with("r:")
                && token[2..]
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert!(!token.contains(&id) && !token.contains("val"));
    }
}

#[test]
fn asvs_7_2_4_login_issues_a_new_token_and_ends_the_one_it_replaces() {
    let srv = Server::start();
    srv.signup("wes");
    let first = srv.login("wes", "phone");
    let second = srv
        .post("/login")
        .installation("phone")
        .token(&first)
        .json(json!({"username": "wes", "password": "pw-wes"}))
        .send()
        .str("sessionToken");
    assert_ne!(first, second);
    assert_eq!(srv.me_status(&first), 400);
    assert_eq!(srv.me_status(&second), 200);
}

#[test]
fn asvs_7_4_5_the_master_key_can_end_a_users_sessions_and_no_one_elses() {
    let srv = Server::start();
    let (xia, _) = srv.signup("xia");
    let devices = [srv.login("xia", "a"), srv.login("xia", "b")];
    let (_, bystander) = srv.signup("yan");
    let sessions = srv.get("/sessions?limit=100").master().send();
    for s in sessions.json["results"].as_array().unwrap() {
        if s["user"]["objectId"] == xia.as_str() {
            let id = s["objectId"].as_str().unwrap();
            srv.delete(&format!("/sessions/{id}"))
                .master()
                .send()
                .assert_ok();
        }
    }
    assert!(devices.iter().all(|t| srv.me_status(t) == 400));
    assert_eq!(srv.me_status(&bystander), 200);
}

#[test]
fn parse_3451_parallel_logins_on_one_installation_leave_one_session() {
    let srv = Server::start();
    let (id, _) = srv.signup("zed");
    let srv = &srv;
    let tokens: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..10)
            .map(|_| s.spawn(move || srv.login("zed", "same-phone")))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let alive = tokens.iter().filter(|t| srv.me_status(t) == 200).count();
    assert_eq!(alive, 1);
    let rows = srv.get("/sessions?limit=100").master().send();
    let on_phone = rows.json["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["user"]["objectId"] == id.as_str() && s["installationId"] == "same-phone")
        .count();
    assert_eq!(on_phone, 1);
}

#[test]
fn parse_6749_resending_the_unchanged_password_logs_no_one_out() {
    let srv = Server::start();
    let (id, _) = srv.signup("abe");
    let laptop = srv.login("abe", "laptop");
    let phone = srv.login("abe", "phone");
    let r = srv
        .put(&format!("/users/{id}"))
        .token(&laptop)
        .json(json!({"password": "pw-abe", "nick": "a"}))
        .send();
    assert_eq!(r.status, 200);
    assert!(r.json.get("sessionToken").is_none());
    assert_eq!(srv.me_status(&laptop), 200);
    assert_eq!(srv.me_status(&phone), 200);
}

#[test]
fn ghsa_6r2j_cxgf_495f_no_query_reaches_session_tokens_indirectly() {
    let srv = Server::start();
    let (_, token) = srv.signup("bea");
    srv.post("/classes/Note")
        .json(json!({"text": "x"}))
        .send()
        .assert_ok();
    for op in ["$select", "$inQuery", "$relatedTo", "$dontSelect"] {
        let q = json!({"text": {op: {"query": {"className": "_Session", "where": {}}, "key": "sessionToken"}}});
        let r = srv.sdk(
            "/classes/Note",
            json!({"_method": "GET", "_ApplicationId": crate::harness::APP_ID, "where": q}),
        );
        r.assert_error(400, 102);
    }
    srv.get("/classes/_Session").send().assert_error(400, 209);
    let own = srv
        .get("/classes/_Session?keys=sessionToken")
        .token(&token)
        .send();
    assert!(!own.json.to_string().contains(&token));
}

#[test]
fn asvs_7_5_1_sensitive_changes_can_require_the_current_password() {
    let srv = Server::start_with(&["--require-current-password"]);
    let (id, _) = srv.signup("cid");
    let laptop = srv.login("cid", "laptop");
    let path = format!("/users/{id}");
    srv.put(&path)
        .token(&laptop)
        .json(json!({"password": "n3w"}))
        .send()
        .assert_error(400, 201);
    srv.put(&path)
        .token(&laptop)
        .json(json!({"email": "c@example.com"}))
        .send()
        .assert_error(400, 201);
    srv.put(&path)
        .token(&laptop)
        .json(json!({"password": "n3w", "currentPassword": "wrong"}))
        .send()
        .assert_error(404, 101);
    assert_eq!(
        srv.put(&path)
            .token(&laptop)
            .json(json!({"nick": "c"}))
            .send()
            .status,
        200
    );
    let changed = srv
        .put(&path)
        .token(&laptop)
        .json(json!({"password": "n3w", "currentPassword": "pw-cid"}))
        .send();
    assert_eq!(changed.status, 200, "{}", changed.json);
    let token = changed.str("sessionToken");
    let me = srv.get("/users/me").token(&token).send();
    assert!(me.json.get("currentPassword").is_none(), "never stored");
    assert_eq!(
        srv.put(&path)
            .master()
            .json(json!({"password": "reset"}))
            .send()
            .status,
        200
    );
}
