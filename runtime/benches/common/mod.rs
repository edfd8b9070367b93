//! Seeding shared by the benchmarks.

use cloudcode_runtime::Core;
use cloudcode_runtime::auth::token::{self, MintedToken};
use cloudcode_runtime::service;
use cloudcode_runtime::store::UserRecord;
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
    core.store.create_user(&user, None).unwrap();
    let (session, minted) = service::sessions::new_session(
        core,
        &user_id,
        Some("bench".into()),
        json!({"action": "login"}),
    );
    core.store
        .create_session(&session, &minted.hash, None)
        .unwrap();
    (user_id, minted)
}

/// The example hook `examples/hello`, built for the sandbox (once; the
/// nested build is cached under the bench's target tmpdir).
#[allow(dead_code)] // not every bench loads it
pub fn hello_hook() -> cloudcode_runtime::sandbox::HookSource {
    use cloudcode_runtime::sandbox::guest_build;
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-hooks");
    let built = guest_build::build_packages(&workspace, &["hello-hook"], &target_dir)
        .unwrap_or_else(|e| panic!("{e}"));
    cloudcode_runtime::sandbox::HookSource {
        name: built[0].display().to_string(),
        bytes: std::fs::read(&built[0]).unwrap(),
    }
}
