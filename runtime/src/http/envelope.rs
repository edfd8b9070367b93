//! The Parse request envelope. Credentials come from `X-Parse-*` headers or,
//! as the JS SDK sends them, from underscore fields of a `text/plain` JSON
//! body, whose `_method` also carries the real HTTP verb. This layer runs
//! before routing: it checks the app id and keys, rewrites the method, and
//! hands handlers a clean body plus [`Credentials`].

use axum::body::{Body, to_bytes};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::transport::ClientAddr;
use crate::auth::Credentials;
use crate::error::{Code, Error, Result};
use crate::{Core, secret_eq};

/// Body fields that belong to the envelope, never to the object.
const ENVELOPE_FIELDS: &[&str] = &[
    "_ApplicationId",
    "_JavaScriptKey",
    "_ClientKey",
    "_RestAPIKey",
    "_MasterKey",
    "_SessionToken",
    "_InstallationId",
    "_ClientVersion",
    "_context",
    "_ContentType",
    "_RevocableSession",
];

/// What the envelope layer hands to a handler.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub credentials: Credentials,
    /// The JSON body without envelope fields; for a plain `GET`, the query string.
    pub body: Value,
    /// True when `body` came from the URL's query string.
    pub from_url: bool,
    /// `X-Parse-Cloud-Context` / `_context`, for hooks.
    pub context: Option<Value>,
}

impl<S: Send + Sync> FromRequestParts<S> for Envelope {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self> {
        parts
            .extensions
            .remove::<Envelope>()
            .ok_or_else(|| Error::parse(Code::InternalServerError, "request envelope missing"))
    }
}

/// Middleware wrapping the whole router (it must see requests before routing).
pub async fn layer(State(core): State<Core>, request: Request, next: Next) -> Response {
    let mount = core.config.mount_path.as_str();
    let api_path = request.uri().path().strip_prefix(mount);
    let exempt = match api_path {
        None => true,
        Some(p) => p == "/health" || (!p.is_empty() && !p.starts_with('/')),
    };
    if exempt || request.method() == Method::OPTIONS {
        return next.run(request).await;
    }
    match open(&core, request).await {
        Ok(request) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}

async fn open(core: &Core, request: Request) -> Result<Request> {
    let (mut parts, body) = request.into_parts();
    let bytes = to_bytes(body, core.config.max_body_bytes)
        .await
        .map_err(|_| Error::BodyTooLarge)?;
    let mut body = if bytes.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .map_err(|_| Error::invalid_json("Invalid JSON in the request body."))?
    };
    let mut fields = match &mut body {
        Value::Object(map) => take_envelope_fields(map),
        _ => Map::new(),
    };
    if parts.method == Method::POST
        && let Some(method) = fields.remove("_method")
    {
        parts.method = override_method(&method)?;
    }
    let ip = parts
        .extensions
        .get::<ClientAddr>()
        .and_then(|ClientAddr(ip)| *ip);
    let credentials = authenticate(core, &parts.headers, &fields, ip)?;
    let context = context(&parts.headers, fields.remove("_context"))?;
    let from_url = body.is_null() && parts.method == Method::GET;
    if from_url {
        body = Value::Object(query_params(parts.uri.query()));
    }
    parts.extensions.insert(Envelope {
        credentials,
        body,
        from_url,
        context,
    });
    Ok(Request::from_parts(parts, Body::empty()))
}

fn take_envelope_fields(body: &mut Map<String, Value>) -> Map<String, Value> {
    let mut taken = Map::new();
    for key in ENVELOPE_FIELDS.iter().chain(&["_method"]) {
        if let Some(v) = body.remove(*key) {
            taken.insert(key.to_string(), v);
        }
    }
    taken
}

fn override_method(value: &Value) -> Result<Method> {
    match value.as_str().map(str::to_ascii_uppercase).as_deref() {
        Some("GET") => Ok(Method::GET),
        Some("POST") => Ok(Method::POST),
        Some("PUT") => Ok(Method::PUT),
        Some("DELETE") => Ok(Method::DELETE),
        _ => Err(Error::invalid_json("Invalid _method.")),
    }
}

/// A credential from its header, else from its body field. Present but not a
/// string (or not valid header text) is `Err`.
fn credential(
    headers: &HeaderMap,
    header: &str,
    fields: &Map<String, Value>,
    field: &str,
) -> Result<Option<String>, ()> {
    if let Some(value) = headers.get(header) {
        return value.to_str().map(|s| Some(s.to_string())).map_err(|_| ());
    }
    match fields.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(()),
    }
}

fn authenticate(
    core: &Core,
    headers: &HeaderMap,
    fields: &Map<String, Value>,
    ip: Option<std::net::IpAddr>,
) -> Result<Credentials> {
    let config = &core.config;
    let get = |header: &str, field: &str| {
        credential(headers, header, fields, field).map_err(|()| Error::Unauthorized)
    };

    let app_id = get("x-parse-application-id", "_ApplicationId")?;
    if !app_id.is_some_and(|id| secret_eq(&config.app_id, &id)) {
        return Err(Error::Unauthorized);
    }

    let master = match get("x-parse-master-key", "_MasterKey")? {
        None => false,
        Some(key) if secret_eq(&config.master_key, &key) => {
            if !ip.is_some_and(|ip| config.master_key_ips.iter().any(|net| net.contains(&ip))) {
                tracing::warn!(?ip, "master key refused: address not in master key IPs");
                return Err(Error::Unauthorized);
            }
            true
        }
        Some(_) => return Err(Error::Unauthorized),
    };

    if config.client_keys.required() && !master {
        let keys = [
            get("x-parse-javascript-key", "_JavaScriptKey")?,
            get("x-parse-rest-api-key", "_RestAPIKey")?,
            get("x-parse-client-key", "_ClientKey")?,
        ];
        if !keys.iter().flatten().any(|k| config.client_keys.accepts(k)) {
            return Err(Error::Unauthorized);
        }
    }

    let session_token = credential(headers, "x-parse-session-token", fields, "_SessionToken")
        .map_err(|()| Error::invalid_session())?
        .filter(|t| !t.is_empty());
    let installation_id =
        get("x-parse-installation-id", "_InstallationId")?.filter(|i| !i.is_empty());
    if installation_id.as_ref().is_some_and(|i| i.len() > 256) {
        return Err(Error::Unauthorized);
    }
    Ok(Credentials {
        master,
        session_token,
        installation_id,
        ip,
    })
}

fn context(headers: &HeaderMap, field: Option<Value>) -> Result<Option<Value>> {
    let invalid = || Error::invalid_json("Invalid object for context.");
    let value = match headers.get("x-parse-cloud-context") {
        Some(h) => Some(
            h.to_str()
                .ok()
                .and_then(|s| serde_json::from_str::<Value>(s).ok())
                .ok_or_else(invalid)?,
        ),
        None => field,
    };
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Object(_)) => Ok(Some(v)),
        Some(_) => Err(invalid()),
    }
}

fn query_params(query: Option<&str>) -> Map<String, Value> {
    query
        .map(|q| {
            url_decode_pairs(q)
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect()
        })
        .unwrap_or_default()
}

fn url_decode_pairs(query: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query).unwrap_or_default()
}
