//! The Parse request envelope. Credentials come from `X-Parse-*` headers or,
//! as the JS SDK sends them, from underscore fields of a `text/plain` JSON
//! body, whose `_method` also carries the real HTTP verb. This layer runs
//! before routing: it checks the app id and keys, rewrites the method, and
//! hands handlers a clean body plus [`Credentials`].

use std::net::IpAddr;

use axum::body::{Body, to_bytes};
use axum::extract::{FromRequestParts, Request, State};

use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::transport::ClientAddr;
use crate::Core;
use crate::auth::{Caller, Credentials};
use crate::config::Config;
use crate::error::{Code, Error, Result};
use crate::secret::secret_eq;

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

/// The envelope's headers, named once: a lookup by a `&str` parses and
/// validates the name again on every request.
const APPLICATION_ID: HeaderName = HeaderName::from_static("x-parse-application-id");
const MASTER_KEY: HeaderName = HeaderName::from_static("x-parse-master-key");
const JAVASCRIPT_KEY: HeaderName = HeaderName::from_static("x-parse-javascript-key");
const REST_API_KEY: HeaderName = HeaderName::from_static("x-parse-rest-api-key");
const CLIENT_KEY: HeaderName = HeaderName::from_static("x-parse-client-key");
const SESSION_TOKEN: HeaderName = HeaderName::from_static("x-parse-session-token");
const INSTALLATION_ID: HeaderName = HeaderName::from_static("x-parse-installation-id");
const CLOUD_CONTEXT: HeaderName = HeaderName::from_static("x-parse-cloud-context");

/// A parsed request envelope: who claims to call, and what they sent.
#[derive(Debug)]
pub struct Envelope {
    pub credentials: Credentials,
    pub payload: Payload,
}

/// What a request sent, without the envelope fields. Its `Debug` omits the
/// body, which may hold a password.
#[derive(Clone)]
pub struct Payload {
    /// The JSON body without envelope fields; for a plain `GET`, the query string.
    pub body: Value,
    /// True when `body` came from the URL's query string.
    pub from_url: bool,
    /// `X-Parse-Cloud-Context` / `_context`, for hooks.
    pub context: Option<Value>,
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Payload")
            .field("from_url", &self.from_url)
            .finish_non_exhaustive()
    }
}

/// Takes what the envelope layer left in the request's extensions.
fn take<T: Send + Sync + 'static>(parts: &mut Parts) -> Result<T> {
    parts
        .extensions
        .remove::<T>()
        .ok_or_else(|| Error::parse(Code::InternalServerError, "request envelope missing"))
}

impl<S: Send + Sync> FromRequestParts<S> for Payload {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self> {
        take(parts)
    }
}

/// For handlers that act on the claims themselves (login) rather than on a
/// resolved [`Caller`].
impl<S: Send + Sync> FromRequestParts<S> for Credentials {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self> {
        take(parts)
    }
}

/// The caller, authenticated against the session table ([`Core::authenticate`]).
impl FromRequestParts<Core> for Caller {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, core: &Core) -> Result<Self> {
        core.authenticate(take(parts)?).await
    }
}

/// The caller with its user read beside its session (`/users/me`): one
/// round trip where the backend can join them.
pub struct Me(pub Caller);

impl FromRequestParts<Core> for Me {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, core: &Core) -> Result<Self> {
        core.authenticate_user(take(parts)?).await.map(Me)
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
    // A client that trickles its body would otherwise hold the connection
    // (and this task) for as long as it likes.
    let bytes = tokio::time::timeout(
        core.config.connections.body_timeout,
        to_bytes(body, core.config.max_body_bytes),
    )
    .await
    .map_err(|_| Error::BodyTimeout)?
    .map_err(|_| Error::BodyTooLarge)?;
    let ip = parts
        .extensions
        .get::<ClientAddr>()
        .and_then(|ClientAddr(ip)| *ip);
    let Envelope {
        credentials,
        payload,
    } = parse(&core.config, &mut parts, &bytes, ip)?;
    parts.extensions.insert(credentials);
    parts.extensions.insert(payload);
    Ok(Request::from_parts(parts, Body::empty()))
}

