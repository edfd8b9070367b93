//! The example's tests run the hook inside the real sandbox.

use cloudcode_runtime::testkit::TestKit;
use serde_json::json;

#[test]
fn hello_world() {
    let kit = TestKit::for_crate(env!("CARGO_MANIFEST_DIR"));
    let anyone = kit.anonymous();
    assert_eq!(
        kit.call_function(&anyone, "hello", json!({})).unwrap(),
        json!({"hello": "world"})
    );
    assert_eq!(
        kit.call_function(&anyone, "hello", json!({"name": "Ada"}))
            .unwrap(),
        json!({"hello": "Ada"})
    );
}

#[test]
fn my_sessions_lists_the_callers_devices_without_tokens() {
    let kit = TestKit::for_crate(env!("CARGO_MANIFEST_DIR"));
    let alice = kit.create_user("alice");
    let phone = kit.log_in(&alice, "phone");
    let laptop = kit.log_in(&alice, "laptop");
    let bob = kit.create_user("bob");
    kit.log_in(&bob, "phone");

    let caller = kit.caller(&phone);
    assert_eq!(caller.installation_id.as_deref(), Some("phone"));
    let listed = kit.call_function(&caller, "mySessions", json!({})).unwrap();

    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2);
    let current: Vec<_> = listed.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["installationId"], "phone");
    let text = serde_json::to_string(listed).unwrap();
    assert!(!text.contains(&phone.token) && !text.contains(&laptop.token));
    let logged: Vec<_> = kit
        .logs()
        .into_iter()
        .map(|l| (l.level, l.message))
        .collect();
    assert_eq!(
        logged,
        [("info".to_string(), "listed 2 sessions".to_string())]
    );
}

#[test]
fn my_sessions_needs_a_user() {
    let kit = TestKit::for_crate(env!("CARGO_MANIFEST_DIR"));
    let err = kit
        .call_function(&kit.anonymous(), "mySessions", json!({}))
        .unwrap_err();
    assert_eq!(err.code(), Some(209));
}
