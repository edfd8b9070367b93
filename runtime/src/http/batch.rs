//! `POST /batch`: the sub-requests of the JS SDK's `saveAll` and
//! `destroyAll`, each routed through the same routes as a request of its
//! own, with the batch's credentials. The answer lists, in request order,
//! `{"success": <body>}` or `{"error": {"code", "error"}}`.

use axum::Json;
use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::Method;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tower::ServiceExt;

use super::Payload;
use crate::auth::Credentials;
use crate::error::{Error, Result};

/// Most sub-requests one batch may carry (the JS SDK sends 20 at a time).
pub const MAX_REQUESTS: usize = 100;
/// Largest sub-response read back (the body limit bounds what goes in).
const MAX_RESPONSE_BYTES: usize = 64 << 20;

/// What the batch route needs: the routes its sub-requests go through.
#[derive(Clone)]
pub struct Batch {
    pub routes: Router,
    pub mount_path: String,
}

#[derive(Deserialize)]
struct BatchBody {
    requests: Vec<SubRequest>,
    #[serde(default)]
    transaction: bool,
}

#[derive(Deserialize)]
struct SubRequest {
    method: String,
    path: String,
    #[serde(default)]
    body: Option<Map<String, Value>>,
}

pub async fn run(
    State(batch): State<Batch>,
    credentials: Credentials,
    payload: Payload,
) -> Result<Json<Value>> {
    let shape = Error::invalid_json;
    let BatchBody {
        requests,
        transaction,
    } = serde_json::from_value(payload.body).map_err(|e| shape(format!("bad batch: {e}")))?;
    if transaction {
        return Err(Error::forbidden("transactional batches are not supported"));
    }
    if requests.len() > MAX_REQUESTS {
        return Err(shape(format!(
            "a batch holds at most {MAX_REQUESTS} requests"
        )));
    }
    let mut routed = Vec::with_capacity(requests.len());
    for sub in requests {
        let method = Method::from_bytes(sub.method.to_ascii_uppercase().as_bytes())
            .map_err(|_| shape(format!("bad batch method {:?}", sub.method)))?;
        let unroutable = || shape(format!("cannot route batch path {}", sub.path));
        let api_path = sub.path.strip_prefix(batch.mount_path.as_str());
        let routable = api_path.is_some_and(|p| p.starts_with('/') && p != "/batch");
        if !routable || sub.path.contains(['?', '#']) {
            return Err(unroutable());
        }
        let mut request = Request::builder()
            .method(method)
            .uri(&sub.path)
            .body(Body::empty())
            .map_err(|_| unroutable())?;
        request.extensions_mut().insert(credentials.clone());
        request.extensions_mut().insert(Payload {
            body: Value::Object(sub.body.unwrap_or_default()),
            from_url: false,
            context: payload.context.clone(),
        });
        routed.push(request);
    }
    // One after another, in order: later requests may depend on earlier ones.
    let mut results = Vec::with_capacity(routed.len());
    for request in routed {
        let Ok(response) = batch.routes.clone().oneshot(request).await;
        let success = response.status().is_success();
        let body = to_bytes(response.into_body(), MAX_RESPONSE_BYTES)
            .await
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or(Value::Null);
        results.push(if success {
            json!({ "success": body })
        } else {
            json!({ "error": body })
        });
    }
    Ok(Json(Value::Array(results)))
}
