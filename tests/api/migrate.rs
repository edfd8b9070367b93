//! `cloudcode migrate`: a SQLite data directory moved into PostgreSQL, with
//! nothing lost and no one logged out.

use std::process::Command;

use serde_json::json;

use crate::harness::{Server, new_postgres_database, on_postgres};

fn migrate(from: &str, to: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cloudcode"))
        .args(["migrate", "--from", from, "--to", to])
        .output()
        .expect("run cloudcode migrate")
}

#[test]
fn a_sqlite_database_moves_into_postgres_with_its_sessions_alive() {
    if !on_postgres() {
        eprintln!("skipped: runs in the PostgreSQL suite (api_postgres)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let from = format!("sqlite:{}", dir.path().join("old.db").display());
    let mut old = Server::start_with(&["--database-uri", &from]);
    let (alice, signup_token) = old.signup("alice");
    let changed = old
        .put(&format!("/users/{alice}"))
        .token(&signup_token)
        .json(json!({"password": "pw-alice-2"}))
        .send();
    changed.assert_ok();
    let alice_token = changed.str("sessionToken");
    old.signup("bob");
    let bob_phone = old.login("bob", "phone");
    let bob_laptop = old.login("bob", "laptop");
    old.post("/logout").token(&bob_laptop).send().assert_ok();
    let note = old
        .post("/classes/Note")
        .token(&bob_phone)
        .json(json!({"text": "kept", "ACL": {"*": {"read": true}}}))
        .send();
    let note_id = note.str("objectId");
    old.post("/schemas/Todo")
        .master()
        .json(json!({"fields": {"done": {"type": "Boolean"}}}))
        .send()
        .assert_ok();
    let trail = old.get("/sessions/audit").master().send();
    trail.assert_ok();
    let events = trail.json["results"].as_array().unwrap().len();
    old.kill();

    let to = new_postgres_database();
    let copied = migrate(&from, &to);
    let said = String::from_utf8_lossy(&copied.stdout);
    assert!(
        copied.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&copied.stderr)
    );
    assert!(said.contains("2 users"), "{said}");
    assert!(said.contains("1 declared classes"), "{said}");
    assert!(!said.contains("test-master-key"), "{said}");

    let new = Server::start_with(&["--database-uri", &to]);
    assert_eq!(new.me_status(&alice_token), 200, "sessions keep working");
    assert_eq!(new.me_status(&bob_phone), 200);
    assert_eq!(new.me_status(&signup_token), 400, "rotated out stays out");
    assert_eq!(new.me_status(&bob_laptop), 400, "logged out stays out");
    new.login_with("alice", "pw-alice-2", "new-phone");
    let fetched = new.get(&format!("/classes/Note/{note_id}")).send();
    assert_eq!(fetched.str("text"), "kept");
    let todo = new.get("/schemas/Todo").master().send();
    assert_eq!(
        todo.json["fields"]["done"],
        json!({"type": "Boolean"}),
        "a declared class with no objects moved too"
    );
    let trail = new.get("/sessions/audit").master().send();
    assert_eq!(
        trail.json["results"].as_array().unwrap().len(),
        events + 1,
        "the trail moved, and goes on (the new login)"
    );

    let again = migrate(&from, &to);
    assert!(!again.status.success(), "a second copy is refused");
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("not empty"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}
