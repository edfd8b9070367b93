//! Whole requests through the HTTP stack (transport policy, CORS, envelope,
//! router, handler, store), without sockets: what one request costs the
//! server beyond the kernel's networking.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{Body, to_bytes};
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use cloudcode_runtime::Core;
use cloudcode_runtime::clock::SystemClock;
use cloudcode_runtime::config::Config;
use cloudcode_runtime::sandbox::Sandbox;
use cloudcode_runtime::store::Store;
use criterion::{Criterion, criterion_group, criterion_main};
use tower::ServiceExt;
mod common;

fn request(method: &str, path: &str, token: Option<&str>) -> Request<Body> {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("X-Parse-Application-Id", "cloudcode");
    if let Some(token) = token {
        builder = builder.header("X-Parse-Session-Token", token);
    }
    let mut request = builder.body(Body::empty()).unwrap();
    let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    request.extensions_mut().insert(ConnectInfo(peer));
    request
}

fn http(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        app_id: "cloudcode".into(),
        ..Config::in_memory_defaults()
    };
    let sandbox = Sandbox::new(config.sandbox.clone(), vec![common::hello_hook()]).unwrap();
    let store = Store::open(&dir.path().join("bench.db")).unwrap();
    let core = Core::new(store, config, Arc::new(SystemClock), sandbox);
    let (_, minted) = common::user_with_session(&core);
    let app = cloudcode_runtime::http::app(core);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let serve = |method: &'static str, path: &'static str, token: Option<&str>| {
        let response = runtime
            .block_on(app.clone().oneshot(request(method, path, token)))
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{method} {path}");
        runtime
            .block_on(to_bytes(response.into_body(), usize::MAX))
            .unwrap()
    };

    let mut group = c.benchmark_group("http");
    group.bench_function("health", |b| b.iter(|| serve("GET", "/parse/health", None)));
    group.bench_function("users_me", |b| {
        b.iter(|| serve("GET", "/parse/users/me", Some(&minted.raw)))
    });
    group.bench_function("functions_hello", |b| {
        b.iter(|| serve("POST", "/parse/functions/hello", None))
    });
    group.finish();
    std::fs::remove_dir_all(dir).ok();
}

criterion_group!(benches, http);
criterion_main!(benches);
