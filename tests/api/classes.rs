//! Application classes: CRUD, queries and ACLs.

use serde_json::{Value, json};

use crate::harness::Server;

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
