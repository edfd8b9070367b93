//! Queries run as SQL in the backend give the answers of the in-memory
//! reference (`FindOptions::run`, which sessions and audit events use):
//! the same rows, in the same order, with the same counts, for the master
//! key, a user and an anonymous caller, over values of every kind, ACLs
//! that hide rows, and `where`s that mix them. Runs on both backends.

use cloudcode_runtime::acl::{self, Access};
use cloudcode_runtime::query::FindOptions;
use serde_json::{Map, Value, json};

use crate::harness::{APP_ID, MASTER_KEY, Server};

fn date(iso: &str) -> Value {
    json!({"__type": "Date", "iso": iso})
}

fn pointer(class: &str, id: &str) -> Value {
    json!({"__type": "Pointer", "className": class, "objectId": id})
}

/// Objects with values of every kind under the same keys, and ACLs that
/// give them to everyone, to `owner`, to nobody but the master key.
fn objects(owner: &str) -> Vec<Value> {
    let mine = json!({ owner: {"read": true, "write": true} });
    let nobody = json!({"*": {"read": false}});
    let public = json!({"*": {"read": true}});
    vec![
        json!({"n": 3, "s": "b", "tags": ["red", "blue"], "when": date("2024-01-02T00:00:00.000Z")}),
        json!({"n": 1.5, "s": "a", "tags": ["green"], "owner": pointer("_User", owner), "ACL": mine}),
        json!({"n": 2, "s": "B", "tags": [], "flag": true, "ACL": public}),
        json!({"n": -7, "s": "ab", "flag": false, "when": date("2023-12-31T23:59:59.999Z")}),
        json!({"n": "3", "s": 3, "tags": [1, 2, 3], "ACL": nobody}),
        json!({"n": null, "s": "", "obj": {"a": 1, "b": [true]}, "owner": pointer("_User", "someoneElse")}),
        json!({"s": "zeta", "tags": "red", "flag": true, "obj": {"a": 2}}),
        json!({"n": 10, "tags": [pointer("_User", owner), "x"], "when": "2024-01-02T00:00:00.000Z"}),
        json!({"n": 2.0, "s": "b", "ACL": {}}),
        json!({"n": 0, "s": "é", "flag": false, "tags": [["red"]], "obj": [1, 2]}),
    ]
}

fn queries(owner: &str) -> Vec<Value> {
    vec![
        json!({}),
        json!({"where": {"s": "b"}}),
        json!({"where": {"n": 2}}),
        json!({"where": {"n": "3"}}),
        json!({"where": {"n": null}}),
        json!({"where": {"n": {"$exists": true}}, "order": "n"}),
        json!({"where": {"n": {"$exists": false}}}),
        json!({"where": {"n": {"$gt": 1}}, "order": "-n"}),
        json!({"where": {"n": {"$gte": 1.5, "$lt": 10}}, "order": "n,s"}),
        json!({"where": {"n": {"$lte": "3"}}}),
        json!({"where": {"s": {"$gt": "a", "$lte": "b"}}, "order": "s"}),
        json!({"where": {"s": {"$ne": "b"}}, "order": "-s"}),
        json!({"where": {"s": {"$in": ["a", "b", 3]}}, "order": "s,-n"}),
        json!({"where": {"s": {"$nin": ["a", "b"]}}, "order": "n"}),
        json!({"where": {"s": {"$in": []}}}),
        json!({"where": {"s": {"$nin": []}}}),
        json!({"where": {"tags": "red"}}),
        json!({"where": {"tags": 2}}),
        json!({"where": {"tags": ["red", "blue"]}}),
        json!({"where": {"tags": ["red"]}}),
        json!({"where": {"tags": {"$in": ["green", 1]}}}),
        json!({"where": {"tags": {"$ne": "red"}}, "order": "createdAt"}),
        json!({"where": {"tags": pointer("_User", owner)}}),
        json!({"where": {"owner": pointer("_User", owner)}}),
        json!({"where": {"owner": {"$in": [pointer("_User", owner), pointer("_User", "someoneElse")]}}}),
        json!({"where": {"flag": true}}),
        json!({"where": {"flag": {"$ne": true}}, "order": "-flag,n"}),
        json!({"where": {"flag": {"$gt": false}}}),
        json!({"where": {"when": date("2024-01-02T00:00:00.000Z")}}),
        json!({"where": {"when": {"$lt": date("2024-01-01T00:00:00.000Z")}}}),
        json!({"where": {"when": {"$gte": "2024"}}, "order": "-when"}),
        json!({"where": {"obj": {"a": 1, "b": [true]}}}),
        json!({"where": {"obj": {"$exists": true}}, "order": "obj"}),
        json!({"where": {"ACL": {"$exists": true}}}),
        json!({"where": {"$or": [{"s": "a"}, {"n": {"$gt": 2}}]}, "order": "-createdAt"}),
        json!({"where": {"$and": [{"s": {"$ne": "b"}}, {"$or": [{"flag": true}, {"n": 0}]}]}}),
        json!({"where": {"$or": []}}),
        json!({"where": {"objectId": {"$exists": true}, "not.a.key": {"$exists": false}}}),
        json!({"where": {"createdAt": {"$gte": date("2000-01-01T00:00:00.000Z")}}, "order": "-updatedAt"}),
        json!({"where": {"createdAt": {"$lt": "2000-01-01T00:00:00Z"}}}),
        json!({"where": {"updatedAt": {"$gt": "not a date"}}}),
        json!({"order": "n", "skip": 2, "limit": 3, "count": 1}),
        json!({"order": "-s,n", "skip": 1, "limit": 100}),
        json!({"order": "flag,tags,obj", "limit": 4}),
        json!({"where": {"n": {"$gt": 0}}, "count": 1, "limit": 0}),
        json!({"order": "missing,-n", "keys": "n,s"}),
        json!({"where": {"s": "b"}, "excludeKeys": "n", "count": true}),
    ]
}

