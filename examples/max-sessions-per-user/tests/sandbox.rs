//! The hook inside the real sandbox, with the operator's settings.

use cloudcode_runtime::sandbox::HookSource;
use cloudcode_runtime::sandbox::HooksConfig;
use cloudcode_runtime::testkit::{TestKit, build_component};
use std::path::Path;

const FILE: &str = "max_sessions_per_user.wasm";

fn kit(config: &str) -> TestKit {
    let source = HookSource {
        name: FILE.into(),
        bytes: build_component(Path::new(env!("CARGO_MANIFEST_DIR"))),
    };
    TestKit::with_config(vec![source], HooksConfig::parse(config).unwrap()).unwrap()
}

const GRANTED_CAP_3: &str = r#"
    [hooks."max_sessions_per_user.wasm"]
    grant = ["sessions:read", "sessions:revoke", "log"]
    config = { max-sessions = 3 }
"#;

#[test]
fn a_fourth_login_revokes_the_oldest_session() {
    let kit = kit(GRANTED_CAP_3);
    let alice = kit.create_user("alice");
    let bob = kit.create_user("bob");
    let bobs = kit.log_in(&bob, "bob-phone");
    let mut devices = Vec::new();
    for device in ["phone", "laptop", "tablet", "watch", "tv"] {
        kit.clock().advance(1_000);
        devices.push(kit.log_in(&alice, device));
    }
    let alive: Vec<&str> = devices
        .iter()
        .filter(|d| kit.is_alive(&d.token))
        .map(|d| d.installation_id.as_str())
        .collect();
    assert_eq!(alive, ["tablet", "watch", "tv"]);
    assert!(
        kit.is_alive(&bobs.token),
        "another user's session is untouched"
    );
    let ended: Vec<(String, &str)> = kit
        .sessions_ended()
        .into_iter()
        .map(|e| (e.session_id, e.reason.as_str()))
        .collect();
    assert_eq!(
        ended,
        [
            (devices[0].object_id.clone(), "revoked-by-hook"),
            (devices[1].object_id.clone(), "revoked-by-hook"),
        ]
    );
    let logged: Vec<String> = kit.logs().into_iter().map(|l| l.message).collect();
    assert_eq!(logged.len(), 2, "{logged:?}");
    assert_eq!(logged[0], "kept the newest 3 sessions, revoked 1");
}

#[test]
fn without_a_setting_the_cap_is_five() {
    let kit = kit(r#"
        [hooks."max_sessions_per_user.wasm"]
        grant = ["sessions:read", "sessions:revoke"]
    "#);
    let alice = kit.create_user("alice");
    let devices: Vec<_> = (0..7)
        .map(|i| kit.log_in(&alice, &format!("d{i}")))
        .collect();
    let alive = devices.iter().filter(|d| kit.is_alive(&d.token)).count();
    assert_eq!(alive, 5);
}

#[test]
fn without_the_revoke_grant_it_fails_and_the_login_stands() {
    let kit = kit(r#"
        [hooks."max_sessions_per_user.wasm"]
        grant = ["sessions:read", "log"]
        config = { max-sessions = 1 }
    "#);
    let alice = kit.create_user("alice");
    let first = kit.log_in(&alice, "phone");
    let second = kit.log_in(&alice, "laptop");
    assert!(kit.is_alive(&first.token) && kit.is_alive(&second.token));
    let failures: Vec<String> = kit
        .fired()
        .into_iter()
        .filter(|f| f.trigger == "afterLogin")
        .flat_map(|f| f.failures)
        .collect();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(
        failures[0].contains("capability not granted: sessions:revoke"),
        "{failures:?}"
    );
}

#[test]
fn a_bad_setting_is_the_hooks_error_not_a_guess() {
    let kit = kit(r#"
        [hooks."max_sessions_per_user.wasm"]
        grant = ["sessions:read", "sessions:revoke"]
        config = { max-sessions = "three" }
    "#);
    let alice = kit.create_user("alice");
    kit.log_in(&alice, "phone");
    let fired = kit.fired();
    assert!(
        fired[0].failures[0].contains("Invalid config value \"max-sessions\""),
        "{fired:?}"
    );
}
