//! logoutFromAllDevices inside the real sandbox.

use cloudcode_runtime::testkit::TestKit;
use logout_from_all_devices::FUNCTION;
use serde_json::json;

fn kit() -> TestKit {
    TestKit::for_crate(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn revokes_every_device_of_the_caller_and_no_one_else() {
    let kit = kit();
    let alice = kit.create_user("alice");
    let bob = kit.create_user("bob");
    let devices: Vec<_> = ["phone", "laptop", "tablet"]
        .iter()
        .map(|d| kit.log_in(&alice, d))
        .collect();
    let bobs = kit.log_in(&bob, "phone");

    let result = kit
        .call_function(&kit.caller(&devices[0]), FUNCTION, json!({}))
        .unwrap();

    assert_eq!(result, json!(3));
    assert!(devices.iter().all(|d| !kit.is_alive(&d.token)));
    assert!(kit.sessions_of(&alice).is_empty());
    assert!(
        kit.is_alive(&bobs.token),
        "another user's session is untouched"
    );
}

#[test]
fn keep_current_keeps_the_calling_device() {
    let kit = kit();
    let alice = kit.create_user("alice");
    let phone = kit.log_in(&alice, "phone");
    let laptop = kit.log_in(&alice, "laptop");

    let result = kit
        .call_function(&kit.caller(&phone), FUNCTION, json!({"keepCurrent": true}))
        .unwrap();

    assert_eq!(result, json!(1));
    assert!(kit.is_alive(&phone.token));
    assert!(!kit.is_alive(&laptop.token));
}

#[test]
fn needs_a_logged_in_user() {
    let kit = kit();
    for caller in [kit.anonymous(), kit.master()] {
        let err = kit.call_function(&caller, FUNCTION, json!({})).unwrap_err();
        assert_eq!(err.code(), Some(209));
    }
}

#[test]
fn rejects_malformed_parameters() {
    let kit = kit();
    let alice = kit.create_user("alice");
    let phone = kit.log_in(&alice, "phone");
    let err = kit
        .call_function(&kit.caller(&phone), FUNCTION, json!({"keepCurrent": "yes"}))
        .unwrap_err();
    assert_eq!(err.code(), Some(142));
    assert!(kit.is_alive(&phone.token), "nothing was revoked");
}

#[test]
fn counts_only_sessions_still_alive() {
    let kit = kit();
    let alice = kit.create_user("alice");
    let old = kit.log_in(&alice, "old-phone");
    kit.clock().advance(kit.policy().idle_timeout - 1000);
    let fresh = kit.log_in(&alice, "new-phone");
    kit.clock().advance(2000);
    assert!(
        !kit.is_alive(&old.token),
        "idle for longer than the timeout"
    );
    let result = kit
        .call_function(&kit.caller(&fresh), FUNCTION, json!({}))
        .unwrap();
    assert_eq!(result, json!(1), "the idle session was already dead");
    assert!(kit.sessions_of(&alice).is_empty());
}
