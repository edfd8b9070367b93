//! Seeding shared by the benchmarks.

use cloudcode_runtime::Core;
use cloudcode_runtime::sandbox::block_on;
use cloudcode_runtime::service;
use cloudcode_runtime::store::{Trail, UserRecord};
use cloudcode_runtime::token::{self, MintedToken};
use serde_json::json;

/// The allocator the `cloudcode` binary uses, so the figures match it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Creates a user with one session; returns the user id and the session's token.
pub fn user_with_session(core: &Core) -> (String, MintedToken) {
    let user_id = token::object_id();
    let user = UserRecord {
        object_id: user_id.clone(),
        username: format!("bench-{user_id}"),
        email: None,
        password_hash: None,
        fields: Default::default(),
        created_at: 0,
        updated_at: 0,
    };
    block_on(core.store.create_user(&user, None, Trail::new(0, None))).unwrap();
    let minted = add_session(core, &user_id);
    (user_id, minted)
}

/// Logs the user in on `count` more devices (a session per installation).
#[allow(dead_code)] // not every bench needs more than one session
pub fn add_sessions(core: &Core, user_id: &str, count: usize) {
    for _ in 0..count {
        add_session(core, user_id);
    }
}

fn add_session(core: &Core, user_id: &str) -> MintedToken {
    let (session, minted) = service::sessions::new_session(
        core,
        user_id,
        Some(format!("bench-device-{}", token::object_id())),
        json!({"action": "login"}),
    );
    let trail = Trail::new(0, None);
    block_on(
        core.store
            .create_session(&session, &minted.hash, None, trail),
    )
    .unwrap();
    minted
}

/// The example hook `examples/hello`, built for the sandbox as hook tests
/// build theirs.
#[allow(dead_code)] // not every bench loads it
pub fn hello_hook() -> cloudcode_runtime::sandbox::HookSource {
    let crate_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello");
    cloudcode_runtime::sandbox::HookSource {
        name: "hello_hook.wasm".into(),
        bytes: cloudcode_runtime::testkit::build_component(&crate_dir),
    }
}
