//! Application classes: CRUD, queries and ACLs.

use serde_json::{Value, json};

use crate::harness::{APP_ID, Server};

fn ids(v: &Value) -> Vec<String> {
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["objectId"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn create_read_update_delete() {
    let srv = Server::start();
    let created = srv
        .post("/classes/Game")
        .json(json!({"score": 10, "name": "chess"}))
        .send();
    assert_eq!(created.status, 201);
    let id = created.str("objectId");
    assert_eq!(
        created.location.as_deref(),
        Some(format!("/parse/classes/Game/{id}").as_str())
    );
    let got = srv.get(&format!("/classes/Game/{id}")).send();
    assert_eq!(got.json["score"], 10);
    assert_eq!(got.json["createdAt"], created.json["createdAt"]);
    let updated = srv
        .put(&format!("/classes/Game/{id}"))
        .json(json!({"score": {"__op": "Increment", "amount": 5}, "name": {"__op": "Delete"}}))
        .send();
    assert_eq!(updated.status, 200);
    assert_eq!(updated.json["score"], 15, "computed values are echoed");
    let got = srv.get(&format!("/classes/Game/{id}")).send();
    assert!(got.json.get("name").is_none());
    assert_eq!(
        srv.delete(&format!("/classes/Game/{id}")).send().json,
        json!({})
    );
    srv.get(&format!("/classes/Game/{id}"))
        .send()
        .assert_error(404, 101);
    srv.delete(&format!("/classes/Game/{id}"))
        .send()
        .assert_error(404, 101);
    srv.put(&format!("/classes/Game/{id}"))
        .json(json!({}))
        .send()
        .assert_error(404, 101);
}

#[test]
fn queries_with_where_order_skip_limit_count() {
    let srv = Server::start();
    for (score, team) in [(1, "red"), (2, "blue"), (3, "red"), (4, "red")] {
        srv.post("/classes/Score")
            .json(json!({"score": score, "team": team}))
            .send()
            .assert_ok();
    }
    let r = srv
        .get(
            "/classes/Score?where=%7B%22team%22%3A%22red%22%7D&order=-score&skip=1&limit=1&count=1",
        )
        .send();
    assert_eq!(r.json["count"], 3);
    let results = r.json["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["score"], 3);
    srv.get("/classes/Score?bogus=1")
        .send()
        .assert_error(400, 102);
    srv.get("/classes/Score?where=%7Bnot")
        .send()
        .assert_error(400, 107);
    assert_eq!(ids(&srv.get("/classes/Empty").send().json).len(), 0);
}

#[test]
fn acls_guard_reads_and_writes() {
    let srv = Server::start();
    let (alice, alice_token) = srv.signup("alice");
    let (_, bob_token) = srv.signup("bob");
    let private = srv
        .post("/classes/Doc")
        .token(&alice_token)
        .json(json!({"text": "mine", "ACL": {alice.clone(): {"read": true, "write": true}}}))
        .send()
        .str("objectId");
    let readonly = srv
        .post("/classes/Doc")
        .json(
            json!({"text": "public", "ACL": {"*": {"read": true}, alice.clone(): {"write": true}}}),
        )
        .send()
        .str("objectId");
    srv.get(&format!("/classes/Doc/{private}"))
        .token(&bob_token)
        .send()
        .assert_error(404, 101);
    srv.get(&format!("/classes/Doc/{private}"))
        .send()
        .assert_error(404, 101);
    assert_eq!(
        srv.get(&format!("/classes/Doc/{private}"))
            .token(&alice_token)
            .send()
            .json["text"],
        "mine"
    );
    assert_eq!(
        srv.get(&format!("/classes/Doc/{private}"))
            .master()
            .send()
            .status,
        200
    );
    assert_eq!(
        ids(&srv.get("/classes/Doc").token(&bob_token).send().json),
        vec![readonly.clone()]
    );
    assert_eq!(
        ids(&srv.get("/classes/Doc").token(&alice_token).send().json).len(),
        2
    );
    srv.put(&format!("/classes/Doc/{readonly}"))
        .token(&bob_token)
        .json(json!({"text": "x"}))
        .send()
        .assert_error(404, 101);
    srv.delete(&format!("/classes/Doc/{readonly}"))
        .token(&bob_token)
        .send()
        .assert_error(404, 101);
    srv.put(&format!("/classes/Doc/{readonly}"))
        .token(&alice_token)
        .json(json!({"text": "edited"}))
        .send()
        .assert_ok();
    assert_eq!(
        srv.get(&format!("/classes/Doc/{readonly}")).send().json["text"],
        "edited"
    );
    assert_eq!(
        srv.delete(&format!("/classes/Doc/{private}"))
            .master()
            .send()
            .status,
        200
    );
}

#[test]
fn bad_class_names_and_fields() {
    let srv = Server::start();
    srv.post("/classes/9lives")
        .json(json!({}))
        .send()
        .assert_error(400, 103);
    srv.get("/classes/_Installation")
        .send()
        .assert_error(400, 119);
    srv.post("/classes/Game")
        .json(json!({"objectId": "chosen"}))
        .send()
        .assert_error(400, 105);
    srv.post("/classes/Game")
        .json(json!({"bad-key": 1}))
        .send()
        .assert_error(400, 105);
    srv.post("/classes/Game")
        .json(json!({"n": {"__op": "Nope"}}))
        .send()
        .assert_error(400, 111);
    srv.post("/classes/Game")
        .json(json!({"ACL": {"*": {"read": "yes"}}}))
        .send()
        .assert_error(400, 123);
}

/// The JS SDK's `saveAll` and `destroyAll` (parse-compat §3.11): paths carry
/// the mount, each sub-request answers on its own, and the batch's session
/// applies to every one of them.
#[test]
fn batch_runs_each_sub_request_with_the_batchs_session() {
    let srv = Server::start();
    let (owner_id, token) = srv.signup("batcher");
    let acl = json!({ owner_id.clone(): {"read": true, "write": true} });
    let created = srv.sdk(
        "/batch",
        json!({
            "_ApplicationId": APP_ID,
            "_SessionToken": token,
            "requests": [
                {"method": "POST", "path": "/parse/classes/Note", "body": {"text": "one", "ACL": acl}},
                {"method": "POST", "path": "/parse/classes/Note", "body": {"text": "two", "ACL": acl}},
                {"method": "POST", "path": "/parse/classes/Note", "body": {"bad field!": 1}},
            ],
        }),
    );
    assert_eq!(created.status, 200, "{}", created.json);
    let results = created.json.as_array().unwrap();
    assert_eq!(results.len(), 3);
    let ids: Vec<&str> = results[..2]
        .iter()
        .map(|r| r["success"]["objectId"].as_str().expect("created"))
        .collect();
    assert_eq!(results[2]["error"]["code"], 105, "{}", results[2]);

    // The ACL names the batch's user: only that session reads the notes.
    let mine = srv
        .get(&format!("/classes/Note/{}", ids[0]))
        .token(&token)
        .send();
    assert_eq!(mine.json["text"], "one");
    let anonymous = srv.get(&format!("/classes/Note/{}", ids[0])).send();
    assert_eq!(anonymous.status, 404);

    // Without the session, the same deletes are refused one by one.
    let deletes: Vec<Value> = ids
        .iter()
        .map(|id| json!({"method": "DELETE", "path": format!("/parse/classes/Note/{id}")}))
        .collect();
    let refused = srv.post("/batch").json(json!({"requests": deletes})).send();
    assert_eq!(refused.status, 200);
    for result in refused.json.as_array().unwrap() {
        assert_eq!(result["error"]["code"], 101, "{result}");
    }
    let deleted = srv
        .post("/batch")
        .token(&token)
        .json(json!({"requests": deletes}))
        .send();
    for result in deleted.json.as_array().unwrap() {
        assert_eq!(result["success"], json!({}), "{result}");
    }
    let gone = srv
        .get(&format!("/classes/Note/{}", ids[1]))
        .token(&token)
        .send();
    assert_eq!(gone.status, 404);
}

#[test]
fn bad_batches_are_refused_whole() {
    let srv = Server::start();
    let note = json!({"method": "POST", "path": "/parse/classes/Note", "body": {}});
    let too_many: Vec<Value> = (0..101).map(|_| note.clone()).collect();
    for (body, code) in [
        (json!({}), 107),
        (json!({"requests": "all"}), 107),
        (
            json!({"requests": [{"method": "POST", "path": "/parse/batch", "body": {}}]}),
            107,
        ),
        (
            json!({"requests": [{"method": "POST", "path": "/classes/Note", "body": {}}]}),
            107,
        ),
        (
            json!({"requests": [{"method": "P O", "path": "/parse/classes/Note"}]}),
            107,
        ),
        (json!({"requests": too_many}), 107),
        (json!({"requests": [note], "transaction": true}), 119),
    ] {
        let r = srv.post("/batch").json(body.clone()).send();
        r.assert_error(400, code);
        let created = srv.get("/classes/Note").master().send();
        assert_eq!(created.json["results"], json!([]), "nothing ran for {body}");
    }
    srv.get("/batch").send().assert_error(405, 107);
}
