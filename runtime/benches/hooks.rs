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

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use serde_json::json;
use wasmtime::Engine;
use wasmtime::component::{Component, ComponentExportIndex, InstancePre, Linker};

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
    // Invocations are futures; the server awaits them on its runtime.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let caller = runtime
        .block_on(core.authenticate(Credentials {
            session_token: Some(minted.raw.clone()),
            ..Credentials::default()
        }))
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
            runtime.block_on(
                core.sandbox
                    .after_save(&core.port(), &(&caller).into(), &event),
            )
        })
    });
    let params = json!({"keepCurrent": true});
    group.bench_function("function_with_host_call", |b| {
        b.iter(|| {
            runtime
                .block_on(core.sandbox.call_function(
                    &core.port(),
                    &(&caller).into(),
                    "logoutFromAllDevices",
                    &params,
                ))
                .unwrap()
        })
    });
    // The case: the caller and two other devices logged in; two
    // sessions revoked, the caller's kept. Only the call is timed.
    group.bench_function("logout_from_all_devices_3_sessions", |b| {
        b.iter_batched(
            || {
                common::add_sessions(&core, &user_id, 2);
            },
            |()| {
                let revoked = runtime
                    .block_on(core.sandbox.call_function(
                        &core.port(),
                        &(&caller).into(),
                        "logoutFromAllDevices",
                        &params,
                    ))
                    .unwrap();
                assert_eq!(revoked, json!(2));
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("wasmtime_floor", |b| {
        let floor = Floor::new(core.sandbox.engine());
        b.iter(|| runtime.block_on(floor.instantiate_call_drop()))
    });
    group.finish();
    assert_eq!(core.sandbox.after_save_failures(), 0);
}

/// What wasmtime alone costs for one invocation on the sandbox's engine: a
/// bare store, a built-in component instantiated from an `InstancePre`,
/// its cheapest export (`manifest`) called, and dropped. The component is
/// `logoutFromAllDevices` as SDK 0.1 built it (`tests/fixtures`), whose
/// manifest is a string: the typed call needs no record type from the
/// bindings, and the code is the SDK's all the same. No WASI context,
/// limits, caller, slot or output capture: what the runtime adds is
/// `after_save_no_host_call` minus this.
struct Floor {
    pre: InstancePre<()>,
    manifest: ComponentExportIndex,
}

impl Floor {
    fn new(engine: &Engine) -> Self {
        const SDK_0_1_HOOK: &[u8] =
            include_bytes!("../../tests/fixtures/contract-0.1.0/logout-from-all-devices.wasm");
        let component = Component::new(engine, SDK_0_1_HOOK).unwrap();
        let mut linker = Linker::new(engine);
        // The manifest calls no import; every import may trap.
        linker.define_unknown_imports_as_traps(&component).unwrap();
        let hooks = component
            .get_export_index(None, "cloudcode:hooks/hooks@0.1.0")
            .unwrap();
        let manifest = component
            .get_export_index(Some(&hooks), "manifest")
            .unwrap();
        Floor {
            pre: linker.instantiate_pre(&component).unwrap(),
            manifest,
        }
    }

    async fn instantiate_call_drop(&self) -> String {
        let mut store = wasmtime::Store::new(self.pre.engine(), ());
        store.set_epoch_deadline(1_000_000);
        let instance = self.pre.instantiate_async(&mut store).await.unwrap();
        let manifest = instance
            .get_typed_func::<(), (String,)>(&mut store, &self.manifest)
            .unwrap();
        manifest.call_async(&mut store, ()).await.unwrap().0
    }
}

criterion_group!(benches, hook_invocation);
criterion_main!(benches);
