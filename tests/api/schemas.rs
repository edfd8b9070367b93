//! `/serverInfo`, `/schemas` and `/purge`: the class administration Parse
//! Dashboard is built on.

use serde_json::{Value, json};

use crate::harness::Server;

fn schema(srv: &Server, class: &str) -> Value {
    let r = srv.get(&format!("/schemas/{class}")).master().send();
    assert_eq!(r.status, 200, "{}", r.json);
    r.json
}

fn classes(srv: &Server) -> Vec<String> {
    let r = srv.get("/schemas").master().send();
    assert_eq!(r.status, 200, "{}", r.json);
    r.json["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["className"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn server_info_names_a_version_and_only_the_features_served() {
    let srv = Server::start();
    srv.get("/serverInfo").send().assert_error(400, 119);
    let info = srv.get("/serverInfo").master().send().json;
    let version = info["parseServerVersion"].as_str().unwrap();
    assert!(version.starts_with("9.10.0-cloudcode."), "{version}");
    let features = &info["features"];
    for granted in ["addField", "removeField", "addClass", "removeClass", "clearAllDataFromClass"] {
        assert_eq!(features["schemas"][granted], true, "{granted}");
    }
    assert_eq!(features["push"]["immediatePush"], false);
    assert_eq!(features["cloudCode"]["jobs"], false);
    assert_eq!(features["hooks"]["create"], false);
}

#[test]
fn schemas_show_built_in_declared_and_stored_fields() {
    let srv = Server::start();
    let (alice, _) = srv.signup("alice");
    srv.get("/schemas").send().assert_error(400, 119);
    srv.post("/classes/Note")
        .master()
        .json(json!({
            "title": "a", "stars": 3, "done": false, "tags": ["x"],
            "when": {"__type": "Date", "iso": "2020-01-01T00:00:00.000Z"},
            "owner": {"__type": "Pointer", "className": "_User", "objectId": alice},
            "meta": {"k": 1}, "nothing": null,
        }))
        .send();
    assert_eq!(classes(&srv), ["Note", "_Session", "_User"]);
    let note = schema(&srv, "Note");
    let fields = &note["fields"];
    let expected = [
        ("objectId", json!({"type": "String"})),
        ("createdAt", json!({"type": "Date"})),
        ("ACL", json!({"type": "ACL"})),
        ("title", json!({"type": "String"})),
        ("stars", json!({"type": "Number"})),
        ("done", json!({"type": "Boolean"})),
        ("tags", json!({"type": "Array"})),
        ("when", json!({"type": "Date"})),
        ("owner", json!({"type": "Pointer", "targetClass": "_User"})),
        ("meta", json!({"type": "Object"})),
    ];
    for (field, kind) in expected {
        assert_eq!(fields[field], kind, "{field}: {note}");
    }
    assert!(fields.get("nothing").is_none(), "a null has no type: {note}");
    let user = schema(&srv, "_User");
    assert_eq!(user["fields"]["username"], json!({"type": "String"}));
    assert!(user["fields"].get("sessionToken").is_none());
    assert_eq!(
        schema(&srv, "_Session")["fields"]["user"],
        json!({"type": "Pointer", "targetClass": "_User"})
    );
    srv.get("/schemas/Nope")
        .master()
        .send()
        .assert_error(400, 103);
}

#[test]
fn classes_are_declared_changed_and_dropped() {
    let srv = Server::start();
    let created = srv
        .post("/schemas/Todo")
        .master()
        .json(json!({"className": "Todo", "fields": {
            "done": {"type": "Boolean"},
            "owner": {"type": "Pointer", "targetClass": "_User"},
        }}))
        .send();
    assert_eq!(created.status, 200, "{}", created.json);
    assert_eq!(created.json["fields"]["done"], json!({"type": "Boolean"}));
    assert!(classes(&srv).contains(&"Todo".to_string()), "declared, no objects yet");
    let refused = [
        (json!({"fields": {}}), "Todo", 103),
        (json!({"fields": {}}), "_User", 103),
        (json!({"fields": {}}), "9lives", 103),
        (json!({"fields": {"x": {"type": "Color"}}}), "Other", 111),
        (json!({"fields": {"x": {"type": "Pointer", "targetClass": "no way"}}}), "Other", 103),
        (json!({"fields": {"createdAt": {"type": "String"}}}), "Other", 136),
        (json!({"fields": {"bad-name": {"type": "String"}}}), "Other", 105),
        (json!({"className": "Else"}), "Other", 103),
    ];
    for (body, class, code) in refused {
        srv.post(&format!("/schemas/{class}"))
            .master()
            .json(body.clone())
            .send()
            .assert_error(400, code);
    }
    assert!(!classes(&srv).contains(&"Other".to_string()));

    // A field added, one removed with its values.
    srv.post("/classes/Todo")
        .master()
        .json(json!({"title": "write", "done": true}))
        .send();
    let changed = srv
        .put("/schemas/Todo")
        .master()
        .json(json!({"fields": {
            "title": {"__op": "Delete"},
            "due": {"type": "Date"},
        }}))
        .send();
    assert_eq!(changed.status, 200, "{}", changed.json);
    let fields = &schema(&srv, "Todo")["fields"];
    assert_eq!(fields["due"], json!({"type": "Date"}));
    assert!(fields.get("title").is_none(), "{fields}");
    let todos = srv.get("/classes/Todo").master().send().json;
    assert_eq!(todos["results"][0]["done"], true);
    assert!(todos["results"][0].get("title").is_none(), "{todos}");
    for (body, code) in [
        (json!({"fields": {"due": {"type": "Date"}}}), 255),
        (json!({"fields": {"never": {"__op": "Delete"}}}), 255),
        (json!({"fields": {"objectId": {"__op": "Delete"}}}), 136),
    ] {
        srv.put("/schemas/Todo")
            .master()
            .json(body)
            .send()
            .assert_error(400, code);
    }
    srv.put("/schemas/Nope")
        .master()
        .json(json!({"fields": {}}))
        .send()
        .assert_error(400, 103);

    // Dropped only when empty; purged first.
    srv.delete("/schemas/Todo").master().send().assert_error(400, 255);
    srv.delete("/purge/Todo").master().send();
    let left = srv.get("/classes/Todo").master().send().json;
    assert_eq!(left["results"], json!([]));
    let dropped = srv.delete("/schemas/Todo").master().send();
    assert_eq!(dropped.status, 200, "{}", dropped.json);
    assert!(!classes(&srv).contains(&"Todo".to_string()));
}

#[test]
fn users_and_sessions_are_never_dropped_or_purged_in_bulk() {
    let srv = Server::start();
    let (_, token) = srv.signup("kept");
    srv.delete("/purge/_User").master().send().assert_error(400, 119);
    srv.delete("/purge/_Session").master().send().assert_error(400, 119);
    srv.delete("/schemas/_User").master().send().assert_error(400, 119);
    srv.delete("/purge/Note").send().assert_error(400, 119);
    assert_eq!(srv.me_status(&token), 200);
}

#[test]
fn a_user_field_removed_through_the_schema_leaves_every_user() {
    let srv = Server::start();
    let (id, token) = srv.signup("nick");
    srv.put(&format!("/users/{id}"))
        .token(&token)
        .json(json!({"nickname": "N"}))
        .send();
    assert_eq!(
        schema(&srv, "_User")["fields"]["nickname"],
        json!({"type": "String"})
    );
    srv.put("/schemas/_User")
        .master()
        .json(json!({"fields": {"nickname": {"__op": "Delete"}}}))
        .send();
    let me = srv.get("/users/me").token(&token).send().json;
    assert!(me.get("nickname").is_none(), "{me}");
    srv.put("/schemas/_User")
        .master()
        .json(json!({"fields": {"username": {"__op": "Delete"}}}))
        .send()
        .assert_error(400, 136);
}

#[test]
fn the_loaded_hooks_are_listed_as_a_release_and_config_is_empty() {
    let srv = Server::start();
    srv.get("/releases/latest").send().assert_error(400, 119);
    let release = srv.get("/releases/latest").master().send();
    assert_eq!(release.status, 200, "{}", release.json);
    let checksums: serde_json::Map<String, Value> =
        serde_json::from_str(release.json[0]["checksums"].as_str().unwrap()).unwrap();
    let files: Vec<&String> = checksums.keys().collect();
    assert_eq!(
        files,
        [
            "builtin:logout-from-all-devices/logoutFromAllDevices",
            "builtin:rotate-on-password-change/afterSave _User",
        ]
    );
    let sha = checksums["builtin:logout-from-all-devices/logoutFromAllDevices"]
        .as_str()
        .unwrap();
    assert_eq!(sha.len(), 64, "a SHA-256 in hex: {sha}");
    let script = srv
        .get("/scripts/builtin:logout-from-all-devices/logoutFromAllDevices")
        .master()
        .send();
    let text = script.json.as_str().unwrap();
    assert!(text.contains("Cloud functions: logoutFromAllDevices"), "{text}");
    assert!(text.contains(sha), "{text}");
    srv.get("/scripts/nope").master().send().assert_error(404, 101);

    let config = srv.get("/config").send();
    assert_eq!(config.json, json!({"params": {}, "masterKeyOnly": {}}));
}

#[test]
fn hostile_schema_requests_get_parse_errors() {
    let srv = Server::start();
    for (body, code) in [
        (json!({"fields": "done"}), 111),
        (json!({"fields": {"x".repeat(10_000): {"type": "String"}}}), 105),
        (json!({"fields": {"x": "String"}}), 111),
        (json!({"fields": {"x": {"type": "Pointer"}}}), 103),
    ] {
        srv.post("/schemas/Hostile")
            .master()
            .json(body)
            .send()
            .assert_error(400, code);
    }
    srv.post("/schemas/Hostile")
        .master()
        .raw(b"{\"fields\": {")
        .send()
        .assert_error(400, 107);
    let long = "A".repeat(10_000);
    srv.get(&format!("/schemas/{long}"))
        .master()
        .send()
        .assert_error(400, 103);
    srv.get(&format!("/scripts/{long}"))
        .master()
        .send()
        .assert_error(404, 101);
    // A logged-out token is refused before any of it.
    let (_, token) = srv.signup("gone");
    srv.post("/logout").token(&token).send();
    srv.get("/schemas").token(&token).send().assert_error(400, 209);
    assert_eq!(classes(&srv), ["_Session", "_User"]);
}

#[test]
fn a_class_declared_by_racing_requests_is_declared_once() {
    let srv = Server::start();
    let srv = &srv;
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let racers: Vec<_> = (0..8)
            .map(|i| {
                s.spawn(move || {
                    srv.post("/schemas/Race")
                        .master()
                        .json(json!({"fields": {format!("f{i}"): {"type": "String"}}}))
                        .send()
                        .status
                })
            })
            .collect();
        racers.into_iter().map(|r| r.join().unwrap()).collect()
    });
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| matches!(s, 200 | 400)), "{statuses:?}");
    let fields = schema(srv, "Race")["fields"].as_object().unwrap().clone();
    let declared: Vec<_> = fields.keys().filter(|k| k.starts_with('f')).collect();
    assert_eq!(declared.len(), 1, "the winner's field only: {fields:?}");
}
