//! The session hot paths: minting, validating, and parsing the SDK envelope.

use std::sync::Arc;

use axum::http::Request;
use cloudcode_runtime::auth::Credentials;
use cloudcode_runtime::clock::{Clock, SystemClock};
use cloudcode_runtime::config::Config;
use cloudcode_runtime::http::envelope;
use cloudcode_runtime::store::Store;
use cloudcode_runtime::{Core, sandbox::Sandbox};
use cloudcode_runtime::{password, token};
mod common;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;

fn core_on_disk(dir: &std::path::Path) -> Core {
    let config = Config::in_memory_defaults();
    let store = Store::open(&dir.join("bench.db")).unwrap();
    let sandbox = Sandbox::new(config.sandbox.clone(), Vec::new()).unwrap();
    Core::new(store, config, Arc::new(SystemClock), sandbox)
}

fn sessions(c: &mut Criterion) {
    c.bench_function("token/mint_and_hash", |b| b.iter(token::mint));

    // A login is its password hash: ours (argon2-rust's fill) against the
    // argon2 crate's own fill at the same cost, in the same run.
    let mut group = c.benchmark_group("password");
    group.sample_size(20);
    group.bench_function("hash_argon2id_19mib", |b| {
        b.iter(|| password::hash("correct horse battery").unwrap())
    });
    let mut memory = vec![argon2::Block::default(); argon2::Params::DEFAULT_M_COST as usize];
    let mut out = [0u8; 32];
    group.bench_function("argon2_crate_fill_19mib", |b| {
        b.iter(|| {
            argon2::Argon2::default()
                .hash_password_into_with_memory(
                    b"correct horse battery",
                    b"sixteen byte slt",
                    &mut out,
                    &mut memory,
                )
                .unwrap()
        })
    });
    group.finish();

    let dir = tempfile::tempdir().unwrap();
    let core = core_on_disk(dir.path());
    let (_, minted) = common::user_with_session(&core);
    // Authentication is a future the server awaits in the handler; here on
    // a current-thread runtime, as the server's own path.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let credentials = Credentials {
        session_token: Some(minted.raw.clone()),
        ..Credentials::default()
    };
    let authenticate = || {
        runtime
            .block_on(core.authenticate(credentials.clone()))
            .unwrap()
    };
    c.bench_function("session/validate", |b| b.iter(authenticate));
    // The same after a commit (here: recording a use), so that the row is
    // read from SQLite rather than from the cache.
    let session_id = authenticate().session_id().unwrap().to_string();
    let last_use = std::cell::Cell::new(SystemClock.now());
    c.bench_function("session/validate_after_a_commit", |b| {
        b.iter_batched(
            || {
                last_use.set(last_use.get() + 1);
                runtime
                    .block_on(core.store.touch_session(&session_id, last_use.get()))
                    .unwrap();
                last_use.get()
            },
            |_| authenticate(),
            criterion::BatchSize::PerIteration,
        )
    });

    let body = json!({
        "where": {"score": {"$gt": 10}}, "limit": 100, "_method": "GET",
        "_ApplicationId": "cloudcode", "_ClientVersion": "js8.6.2",
        "_InstallationId": "3c1c7b2e-1d7e-4a55-9a3c-0c6a2f3b9d10", "_SessionToken": minted.raw,
    })
    .to_string();
    let config = Config {
        app_id: "cloudcode".into(),
        ..Config::in_memory_defaults()
    };
    c.bench_function("envelope/parse_sdk_body", |b| {
        b.iter(|| {
            let (mut parts, ()) = Request::post("/parse/classes/Score")
                .body(())
                .unwrap()
                .into_parts();
            envelope::parse(&config, &mut parts, body.as_bytes(), None).unwrap()
        })
    });
    std::fs::remove_dir_all(dir).ok();
}

criterion_group!(benches, sessions);
criterion_main!(benches);
