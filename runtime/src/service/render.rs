//! Records as clients see them. Secrets (password hashes, token hashes)
//! have no field here, so they cannot leak through any response.

use serde_json::{Map, Value, json};

use crate::clock::{Millis, to_iso};
use crate::store::{EventRecord, ObjectRecord, SessionView, UserRecord};

pub fn date(ms: Millis) -> Value {
    json!({"__type": "Date", "iso": to_iso(ms)})
}

pub fn pointer(class: &str, object_id: &str) -> Value {
    json!({"__type": "Pointer", "className": class, "objectId": object_id})
}

fn base(object_id: &str, created_at: Millis, updated_at: Millis) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("objectId".into(), object_id.into());
    out.insert("createdAt".into(), to_iso(created_at).into());
    out.insert("updatedAt".into(), to_iso(updated_at).into());
    out
}

/// A user; `token` only when answering the user's own session.
pub fn user(user: &UserRecord, token: Option<&str>) -> Map<String, Value> {
    let mut out = base(&user.object_id, user.created_at, user.updated_at);
    out.insert("username".into(), user.username.clone().into());
    if let Some(email) = &user.email {
        out.insert("email".into(), email.clone().into());
    }
    for (k, v) in &user.fields {
        out.insert(k.clone(), v.clone());
    }
    if let Some(token) = token {
        out.insert("sessionToken".into(), token.into());
    }
    out
}

/// A session; `token` only for the caller's own current one (`/sessions/me`).
pub fn session(s: &SessionView, token: Option<&str>) -> Map<String, Value> {
    let mut out = base(&s.object_id, s.created_at, s.updated_at);
    out.insert("user".into(), pointer("_User", &s.user_id));
    out.insert("createdWith".into(), s.created_with.clone());
    if let Some(installation) = &s.installation_id {
        out.insert("installationId".into(), installation.clone().into());
    }
    out.insert("expiresAt".into(), date(s.expires_at));
    if let Some(token) = token {
        out.insert("sessionToken".into(), token.into());
    }
    out
}

pub fn object(o: &ObjectRecord) -> Map<String, Value> {
    let mut out = base(&o.object_id, o.created_at, o.updated_at);
    for (k, v) in &o.fields {
        out.insert(k.clone(), v.clone());
    }
    out
}

/// An audit trail entry (never a token: the trail has none to show).
pub fn event(e: &EventRecord) -> Map<String, Value> {
    let mut out = base(&e.id.to_string(), e.at, e.at);
    out.insert("event".into(), e.kind.clone().into());
    if let Some(user) = &e.user_id {
        out.insert("user".into(), pointer("_User", user));
    }
    for (key, value) in [
        ("sessionId", &e.session_id),
        ("installationId", &e.installation_id),
        ("ip", &e.ip),
    ] {
        if let Some(value) = value {
            out.insert(key.into(), value.clone().into());
        }
    }
    out
}

/// Parse's update answer: `updatedAt` plus every value the server computed.
pub fn update_answer(
    updated_at: Millis,
    fields: &Map<String, Value>,
    computed: &[String],
) -> Value {
    let mut out = Map::new();
    out.insert("updatedAt".into(), to_iso(updated_at).into());
    for key in computed {
        if let Some(v) = fields.get(key) {
            out.insert(key.clone(), v.clone());
        }
    }
    Value::Object(out)
}
