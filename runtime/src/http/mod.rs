//! HTTP: the router, the Parse envelope, and thin handlers that extract a
//! request's parts and delegate to [`crate::service`].

mod batch;
mod classes;
mod dashboard;
pub mod envelope;
mod error;
mod functions;
mod observe;
mod sessions;
mod transport;
mod users;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, get, post};
use axum::{Extension, Json, Router};
use serde_json::json;
use tower::Layer;
use tower_http::cors::{Any, CorsLayer};

pub use envelope::{Envelope, Me, Payload};

use self::classes::Named;
use crate::Core;
use crate::error::{Code, Error};

/// The complete HTTP service: the request metrics, the transport policy
/// (HTTPS, client address, security headers), CORS, the envelope (before
/// routing, since the SDK's `_method` decides the route), then the router.
pub fn app(
    core: Core,
) -> impl tower::Service<
    Request,
    Response = axum::response::Response,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone
+ Send
+ 'static {
    let edge = axum::middleware::from_fn_with_state(core.clone(), edge);
    let envelope = axum::middleware::from_fn_with_state(core.clone(), envelope::layer);
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods(Any)
        .allow_headers(Any)
        .max_age(std::time::Duration::from_secs(86_400))
        // No `Vary`: with any origin allowed, every answer is the same
        // whatever the request's origin (as Parse Server's). The default
        // list would also be built and checked again on every request.
        .vary([]);
    edge.layer(cors.layer(envelope.layer(router(core))))
}

/// The outermost middleware: the request metrics around the transport
/// policy. One middleware, not two: each one clones and boxes everything
/// inside it on every request.
async fn edge(State(core): State<Core>, request: Request, next: Next) -> axum::response::Response {
    observe::requests(request, async |request| {
        transport::layer(&core, request, next).await
    })
    .await
}

/// The metrics service for `--metrics-addr`: `GET /metrics` and nothing
/// else, apart from the API (its own address, no keys).
pub fn metrics_app(core: Core) -> Router {
    Router::new()
        .route("/metrics", get(observe::scrape))
        .with_state(core)
}

fn router(core: Core) -> Router {
    // Every route carries the mount path itself: a nested router would
    // strip and rebuild the path of every request.
    let mount = core.config.mount_path.clone();
    let at = |path: &str| format!("{mount}{path}");
    let app = Router::new()
        .route(&at("/health"), get(health))
        .route(&at("/users"), collection(Named("_User")))
        .route(&at("/users/me"), get(users::me))
        .route(&at("/users/{id}"), object(Named("_User")))
        .route(&at("/login"), post(users::login).get(users::login))
        .route(&at("/logout"), post(users::logout))
        .route(&at("/sessions"), collection(Named("_Session")))
        .route(&at("/sessions/me"), get(sessions::me))
        .route(&at("/sessions/audit"), get(sessions::audit))
        .route(&at("/sessions/{id}"), object(Named("_Session")))
        .route(
            &at("/functions/{name}"),
            post(functions::call).get(functions::call),
        )
        .route(&at("/cloudcode/hooks"), get(functions::hooks))
        .route(&at("/serverInfo"), get(dashboard::server_info))
        .route(&at("/config"), get(dashboard::config))
        .route(&at("/schemas"), get(dashboard::all))
        .route(&at("/schemas/"), get(dashboard::all))
        .route(
            &at("/schemas/{class}"),
            get(dashboard::one)
                .post(dashboard::create)
                .put(dashboard::update)
                .delete(dashboard::drop),
        )
        .route(
            &at("/purge/{class}"),
            axum::routing::delete(dashboard::purge),
        )
        .route(&at("/releases/latest"), get(dashboard::release))
        .route(&at("/scripts/{*file}"), get(dashboard::script))
        .route(&at("/classes/{class}"), collection_routes())
        .route(&at("/classes/{class}/{id}"), object_routes())
        .method_not_allowed_fallback(method_not_allowed);
    let routes = app.fallback(unknown_route).with_state(core);
    // A batch's sub-requests go through the same routes (not through the
    // batch route: batches do not nest), after the batch's envelope.
    let batch = batch::Batch {
        routes: routes.clone(),
        mount_path: mount.clone(),
    };
    routes
        .route(
            &at("/batch"),
            post(batch::run)
                .fallback(method_not_allowed)
                .with_state(batch),
        )
        .route_layer(tower::util::MapRequestLayer::new(observe::route))
}

fn collection_routes() -> MethodRouter<Core> {
    get(classes::find).post(classes::create)
}

fn object_routes() -> MethodRouter<Core> {
    get(classes::get)
        .put(classes::update)
        .delete(classes::delete)
}

/// `/users` and `/sessions`: `/classes/_User` and `/classes/_Session`.
fn collection(class: Named) -> MethodRouter<Core> {
    collection_routes().layer(Extension(class))
}

/// `/users/{id}` and `/sessions/{id}`: the same by-id routes as `/classes`.
fn object(class: Named) -> MethodRouter<Core> {
    object_routes().layer(Extension(class))
}

async fn health(State(_): State<Core>) -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

async fn unknown_route(request: Request) -> Error {
    Error::parse(
        Code::ObjectNotFound,
        format!(
            "Unknown route: {} {}",
            request.method(),
            request.uri().path()
        ),
    )
}

async fn method_not_allowed(request: Request) -> Error {
    Error::MethodNotAllowed {
        method: request.method().to_string(),
        path: request.uri().path().to_string(),
    }
}
