//! rotate-on-password-change inside the real sandbox.

use cloudcode_runtime::testkit::TestKit;
use serde_json::json;

fn kit() -> TestKit {
    TestKit::for_crate(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn own_password_change_rotates_the_callers_token_and_revokes_the_rest() {
    let kit = kit();
    let alice = kit.create_user("alice");
    let laptop = kit.log_in(&alice, "laptop");
    let phone = kit.log_in(&alice, "phone");
    let user = json!({"objectId": alice, "username": "alice"});

    let outcome = kit.after_save(
        &kit.caller(&laptop),
        "_User",
        user.clone(),
        Some(user),
        &["password"],
    );

    assert_eq!(kit.after_save_classes(), ["_User"]);
    assert_eq!(outcome.ran.len(), 1, "the trigger fired");
    assert_eq!(outcome.failures, Vec::<String>::new());
    let new_token = outcome.rotated_token.expect("a new token for the caller");
    assert_ne!(new_token, laptop.token);
    assert!(!kit.is_alive(&laptop.token), "the old token dies at once");
    assert!(kit.is_alive(&new_token));
    assert!(!kit.is_alive(&phone.token));
    let left = kit.sessions_of(&alice);
    assert_eq!(left.len(), 1);
    assert_eq!(
        left[0].object_id, laptop.object_id,
        "same session, new token"
    );
    assert_eq!(kit.after_save_failures(), 0);
}

#[test]
fn other_changes_and_signups_leave_sessions_alone() {
    let kit = kit();
    let alice = kit.create_user("alice");
    let laptop = kit.log_in(&alice, "laptop");
    let phone = kit.log_in(&alice, "phone");
    let user = json!({"objectId": alice});
    let caller = kit.caller(&laptop);

    let nickname = kit.after_save(
        &caller,
        "_User",
        user.clone(),
        Some(user.clone()),
        &["nickname"],
    );
    let signup = kit.after_save(&caller, "_User", user, None, &["username", "password"]);

    assert_eq!(nickname.rotated_token, None);
    assert_eq!(signup.rotated_token, None);
    assert!(kit.is_alive(&laptop.token) && kit.is_alive(&phone.token));
}

#[test]
fn master_key_password_change_revokes_everything() {
    let kit = kit();
    let alice = kit.create_user("alice");
    let sessions = [kit.log_in(&alice, "laptop"), kit.log_in(&alice, "phone")];
    let user = json!({"objectId": alice});

    let outcome = kit.after_save(
        &kit.master(),
        "_User",
        user.clone(),
        Some(user),
        &["password"],
    );

    assert_eq!(outcome.rotated_token, None);
    assert!(sessions.iter().all(|s| !kit.is_alive(&s.token)));
}

#[test]
fn a_change_to_someone_else_touches_nothing() {
    let kit = kit();
    let alice = kit.create_user("alice");
    let bob = kit.create_user("bob");
    let bobs = kit.log_in(&bob, "phone");
    let alices = kit.log_in(&alice, "laptop");
    let bob_user = json!({"objectId": bob});

    let outcome = kit.after_save(
        &kit.caller(&alices),
        "_User",
        bob_user.clone(),
        Some(bob_user),
        &["password"],
    );

    assert_eq!(outcome.rotated_token, None);
    assert!(kit.is_alive(&bobs.token) && kit.is_alive(&alices.token));
    assert_eq!(kit.after_save_failures(), 0);
}

/// What a misspelt class in a manifest looks like from a test: the save
/// runs no hook at all.
#[test]
fn saves_of_other_classes_run_nothing() {
    let kit = kit();
    let alice = kit.create_user("alice");
    let laptop = kit.log_in(&alice, "laptop");
    let user = json!({"objectId": alice});
    let outcome = kit.after_save(
        &kit.caller(&laptop),
        "_Users",
        user.clone(),
        Some(user),
        &["password"],
    );
    assert_eq!(outcome.ran, Vec::<String>::new());
    assert_eq!(outcome.rotated_token, None);
    assert!(kit.is_alive(&laptop.token));
}
