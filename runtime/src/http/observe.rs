//! Counts every response for the metrics. The outermost layer times the
//! request and reads the status it got; a layer on the routes tells it
//! which route served it (a template such as `/parse/users/{id}`, never the
//! path itself), with the method the envelope settled on.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};

use crate::Core;
use crate::metrics;

/// Where the route layer leaves the method and route that served a request.
#[derive(Clone, Default)]
struct Served(Arc<OnceLock<(axum::http::Method, MatchedPath)>>);

/// Outermost: times `serve` answering the request and counts it by method,
/// route and status (`unmatched` when no route served it, e.g. refused
/// before routing).
pub async fn requests(
    mut request: Request,
    serve: impl AsyncFnOnce(Request) -> Response,
) -> Response {
    let started = Instant::now();
    let served = Served::default();
    let method = request.method().clone();
    request.extensions_mut().insert(served.clone());
    let response = serve(request).await;
    let (method, route) = match served.0.get() {
        Some((method, route)) => (method.as_str(), route.as_str()),
        None => (method.as_str(), "unmatched"),
    };
    metrics::get().request(method, route, response.status().as_u16(), started.elapsed());
    response
}

/// On the routes: notes the one that matched. The first note stands, so a
/// batch is counted as the batch route, not as its last sub-request.
/// Synchronous, so it layers without boxing the route or its future.
pub fn route(request: Request) -> Request {
    let extensions = request.extensions();
    if let (Some(served), Some(path)) =
        (extensions.get::<Served>(), extensions.get::<MatchedPath>())
    {
        let _ = served.0.set((request.method().clone(), path.clone()));
    }
    request
}

/// `GET /metrics`: the registry, with the live sessions counted now.
pub async fn scrape(State(core): State<Core>) -> Response {
    let policy = core.config.session_policy;
    match core.store.count_live_sessions(&policy, core.now()).await {
        Ok(live) => {
            let live = i64::try_from(live).unwrap_or(i64::MAX);
            metrics::get().sessions_live.set(live);
        }
        Err(error) => tracing::warn!(%error, "metrics: cannot count the live sessions"),
    }
    ([(CONTENT_TYPE, metrics::CONTENT_TYPE)], metrics::render()).into_response()
}
