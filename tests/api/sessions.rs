//! `_Session`: one per device, visible only to its owner, never client-writable.

use serde_json::{Value, json};

use crate::harness::{APP_ID, Server};

fn results(v: &Value) -> &Vec<Value> {
    v["results"].as_array().unwrap()
}

#[test]
fn asvs_7_1_2_one_session_per_user_and_installation() {
    let srv = Server::start();
    srv.signup("ivy");
    let first = srv.login("ivy", "phone");
    let second = srv.login("ivy", "phone");
    let laptop = srv.login("ivy", "laptop");
    assert_eq!(
        srv.me_status(&first),
        400,
        "same device: the old session is replaced"
    );
    assert_eq!(srv.me_status(&second), 200);
    assert_eq!(srv.me_status(&laptop), 200);
}

#[test]
fn ghsa_g4v2_qx3q_4p64_and_parse_4326_sessions_me_is_the_only_place_with_a_token() {
    let srv = Server::start();
    let (id, signup_token) = srv.signup("jack");
    let token = srv.login("jack", "phone");
    let me = srv.get("/sessions/me").token(&token).send();
    assert_eq!(me.json["sessionToken"], token.as_str());
    assert_eq!(
        me.json["user"],
        json!({"__type": "Pointer", "className": "_User", "objectId": id})
    );
    assert_eq!(me.json["installationId"], "phone");
    assert_eq!(
        me.json["createdWith"],
        json!({"action": "login", "authProvider": "password"})
    );
    assert_eq!(me.json["expiresAt"]["__type"], "Date");
    srv.get("/sessions/me").send().assert_error(400, 209);

    let listing = srv.get("/sessions").token(&token).send();
    assert_eq!(results(&listing.json).len(), 2);
    let text = listing.json.to_string();
    assert!(
        !text.contains(&token) && !text.contains(&signup_token) && !text.contains("sessionToken")
    );
    let signup = results(&listing.json)
        .iter()
        .find(|s| s["createdWith"]["action"] == "signup")
        .unwrap();
    assert_eq!(signup["createdWith"]["authProvider"], "password");
    let all = srv.get("/classes/_Session").master().send();
    assert!(!all.json.to_string().contains("sessionToken"));
}

