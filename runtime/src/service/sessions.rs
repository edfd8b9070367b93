//! `_Session`: the caller's own sessions, and the master key's view of all.
//! Sessions are born only from signup and login and are never writable by
//! clients; the master key may only bring an expiry closer.

use serde_json::{Map, Value};

use super::Reply;
use super::render;
use crate::Core;
use crate::audit::{Event, Trail};
use crate::auth::Caller;
use crate::clock::from_iso;
use crate::error::{Code, Error, Result};
use crate::fields;
use crate::query::FindOptions;
use crate::store::SessionRecord;
use crate::token::{self, MintedToken};

/// A new session for `user_id` under the configured policy; the caller stores it.
pub fn new_session(
    core: &Core,
    user_id: &str,
    installation_id: Option<String>,
    created_with: Value,
) -> (SessionRecord, MintedToken) {
    let now = core.now();
    let life = core.config.session_policy.start(now);
    let session = SessionRecord {
        object_id: token::object_id(),
        user_id: user_id.to_string(),
        installation_id,
        created_with,
        created_at: now,
        updated_at: now,
        last_used_at: life.last_used_at,
        absolute_expires_at: life.absolute_expires_at,
    };
    (session, token::mint())
}

/// Refuses callers that hold neither a session nor the master key.
fn require_session(caller: &Caller) -> Result<()> {
    if caller.master || caller.session.is_some() {
        Ok(())
    } else {
        Err(Error::session_required())
    }
}

/// A session the caller may see: their own (or any, with the master key), and alive.
async fn visible(core: &Core, caller: &Caller, object_id: &str) -> Result<Option<SessionRecord>> {
    let now = core.now();
    Ok(core.store.session(object_id).await?.filter(|s| {
        (caller.master || caller.user_id() == Some(s.user_id.as_str()))
            && core.config.session_policy.is_alive(s.lifetime(), now)
    }))
}

/// `GET /sessions/me`: the only answer that carries a token, the caller's own.
pub fn me(core: &Core, caller: &Caller) -> Result<Reply> {
    let (session, raw) = caller
        .session
        .as_ref()
        .ok_or_else(Error::session_required)?;
    let view = session.view(&core.config.session_policy);
    Ok(Reply::ok(Value::Object(render::session(&view, Some(raw)))))
}

/// `GET /sessions`: the caller's live sessions, or every live session with
/// the master key.
pub async fn find(core: &Core, caller: &Caller, params: Map<String, Value>) -> Result<Reply> {
    require_session(caller)?;
    let options = FindOptions::from_params(params)?;
    let owner = if caller.master {
        None
    } else {
        caller.user_id()
    };
    let policy = &core.config.session_policy;
    let now = core.now();
    let sessions = core.store.live_sessions(owner, policy, now).await?;
    let rendered = sessions
        .iter()
        .map(|s| render::session(&s.view(policy), None));
    Ok(Reply::ok(options.run(rendered)))
}

/// `GET /sessions/:id`.
pub async fn get(core: &Core, caller: &Caller, object_id: &str) -> Result<Reply> {
    require_session(caller)?;
    let session = visible(core, caller, object_id)
        .await?
        .ok_or_else(Error::not_found)?;
    let view = session.view(&core.config.session_policy);
    Ok(Reply::ok(Value::Object(render::session(&view, None))))
}

/// `POST /sessions`: refused. A session the client could create on demand
/// would be a way around login (and, in Parse, to choose its own token).
pub fn create(caller: &Caller) -> Result<Reply> {
    require_session(caller)?;
    Err(Error::forbidden(
        "Sessions are created by signing up or logging in.",
    ))
}

/// `PUT /sessions/:id`: nothing is writable by users; the master key may
/// move `expiresAt` earlier, never later and never to null.
pub async fn update(core: &Core, caller: &Caller, object_id: &str, body: Value) -> Result<Reply> {
    require_session(caller)?;
    let body = fields::body_object(body)?;
    let session = visible(core, caller, object_id)
        .await?
        .ok_or_else(Error::not_found)?;
    if body.contains_key("ACL") {
        return Err(Error::parse(
            Code::InvalidKeyName,
            "Cannot set ACL on a Session.",
        ));
    }
    if let Some(key) = body.keys().find(|k| !(caller.master && *k == "expiresAt")) {
        return Err(Error::parse(
            Code::InvalidKeyName,
            format!("Invalid key name: {key}"),
        ));
    }
    let now = core.now();
    let Some(requested) = body.get("expiresAt") else {
        return Ok(Reply::ok(render::update_answer(
            session.updated_at,
            &Map::new(),
            &[],
        )));
    };
    let requested = requested
        .get("__type")
        .filter(|t| *t == "Date")
        .and_then(|_| requested.get("iso"))
        .and_then(Value::as_str)
        .and_then(from_iso)
        .ok_or_else(|| Error::incorrect_type("expiresAt must be a Date."))?;
    if requested > core.config.session_policy.expires_at(session.lifetime()) {
        return Err(Error::forbidden("expiresAt can only be moved earlier."));
    }
    if !core
        .store
        .shorten_session(object_id, requested, Trail::new(now, caller.ip))
        .await?
    {
        return Err(Error::not_found());
    }
    Ok(Reply::ok(render::update_answer(now, &Map::new(), &[])))
}

/// `DELETE /sessions/:id`: the token stops working at once.
pub async fn delete(core: &Core, caller: &Caller, object_id: &str) -> Result<Reply> {
    require_session(caller)?;
    let not_found = || Error::parse(Code::ObjectNotFound, "Object not found for delete.");
    visible(core, caller, object_id)
        .await?
        .ok_or_else(not_found)?;
    let event = if caller.master {
        Event::RevokedByAdmin
    } else {
        Event::RevokedByUser
    };
    core.store
        .delete_session(object_id, event, Trail::new(core.now(), caller.ip))
        .await?
        .ok_or_else(not_found)?;
    Ok(Reply::empty())
}

/// `GET /sessions/audit`: the session audit trail, for the master key only.
pub async fn audit_trail(
    core: &Core,
    caller: &Caller,
    params: Map<String, Value>,
) -> Result<Reply> {
    if !caller.master {
        return Err(Error::forbidden(
            "The session audit trail needs the master key.",
        ));
    }
    let options = FindOptions::from_params(params)?;
    let events = core.store.events().await?;
    Ok(Reply::ok(options.run(events.iter().map(render::event))))
}
