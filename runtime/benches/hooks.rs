//! One hook invocation through the real runtime path: a fresh instance from
//! the cached pre-instantiation, the call (with or without host calls), drop.

use std::sync::Arc;

use cloudcode_runtime::Core;
use cloudcode_runtime::auth::Credentials;
use cloudcode_runtime::clock::SystemClock;
use cloudcode_runtime::config::Config;
use cloudcode_runtime::sandbox::{Sandbox, SaveEvent, builtin_sources};
use cloudcode_runtime::store::Store;
mod common;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;

fn core() -> Core {
    let config = Config::in_memory_defaults();
    let sandbox =
        Sandbox::new(config.sandbox.clone(), builtin_sources()).expect("built-in hooks load");
    Core::new(
        Store::in_memory().unwrap(),
        config,
        Arc::new(SystemClock),
        sandbox,
    )
}

fn hook_invocation(c: &mut Criterion) {
    let core = core();
    let (user_id, minted) = common::user_with_session(&core);
    let caller = core
        .caller(&Credentials {
            session_token: Some(minted.raw.clone()),
            ..Credentials::default()
        })
        .unwrap();

    // Invocations are futures; the server awaits them on its runtime.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let object = json!({"objectId": user_id, "username": "bench"});
    let mut group = c.benchmark_group("hook");
    group.bench_function("after_save_no_host_call", |b| {
        b.iter(|| {
            let event = SaveEvent {
                class_name: "_User",
                object: &object,
                original: Some(&object),
                changed: vec!["nickname".into()],
            };
            runtime.block_on(core.sandbox.after_save(&core, &caller, &event))
        })
    });
    let params = json!({"keepCurrent": true});
    group.bench_function("function_with_host_call", |b| {
        b.iter(|| {
            runtime
                .block_on(core.sandbox.call_function(
                    &core,
                    &caller,
                    "logoutFromAllDevices",
                    &params,
                ))
                .unwrap()
        })
    });
    group.finish();
    assert_eq!(core.sandbox.after_save_failures(), 0);
}

criterion_group!(benches, hook_invocation);
criterion_main!(benches);