/// The rows as the master key sees them, oldest first (ties by id, as the
/// store breaks them).
fn rendered(server: &Server, bodies: &[Value]) -> Vec<Map<String, Value>> {
    let mut rows: Vec<Map<String, Value>> = bodies
        .iter()
        .map(|body| {
            let created = server.post("/classes/Mix").master().json(body.clone()).send();
            assert_eq!(created.status, 201, "{}", created.json);
            let mut row = body.as_object().unwrap().clone();
            row.insert("objectId".into(), created.json["objectId"].clone());
            row.insert("createdAt".into(), created.json["createdAt"].clone());
            row.insert("updatedAt".into(), created.json["createdAt"].clone());
            row
        })
        .collect();
    rows.sort_by(|a, b| {
        let key = |row: &Map<String, Value>| {
            (
                row["createdAt"].as_str().unwrap().to_string(),
                row["objectId"].as_str().unwrap().to_string(),
            )
        };
        key(a).cmp(&key(b))
    });
    rows
}

#[test]
fn sql_finds_answer_as_the_in_memory_reference_for_every_reader() {
    let server = Server::start();
    let (owner, token) = server.signup("query-owner");
    let rows = rendered(&server, &objects(&owner));
    let readers: [(&str, Option<&str>, Value); 3] = [
        ("master", None, json!({"_MasterKey": MASTER_KEY})),
        ("owner", Some(&owner), json!({"_SessionToken": token})),
        ("anonymous", None, json!({})),
    ];
    for query in queries(&owner) {
        for (name, user, credentials) in &readers {
            let visible = rows
                .iter()
                .filter(|row| *name == "master" || acl::allows(row, *user, Access::Read))
                .cloned();
            let options = FindOptions::from_params(query.as_object().unwrap().clone()).unwrap();
            let expected = options.run(visible);
            let mut body = query.as_object().unwrap().clone();
            body.insert("_method".into(), "GET".into());
            body.insert("_ApplicationId".into(), APP_ID.into());
            body.extend(credentials.as_object().unwrap().clone());
            let got = server.sdk("/classes/Mix", Value::Object(body));
            assert_eq!(got.status, 200, "{query} as {name}: {}", got.json);
            assert_eq!(got.json, expected, "{query} as {name}");
        }
    }
}

#[test]
fn user_finds_run_in_the_database_with_their_acls() {
    let server = Server::start();
    let (alice, alice_token) = server.signup("q-alice");
    let (bob, _) = server.signup("q-bob");
    let (carol, _) = server.signup("Q-Carol");
    // A user reads only itself by default; Carol opens up, Bob stays hidden.
    let public = server
        .put(&format!("/users/{carol}"))
        .master()
        .json(json!({"ACL": {"*": {"read": true}}}))
        .send();
    assert_eq!(public.status, 200, "{}", public.json);
    let hidden = server
        .put(&format!("/users/{bob}"))
        .master()
        .json(json!({"ACL": {bob.as_str(): {"read": true, "write": true}}, "age": 40}))
        .send();
    assert_eq!(hidden.status, 200, "{}", hidden.json);
    let names = |response: &Value| -> Vec<String> {
        response["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap().to_string())
            .collect()
    };
    let find = |query: Value, credentials: Value| {
        let mut body = query.as_object().unwrap().clone();
        body.insert("_method".into(), "GET".into());
        body.insert("_ApplicationId".into(), APP_ID.into());
        body.extend(credentials.as_object().unwrap().clone());
        let response = server.sdk("/users", Value::Object(body));
        assert_eq!(response.status, 200, "{}", response.json);
        response.json
    };
    let master = json!({"_MasterKey": MASTER_KEY});
    let as_alice = json!({"_SessionToken": alice_token});
    assert_eq!(
        names(&find(json!({"order": "username"}), master.clone())),
        ["Q-Carol", "q-alice", "q-bob"],
        "bytewise order, as Rust and the in-memory reference order strings"
    );
    assert_eq!(
        names(&find(json!({"order": "-username", "count": 1}), as_alice.clone())),
        ["q-alice", "Q-Carol"]
    );
    assert_eq!(find(json!({"count": 1, "limit": 0}), as_alice.clone())["count"], 2);
    assert_eq!(find(json!({"count": 1, "limit": 0}), master.clone())["count"], 3);
    assert_eq!(
        names(&find(json!({"where": {"username": {"$gte": "q"}}}), master.clone())),
        ["q-alice", "q-bob"]
    );
    assert_eq!(
        names(&find(json!({"where": {"age": {"$gt": 30}}}), master)),
        ["q-bob"]
    );
    assert_eq!(
        names(&find(json!({"where": {"objectId": carol}}), json!({}))),
        ["Q-Carol"]
    );
    assert_eq!(
        names(&find(json!({"where": {"objectId": alice}}), json!({}))),
        Vec::<String>::new(),
        "an ACL hides a row from a find that names it"
    );
    let no_secrets = find(json!({"where": {"password": {"$exists": true}}}), json!({}));
    assert_eq!(no_secrets["results"], json!([]), "no query reads a password hash");
}