/// Reads the envelope out of a request's head and body bytes; rewrites the
/// method from `_method`. Pure: no I/O, so it can be fuzzed.
pub fn parse(
    config: &Config,
    parts: &mut Parts,
    bytes: &[u8],
    ip: Option<IpAddr>,
) -> Result<Envelope> {
    let mut body = if bytes.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(bytes)
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
    let credentials = check_keys(config, &parts.headers, &fields, ip)?;
    let context = context(&parts.headers, fields.remove("_context"))?;
    let from_url = body.is_null() && parts.method == Method::GET;
    if from_url {
        body = Value::Object(query_params(parts.uri.query()));
    }
    Ok(Envelope {
        credentials,
        payload: Payload {
            body,
            from_url,
            context,
        },
    })
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
    header: &HeaderName,
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

/// Checks the app id and any client or master key; the session token is
/// only carried along ([`Core::authenticate`] resolves it).
fn check_keys(
    config: &Config,
    headers: &HeaderMap,
    fields: &Map<String, Value>,
    ip: Option<std::net::IpAddr>,
) -> Result<Credentials> {
    let get = |header: &HeaderName, field: &str| {
        credential(headers, header, fields, field).map_err(|()| Error::Unauthorized)
    };

    let app_id = get(&APPLICATION_ID, "_ApplicationId")?;
    if !app_id.is_some_and(|id| secret_eq(&config.app_id, &id)) {
        return Err(Error::Unauthorized);
    }

    let master = match get(&MASTER_KEY, "_MasterKey")? {
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
            get(&JAVASCRIPT_KEY, "_JavaScriptKey")?,
            get(&REST_API_KEY, "_RestAPIKey")?,
            get(&CLIENT_KEY, "_ClientKey")?,
        ];
        if !keys.iter().flatten().any(|k| config.client_keys.accepts(k)) {
            return Err(Error::Unauthorized);
        }
    }

    let session_token = credential(headers, &SESSION_TOKEN, fields, "_SessionToken")
        .map_err(|()| Error::invalid_session())?
        .filter(|t| !t.is_empty());
    let installation_id = get(&INSTALLATION_ID, "_InstallationId")?.filter(|i| !i.is_empty());
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
    let value = match headers.get(&CLOUD_CONTEXT) {
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

/// Property tests ("fuzzing") of the envelope parser: whatever arrives, it
/// answers with an envelope or a Parse error, never a panic, and never
/// grants the master key without the exact key from an allowed address.
/// `PROPTEST_CASES=100000 cargo test -p cloudcode-runtime envelope` runs longer.
#[cfg(test)]
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    const MASTER: &str = "fuzz-master-key-0123456789";

    fn config() -> Config {
        Config {
            app_id: "app".into(),
            master_key: MASTER.into(),
            master_key_ips: vec!["127.0.0.1/32".parse().unwrap()],
            ..Config::in_memory_defaults()
        }
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            ".{0,40}".prop_map(Value::from),
            Just(Value::from(MASTER)),
            Just(Value::from("app")),
            Just(Value::from("GET")),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
                prop::collection::btree_map(".{0,12}", inner, 0..8)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Objects whose keys are mostly envelope fields.
    fn envelope_body() -> impl Strategy<Value = Value> {
        let key = prop_oneof![
            prop::sample::select(ENVELOPE_FIELDS.to_vec()).prop_map(String::from),
            Just("_method".to_string()),
            ".{0,10}",
        ];
        prop::collection::btree_map(key, json_value(), 0..10)
            .prop_map(|m| Value::Object(m.into_iter().collect()))
    }

    fn parts(method: &str, headers: &[(String, String)]) -> Parts {
        let mut builder = axum::http::Request::builder()
            .method(method)
            .uri("/parse/classes/X?where=%7B%7D&limit=3");
        for (name, value) in headers {
            if let (Ok(n), Ok(v)) = (
                axum::http::HeaderName::from_bytes(name.as_bytes()),
                axum::http::HeaderValue::from_bytes(value.as_bytes()),
            ) {
                builder = builder.header(n, v);
            }
        }
        builder.body(()).unwrap().into_parts().0
    }

    fn check(result: &Result<Envelope>, parts: &Parts) {
        match result {
            Ok(envelope) => {
                assert!(["GET", "POST", "PUT", "DELETE"].contains(&parts.method.as_str()));
                if let Value::Object(body) = &envelope.payload.body {
                    assert!(
                        !body
                            .keys()
                            .any(|k| ENVELOPE_FIELDS.contains(&k.as_str()) || k == "_method")
                    );
                }
            }
            Err(error) => {
                let parse_style = matches!(error, Error::Unauthorized) || error.code().is_some();
                assert!(parse_style, "{error:?}");
            }
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512), method in prop::sample::select(vec!["GET", "POST", "PUT", "DELETE"])) {
            let mut parts = parts(method, &[("x-parse-application-id".into(), "app".into())]);
            let result = parse(&config(), &mut parts, &bytes, None);
            check(&result, &parts);
        }

        #[test]
        fn envelope_fields_of_any_type_never_grant_more_than_they_should(
            body in envelope_body(),
            header_pairs in prop::collection::vec((prop::sample::select(vec![
                "x-parse-application-id", "x-parse-master-key", "x-parse-session-token",
                "x-parse-installation-id", "x-parse-cloud-context", "x-parse-javascript-key",
            ]).prop_map(String::from), ".{0,40}"), 0..4),
            loopback in any::<bool>(),
        ) {
            let mut parts = parts("POST", &header_pairs);
            let ip: Option<IpAddr> = Some(if loopback { [127, 0, 0, 1].into() } else { [10, 0, 0, 1].into() });
            let bytes = body.to_string();
            let result = parse(&config(), &mut parts, bytes.as_bytes(), ip);
            check(&result, &parts);
            if let Ok(envelope) = &result {
                if envelope.credentials.master {
                    prop_assert!(loopback, "master key granted to a disallowed address");
                    let from_header = parts.headers.get("x-parse-master-key").map(|v| v.as_bytes() == MASTER.as_bytes());
                    let from_body = body.get("_MasterKey") == Some(&Value::from(MASTER));
                    prop_assert!(from_header.unwrap_or(from_body), "master without the exact key");
                }
                if let Some(token) = &envelope.credentials.session_token {
                    prop_assert!(!token.is_empty());
                }
            }
        }

        #[test]
        fn token_parsing_accepts_exactly_minted_shapes(raw in ".{0,80}", suffix in "[0-9a-f]{64}") {
            let shaped = format!("r:{suffix}");
            prop_assert!(crate::token::parse(&shaped).is_some());
            if let Some(hash) = crate::token::parse(&raw) {
                prop_assert_eq!(raw.len(), crate::token::TOKEN_LEN);
                prop_assert!(raw.starts_with("r:"));
                prop_assert_eq!(hash, crate::token::hash(&raw));
            }
        }

        #[test]
        fn queries_of_any_shape_never_panic(params in prop::collection::btree_map(
            prop::sample::select(vec!["where", "limit", "skip", "order", "count", "keys", "excludeKeys", "other"]).prop_map(String::from),
            json_value(), 0..6),
            rows in prop::collection::vec(json_value(), 0..6),
        ) {
            let rows: Vec<Map<String, Value>> = rows.into_iter().filter_map(|r| r.as_object().cloned()).collect();
            if let Ok(options) = crate::query::FindOptions::from_params(params.into_iter().collect()) {
                let answer = options.run(rows);
                prop_assert!(answer["results"].is_array());
            }
        }
    }
}
