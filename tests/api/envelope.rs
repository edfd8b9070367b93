//! Wire format: headers, the JS SDK's text/plain envelope, keys, bad input.

use serde_json::json;

use crate::harness::{APP_ID, MASTER_KEY, Server};

#[test]
fn health_needs_no_app_id() {
    let srv = Server::start();
    let r = srv.get("/health").no_app_id().send();
    assert_eq!((r.status, r.json.clone()), (200, json!({"status": "ok"})));
}

#[test]
fn wrong_or_missing_app_id_is_403_unauthorized() {
    let srv = Server::start();
    for r in [
        srv.get("/users/me").no_app_id().send(),
        srv.get("/classes/Game")
            .header("X-Parse-Application-Id", "other")
            .send(),
        srv.sdk(
            "/classes/Game",
            json!({"_method": "GET", "_ApplicationId": "other"}),
        ),
        srv.sdk(
            "/classes/Game",
            json!({"_method": "GET", "_ApplicationId": 42}),
        ),
    ] {
        assert_eq!((r.status, r.json), (403, json!({"error": "unauthorized"})));
    }
}

#[test]
fn sdk_envelope_overrides_the_method_and_carries_credentials() {
    let srv = Server::start();
    let (_, token) = srv.signup("sdkuser");
    let created = srv.sdk(
        "/classes/Note",
        json!({"text": "hi", "_ApplicationId": APP_ID, "_ClientVersion": "js8.6.2",
               "_InstallationId": "inst-1", "_SessionToken": token}),
    );
    assert_eq!(created.status, 201, "{}", created.json);
    let id = created.str("objectId");
    let fetched = srv.sdk(
        &format!("/classes/Note/{id}"),
        json!({"_method": "GET", "_ApplicationId": APP_ID}),
    );
    assert_eq!(fetched.json["text"], "hi");
    assert!(fetched.json.get("_ApplicationId").is_none());
    let updated = srv.sdk(
        &format!("/classes/Note/{id}"),
        json!({"_method": "PUT", "_ApplicationId": APP_ID, "text": "bye"}),
    );
    assert_eq!(updated.status, 200);
    let query = srv.sdk(
        "/classes/Note",
        json!({"_method": "GET", "_ApplicationId": APP_ID, "where": {"text": "bye"}, "limit": 10}),
    );
    assert_eq!(query.json["results"].as_array().unwrap().len(), 1);
    let me = srv.sdk(
        "/users/me",
        json!({"_method": "GET", "_ApplicationId": APP_ID, "_SessionToken": token}),
    );
    assert_eq!(me.json["username"], "sdkuser");
    let bad = srv.sdk(
        "/users/me",
        json!({"_method": "PATCH", "_ApplicationId": APP_ID}),
    );
    bad.assert_error(400, 107);
}

#[test]
fn client_keys_are_required_once_configured() {
    let srv = Server::start_with(&["--javascript-key", "js-key"]);
    srv.get("/classes/Game").send().assert_eq_unauthorized();
    srv.get("/classes/Game")
        .header("X-Parse-Javascript-Key", "wrong")
        .send()
        .assert_eq_unauthorized();
    assert_eq!(
        srv.get("/classes/Game")
            .header("X-Parse-Javascript-Key", "js-key")
            .send()
            .status,
        200
    );
    let sdk = srv.sdk(
        "/classes/Game",
        json!({"_method": "GET", "_ApplicationId": APP_ID, "_JavaScriptKey": "js-key"}),
    );
    assert_eq!(sdk.status, 200);
    assert_eq!(
        srv.get("/classes/Game").master().send().status,
        200,
        "master key needs no client key"
    );
}

trait Unauthorized {
    fn assert_eq_unauthorized(&self);
}

impl Unauthorized for crate::harness::Resp {
    #[track_caller]
    fn assert_eq_unauthorized(&self) {
        assert_eq!(
            (self.status, &self.json),
            (403, &json!({"error": "unauthorized"}))
        );
    }
}

#[test]
fn wrong_master_key_is_refused_not_downgraded() {
    let srv = Server::start();
    srv.get("/sessions")
        .header("X-Parse-Master-Key", "nope")
        .send()
        .assert_eq_unauthorized();
    let sdk = srv.sdk(
        "/sessions",
        json!({"_method": "GET", "_ApplicationId": APP_ID, "_MasterKey": 1}),
    );
    sdk.assert_eq_unauthorized();
    assert_eq!(srv.get("/sessions").master().send().status, 200);
}

#[test]
fn master_key_only_from_allowed_addresses() {
    let srv = Server::start_with(&["--master-key-ips", "10.1.2.3,192.168.0.0/16"]);
    srv.get("/sessions")
        .master()
        .send()
        .assert_eq_unauthorized();
    let sdk = srv.sdk(
        "/sessions",
        json!({"_method": "GET", "_ApplicationId": APP_ID, "_MasterKey": MASTER_KEY}),
    );
    sdk.assert_eq_unauthorized();
}

