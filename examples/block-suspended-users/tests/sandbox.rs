//! The hook inside the real sandbox.

use cloudcode_runtime::testkit::TestKit;
use serde_json::json;

#[test]
fn a_suspended_user_cannot_log_in_and_gets_told_why() {
    let kit = TestKit::for_crate(env!("CARGO_MANIFEST_DIR"));
    let mallory = kit.create_user_with("mallory", json!({"suspended": true}));
    let error = kit.try_log_in(&mallory, "phone").unwrap_err();
    assert_eq!(error.code(), Some(101));
    assert_eq!(error.to_string(), "This account is suspended.");
    assert!(kit.sessions_of(&mallory).is_empty(), "no session began");
}

#[test]
fn everyone_else_logs_in() {
    let kit = TestKit::for_crate(env!("CARGO_MANIFEST_DIR"));
    for (name, fields) in [
        ("alice", json!({})),
        ("bob", json!({"suspended": false})),
        ("carol", json!({"suspended": "true"})),
    ] {
        let user = kit.create_user_with(name, fields);
        let session = kit.try_log_in(&user, "phone").unwrap();
        assert!(kit.is_alive(&session.token), "{name}");
    }
}
