//! `/classes/:className[/:id]`, and `/users[/:id]` and `/sessions[/:id]`,
//! which are `/classes/_User` and `/classes/_Session` under other names (the
//! JS SDK uses both forms): one handler per operation, whichever path named
//! the class.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;

use super::error::Path;

use super::Payload;
use crate::Core;
use crate::auth::Caller;
use crate::error::{Code, Error, Result};
use crate::fields::body_object;
use crate::service::{Reply, objects, sessions, users};

/// The class a route serves, for routes without a `{class}` segment
/// (`/users`, `/sessions`): set on the route as an extension.
#[derive(Debug, Clone, Copy)]
pub struct Named(pub &'static str);

/// The class a request addresses: the route's [`Named`] class, or its
/// `{class}` segment.
pub struct Class(pub String);

/// The object a by-id request addresses: its class (as [`Class`]) and id.
pub struct Target {
    pub class: String,
    pub id: String,
}

async fn segments<S: Send + Sync>(parts: &mut Parts, state: &S) -> Result<HashMap<String, String>> {
    let Path(segments) = Path::from_request_parts(parts, state).await?;
    Ok(segments)
}

fn class_of(parts: &Parts, segments: &mut HashMap<String, String>) -> Result<String> {
    if let Some(Named(class)) = parts.extensions.get::<Named>() {
        return Ok(class.to_string());
    }
    segments
        .remove("class")
        .ok_or_else(|| Error::parse(Code::InternalServerError, "route without a class"))
}

impl<S: Send + Sync> FromRequestParts<S> for Class {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        let mut segments = segments(parts, state).await?;
        Ok(Class(class_of(parts, &mut segments)?))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Target {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self> {
        let mut segments = segments(parts, state).await?;
        let class = class_of(parts, &mut segments)?;
        let id = segments
            .remove("id")
            .ok_or_else(|| Error::parse(Code::InternalServerError, "route without an id"))?;
        Ok(Target { class, id })
    }
}

pub async fn create(
    State(core): State<Core>,
    Class(class): Class,
    caller: Caller,
    payload: Payload,
) -> Result<Reply> {
    match class.as_str() {
        "_User" => users::signup(&core, &caller, payload.body).await,
        "_Session" => sessions::create(&caller),
        _ => objects::create(&core, &caller, &class, payload.body).await,
    }
}

pub async fn find(
    State(core): State<Core>,
    Class(class): Class,
    caller: Caller,
    payload: Payload,
) -> Result<Reply> {
    let params = body_object(payload.body)?;
    match class.as_str() {
        "_User" => users::find(&core, &caller, params).await,
        "_Session" => sessions::find(&core, &caller, params).await,
        _ => objects::find(&core, &caller, &class, params).await,
    }
}

/// A read by key: inline.
pub async fn get(
    State(core): State<Core>,
    Target { class, id }: Target,
    caller: Caller,
) -> Result<Reply> {
    match class.as_str() {
        "_User" => users::get(&core, &caller, &id).await,
        "_Session" => sessions::get(&core, &caller, &id).await,
        _ => objects::get(&core, &caller, &class, &id).await,
    }
}

pub async fn update(
    State(core): State<Core>,
    Target { class, id }: Target,
    caller: Caller,
    payload: Payload,
) -> Result<Reply> {
    match class.as_str() {
        "_User" => users::update(&core, &caller, &id, payload.body).await,
        "_Session" => sessions::update(&core, &caller, &id, payload.body).await,
        _ => objects::update(&core, &caller, &class, &id, payload.body).await,
    }
}

pub async fn delete(
    State(core): State<Core>,
    Target { class, id }: Target,
    caller: Caller,
) -> Result<Reply> {
    match class.as_str() {
        "_User" => users::delete(&core, &caller, &id).await,
        "_Session" => sessions::delete(&core, &caller, &id).await,
        _ => objects::delete(&core, &caller, &class, &id).await,
    }
}