#[test]
fn seed_a5_session_tokens_of_the_wrong_type_or_size_are_rejected_cleanly() {
    let srv = Server::start();
    let huge = "r:".to_string() + &"a".repeat(1 << 20);
    for token in [
        json!({"$ne": ""}),
        json!(12345),
        json!(["r:x"]),
        json!(true),
        json!(huge),
        json!("r:\u{0}abc"),
        json!("🙂"),
    ] {
        let r = srv.sdk(
            "/users/me",
            json!({"_method": "GET", "_ApplicationId": APP_ID, "_SessionToken": token}),
        );
        r.assert_error(400, 209);
    }
    srv.get("/users/me")
        .token("r:notatoken")
        .send()
        .assert_error(400, 209);
    srv.get("/users/me")
        .token(&"x".repeat(8000))
        .send()
        .assert_error(400, 209);
    assert_eq!(
        srv.get("/health").send().status,
        200,
        "server keeps serving"
    );
}

#[test]
fn installation_ids_must_be_short_strings() {
    let srv = Server::start();
    let r = srv.sdk(
        "/classes/A",
        json!({"_method": "GET", "_ApplicationId": APP_ID, "_InstallationId": {"a": 1}}),
    );
    r.assert_eq_unauthorized();
    let r = srv.get("/classes/A").installation(&"i".repeat(300)).send();
    r.assert_eq_unauthorized();
}

#[test]
fn malformed_bodies_get_parse_errors_and_the_server_carries_on() {
    let srv = Server::start_with(&["--max-body-bytes", "4096"]);
    srv.post("/classes/Game")
        .raw(b"{not json")
        .send()
        .assert_error(400, 107);
    srv.post("/classes/Game")
        .raw(b"[1,2,3]")
        .send()
        .assert_error(400, 107);
    srv.post("/classes/Game")
        .raw(b"\"text\"")
        .send()
        .assert_error(400, 107);
    srv.post("/users")
        .raw(&[0xff, 0xfe, 0x00])
        .send()
        .assert_error(400, 107);
    let big = json!({"blob": "x".repeat(10_000)});
    srv.post("/classes/Game")
        .json(big)
        .send()
        .assert_error(413, 107);
    let deep = "[".repeat(500) + &"]".repeat(500);
    srv.post("/classes/Game")
        .raw(deep.as_bytes())
        .send()
        .assert_error(400, 107);
    srv.post("/classes/Game")
        .header("X-Parse-Cloud-Context", "[1]")
        .json(json!({}))
        .send()
        .assert_error(400, 107);
    srv.sdk(
        "/classes/Game",
        json!({"_ApplicationId": APP_ID, "_context": "x"}),
    )
    .assert_error(400, 107);
    assert_eq!(srv.get("/health").send().status, 200);
    assert_eq!(srv.get("/classes/Game").send().status, 200);
}

#[test]
fn unknown_routes_and_methods_answer_json() {
    let srv = Server::start();
    srv.get("/nope").send().assert_error(404, 101);
    srv.req("PATCH", "/users/me").send().assert_error(405, 107);
    srv.get("/nowhere")
        .no_app_id()
        .send()
        .assert_eq_unauthorized();
}

#[test]
fn seed_b1_tokens_in_the_url_are_never_accepted() {
    let srv = Server::start();
    let (_, token) = srv.signup("urluser");
    for q in ["sessionToken", "_SessionToken", "X-Parse-Session-Token"] {
        srv.get(&format!("/users/me?{q}={token}"))
            .send()
            .assert_error(400, 209);
    }
    let r = srv
        .get("/login?username=urluser&password=pw-urluser")
        .send();
    r.assert_error(400, 119);
    let sdk = srv.sdk(
        "/login",
        json!({"_method": "GET", "_ApplicationId": APP_ID, "username": "urluser", "password": "pw-urluser"}),
    );
    assert_eq!(
        sdk.status, 200,
        "the SDK's GET login carries credentials in the body"
    );
}

#[test]
fn cors_preflight_is_answered_for_browsers() {
    let srv = Server::start();
    let r = srv
        .req("OPTIONS", "/classes/Game")
        .no_app_id()
        .header("Origin", "https://app.example")
        .header("Access-Control-Request-Method", "POST")
        .send();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    // Any origin gets the same answer, so (as from Parse Server) no `Vary`.
    let r = srv
        .get("/health")
        .header("Origin", "https://app.example")
        .send();
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(r.header("vary"), None);
}

/// Every route answers under the mount path it was given, and only there:
/// at the root, and under a deeper one.
#[test]
fn the_api_answers_under_any_mount_path_and_only_there() {
    for (mount, outside) in [("", "/parse/health"), ("/api/v1", "/parse/users/me")] {
        let srv = Server::start_with(&["--mount-path", if mount.is_empty() { "/" } else { mount }]);
        let origin = srv.base.strip_suffix(mount).expect("the base ends with the mount");
        assert!(!origin.ends_with('/'), "{}", srv.base);
        let r = srv.get("/health").no_app_id().send();
        assert_eq!((r.status, r.json.clone()), (200, json!({"status": "ok"})));
        let (_, token) = srv.signup("mounted");
        let me = srv.get("/users/me").token(&token).send();
        assert_eq!(me.status, 200, "{mount}: {:?}", me.json);
        let batch = srv
            .post("/batch")
            .token(&token)
            .json(json!({"requests": [{"method": "GET", "path": format!("{mount}/users/me")}]}))
            .send();
        assert_eq!(batch.status, 200, "{mount}: {:?}", batch.json);
        assert_eq!(batch.json[0]["success"]["username"], "mounted", "{mount}");
        srv.at_origin("GET", outside).send().assert_error(404, 101);
    }
}