#[test]
fn ghsa_6w4q_23cf_j9jp_users_see_and_delete_only_their_own_sessions() {
    let srv = Server::start();
    let (_, kim) = srv.signup("kim");
    let (_, lee) = srv.signup("lee");
    let lee_session = srv.get("/sessions/me").token(&lee).send().str("objectId");
    let kim_list = srv.get("/sessions").token(&kim).send();
    assert_eq!(results(&kim_list.json).len(), 1);
    srv.get(&format!("/sessions/{lee_session}"))
        .token(&kim)
        .send()
        .assert_error(404, 101);
    srv.delete(&format!("/sessions/{lee_session}"))
        .token(&kim)
        .send()
        .assert_error(404, 101);
    srv.put(&format!("/sessions/{lee_session}"))
        .token(&kim)
        .json(json!({}))
        .send()
        .assert_error(404, 101);
    assert_eq!(srv.me_status(&lee), 200);
    srv.get("/sessions").send().assert_error(400, 209);
    srv.delete(&format!("/sessions/{lee_session}"))
        .send()
        .assert_error(400, 209);
    let own = srv
        .get(&format!("/classes/_Session/{lee_session}"))
        .token(&lee)
        .send();
    assert_eq!(own.status, 200);
    assert!(own.json.get("sessionToken").is_none());
    assert_eq!(
        srv.delete(&format!("/classes/_Session/{lee_session}"))
            .token(&lee)
            .send()
            .json,
        json!({})
    );
    assert_eq!(srv.me_status(&lee), 400);
    assert_eq!(
        srv.get("/sessions").master().send().json["results"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn ghsa_5v7g_9h8f_8pgg_clients_cannot_create_sessions_or_choose_tokens() {
    let srv = Server::start();
    let (_, token) = srv.signup("max");
    let chosen = format!("r:{}", "a".repeat(64));
    for r in [
        srv.post("/sessions")
            .token(&token)
            .json(json!({"sessionToken": chosen}))
            .send(),
        srv.post("/classes/_Session")
            .token(&token)
            .json(json!({}))
            .send(),
        srv.post("/sessions")
            .master()
            .json(json!({"sessionToken": chosen, "user": "x"}))
            .send(),
    ] {
        r.assert_error(400, 119);
    }
    srv.post("/sessions")
        .json(json!({}))
        .send()
        .assert_error(400, 209);
    assert_eq!(srv.me_status(&chosen), 400);
}

#[test]
fn cve_2026_34574_users_cannot_edit_any_session_field() {
    let srv = Server::start();
    let (_, token) = srv.signup("nia");
    let (other, _) = srv.signup("oz");
    let me = srv.get("/sessions/me").token(&token).send();
    let id = me.str("objectId");
    let far = json!({"__type": "Date", "iso": "2999-01-01T00:00:00.000Z"});
    for body in [
        json!({"expiresAt": null}),
        json!({"expiresAt": far}),
        json!({"createdWith": {"action": "login"}}),
        json!({"sessionToken": "r:x"}),
        json!({"user": {"__type": "Pointer", "className": "_User", "objectId": other}}),
        json!({"installationId": "evil"}),
        json!({"custom": 1}),
        json!({"ACL": {"*": {"read": true}}}),
    ] {
        srv.put(&format!("/sessions/{id}"))
            .token(&token)
            .json(body.clone())
            .send()
            .assert_error(400, 105);
        srv.put(&format!("/classes/_Session/{id}"))
            .token(&token)
            .json(body)
            .send()
            .assert_error(400, 105);
    }
    let after = srv.get("/sessions/me").token(&token).send();
    assert_eq!(after.json, me.json, "the row is unchanged");
    assert_eq!(
        srv.put(&format!("/sessions/{id}"))
            .token(&token)
            .json(json!({}))
            .send()
            .status,
        200
    );
}

#[test]
fn parse_pr_10194_the_master_key_may_only_bring_expiry_closer_and_it_applies_at_once() {
    let srv = Server::start();
    let (_, token) = srv.signup("pia");
    let id = srv.get("/sessions/me").token(&token).send().str("objectId");
    let path = format!("/sessions/{id}");
    let far = json!({"__type": "Date", "iso": "2999-01-01T00:00:00.000Z"});
    srv.put(&path)
        .master()
        .json(json!({"expiresAt": far}))
        .send()
        .assert_error(400, 119);
    srv.put(&path)
        .master()
        .json(json!({"expiresAt": null}))
        .send()
        .assert_error(400, 111);
    srv.put(&path)
        .master()
        .json(json!({"expiresAt": "2020-01-01"}))
        .send()
        .assert_error(400, 111);
    srv.put(&path)
        .master()
        .json(json!({"user": "x"}))
        .send()
        .assert_error(400, 105);
    srv.put(&path)
        .master()
        .json(json!({"sessionToken": "r:x"}))
        .send()
        .assert_error(400, 105);
    assert_eq!(srv.me_status(&token), 200);
    let past = json!({"__type": "Date", "iso": "2001-01-01T00:00:00.000Z"});
    assert_eq!(
        srv.put(&path)
            .master()
            .json(json!({"expiresAt": past}))
            .send()
            .status,
        200
    );
    assert_eq!(srv.me_status(&token), 400, "expired at once, no cache");
}

#[test]
fn session_queries_filter_by_pointer_and_never_by_token() {
    let srv = Server::start();
    let (quinn, token) = srv.signup("quinn");
    srv.login("quinn", "phone");
    srv.signup("ray");
    let pointer = json!({"__type": "Pointer", "className": "_User", "objectId": quinn});
    let by_user = srv.sdk(
        "/classes/_Session",
        json!({"_method": "GET", "_ApplicationId": APP_ID, "_MasterKey": crate::harness::MASTER_KEY,
               "where": {"user": pointer}, "count": 1}),
    );
    assert_eq!(by_user.json["count"], 2, "{}", by_user.json);
    let by_installation = srv.sdk(
        "/classes/_Session",
        json!({"_method": "GET", "_ApplicationId": APP_ID, "_SessionToken": token, "where": {"installationId": "phone"}}),
    );
    assert_eq!(results(&by_installation.json).len(), 1);
    let by_token = srv.sdk(
        "/classes/_Session",
        json!({"_method": "GET", "_ApplicationId": APP_ID, "_MasterKey": crate::harness::MASTER_KEY,
               "where": {"sessionToken": token}}),
    );
    assert_eq!(results(&by_token.json).len(), 0);
}
