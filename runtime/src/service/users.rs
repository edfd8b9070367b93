//! `_User`: signup, login, logout, the current user, and user CRUD.

use serde_json::{Map, Value, json};

use super::Reply;
use super::account;
use super::login;
use super::render;
use super::sessions::new_session;
use crate::Core;
use crate::acl::{self, Access};
use crate::audit::Trail;
use crate::auth::Caller;
use crate::clock::Millis;
use crate::error::{Code, Error, Result};
use crate::fields;
use crate::password::{self, PasswordError};
use crate::query::FindOptions;
use crate::sandbox::Invoker;
use crate::store::{Revoke, StoreError, UniqueField, UserRecord, WriterSession};
use crate::token::{self, MintedToken};

/// Keys of `_User` that clients may not write directly.
const RESERVED: &[&str] = &["sessionToken", "authData", "emailVerified"];

fn map_unique(err: StoreError) -> Error {
    match err {
        StoreError::Duplicate(UniqueField::Username) => Error::parse(
            Code::UsernameTaken,
            "Account already exists for this username.",
        ),
        StoreError::Duplicate(UniqueField::Email) => Error::parse(
            Code::EmailTaken,
            "Account already exists for this email address.",
        ),
        other => other.into(),
    }
}

/// The account fields of a user write, checked and separated from the
/// ordinary fields (which stay in the map).
#[derive(Default)]
struct AccountChanges {
    username: Option<String>,
    email: Option<Option<String>>,
    password: Option<String>,
}

fn take_account_changes(body: &mut Map<String, Value>) -> Result<AccountChanges> {
    if let Some(key) = RESERVED.iter().find(|k| body.contains_key(**k)) {
        return Err(Error::invalid_key(key));
    }
    let mut changes = AccountChanges::default();
    if let Some(username) = body.remove("username") {
        match username {
            Value::String(s) if account::valid_username(&s) => changes.username = Some(s),
            _ => {
                return Err(Error::parse(
                    Code::UsernameMissing,
                    "bad or missing username",
                ));
            }
        }
    }
    if let Some(email) = body.remove("email") {
        changes.email = Some(match email {
            Value::Null => None,
            Value::String(s) if account::looks_like_email(&s) => Some(s),
            _ => {
                return Err(Error::parse(
                    Code::InvalidEmailAddress,
                    "Email address format is invalid.",
                ));
            }
        });
    }
    if let Some(password) = body.remove("password") {
        match password {
            Value::String(s) if !s.is_empty() && s.len() <= 4096 => changes.password = Some(s),
            _ => return Err(Error::parse(Code::PasswordMissing, "password is required")),
        }
    }
    Ok(changes)
}

/// `POST /users`: creates the account and, unless the master key signs the
/// user up, logs them in on the calling installation. Hashing runs on the
/// blocking pool, the afterSave hooks on this task.
pub async fn signup(core: &Core, caller: &Caller, body: Value) -> Result<Reply> {
    let (user, session, changed) = create_account(core, caller, body).await?;
    super::after_save(core, caller, "_User", changed, || {
        (render::user(&user, None), None)
    })
    .await;
    if let Some((session_id, _)) = &session {
        let device = Invoker {
            session_id: Some(session_id.clone()),
            ..super::device(&user, caller.installation_id.clone(), caller.ip)
        };
        super::after_login(core, device, &user, true).await;
    }
    let mut answer = json!({
        "objectId": user.object_id,
        "createdAt": crate::clock::to_iso(user.created_at),
    });
    if let Some((_, minted)) = &session {
        answer["sessionToken"] = minted.raw.clone().into();
    }
    let location = format!("{}/users/{}", core.config.mount_path, user.object_id);
    Ok(Reply::created(location, answer))
}

/// The new user, the id and token of its first session (unless the master
/// key signed it up) and the keys the request set.
type NewAccount = (UserRecord, Option<(String, MintedToken)>, Vec<String>);

async fn create_account(core: &Core, caller: &Caller, body: Value) -> Result<NewAccount> {
    let mut body = fields::body_object(body)?;
    let changed: Vec<String> = body.keys().cloned().collect();
    let changes = take_account_changes(&mut body)?;
    let username = changes
        .username
        .ok_or_else(|| Error::parse(Code::UsernameMissing, "bad or missing username"))?;
    let password = changes
        .password
        .ok_or_else(|| Error::parse(Code::PasswordMissing, "password is required"))?;
    let object_id = token::object_id();
    let mut user_fields = Map::new();
    fields::apply(&mut user_fields, body)?;
    user_fields
        .entry("ACL")
        .or_insert_with(|| json!({ object_id.clone(): {"read": true, "write": true} }));
    let now = core.now();
    let user = UserRecord {
        object_id,
        username,
        email: changes.email.flatten(),
        password_hash: Some(password::off_thread(move || password::hash(&password)).await?),
        fields: user_fields,
        created_at: now,
        updated_at: now,
    };
    let session = (!caller.master).then(|| {
        new_session(
            core,
            &user.object_id,
            caller.installation_id.clone(),
            json!({"action": "signup", "authProvider": "password"}),
        )
    });
    core.store
        .create_user(
            &user,
            session.as_ref().map(|(s, t)| (s, &t.hash)),
            Trail::new(now, caller.ip),
        )
        .await
        .map_err(map_unique)?;
    let session = session.map(|(session, minted)| (session.object_id, minted));
    Ok((user, session, changed))
}

/// `GET /users/me`.
pub async fn me(core: &Core, caller: &Caller) -> Result<Reply> {
    let user_id = caller.require_user()?;
    let user = match &caller.user {
        Some(user) => user.clone(),
        None => core
            .store
            .user(user_id)
            .await?
            .ok_or_else(Error::invalid_session)?,
    };
    Ok(Reply::ok(Value::Object(render::user(
        &user,
        caller.token(),
    ))))
}

fn readable(caller: &Caller, user: &UserRecord) -> bool {
    caller.master || acl::allows(&user.fields, caller.user_id(), Access::Read)
}

fn own_token<'a>(caller: &'a Caller, user: &UserRecord) -> Option<&'a str> {
    (caller.user_id() == Some(user.object_id.as_str()))
        .then(|| caller.token())
        .flatten()
}

/// `GET /users/:id`; the session token is included only for the caller's own record.
pub async fn get(core: &Core, caller: &Caller, object_id: &str) -> Result<Reply> {
    let user = core
        .store
        .user(object_id)
        .await?
        .filter(|u| readable(caller, u))
        .ok_or_else(Error::not_found)?;
    Ok(Reply::ok(Value::Object(render::user(
        &user,
        own_token(caller, &user),
    ))))
}

/// `GET /users`.
pub async fn find(core: &Core, caller: &Caller, params: Map<String, Value>) -> Result<Reply> {
    let options = FindOptions::from_params(params)?;
    let found = core
        .store
        .find_users(options.query(), &caller.reader())
        .await?;
    Ok(Reply::ok(
        options.answer(found.map(|u| render::user(u, None))),
    ))
}

/// `PUT /users/:id`. A password change revokes, in the same transaction,
/// every other session of the user; a change by the master key (or by
/// anyone but the user) revokes all of them. The user's own session gets a
/// new token if an afterSave hook rotates it, and is revoked otherwise: no
/// token issued before the change survives it. Hashing runs on the
/// blocking pool, the afterSave hooks on this task.
pub async fn update(core: &Core, caller: &Caller, object_id: &str, body: Value) -> Result<Reply> {
    let written = write_user(core, caller, object_id, body).await?;
    let Written {
        user,
        original,
        computed,
        changed,
        sealed,
    } = written;
    let hooks = super::after_save(core, caller, "_User", changed, || {
        (
            render::user(&user, None),
            Some(render::user(&original, None)),
        )
    })
    .await;
    let mut answer = render::update_answer(user.updated_at, &user.fields, &computed);
    match (hooks.rotated_token, sealed) {
        (Some(token), Some(session)) => {
            restart_reuse_grace(core, &session, user.updated_at).await;
            answer["sessionToken"] = token.into();
        }
        (Some(token), None) => answer["sessionToken"] = token.into(),
        (None, Some(session)) => revoke_unrotated(core, &session, caller.ip).await,
        (None, None) => {}
    }
    Ok(Reply::ok(answer))
}

/// A user write as committed: the row after and before it, the keys it
/// computed and set, and the writer's session if the write sealed it.
struct Written {
    user: UserRecord,
    original: UserRecord,
    computed: Vec<String>,
    changed: Vec<String>,
    sealed: Option<String>,
}

async fn write_user(core: &Core, caller: &Caller, object_id: &str, body: Value) -> Result<Written> {
    if !caller.master && caller.user_id().is_none() {
        return Err(Error::parse(
            Code::SessionMissing,
            format!("Cannot modify user {object_id}."),
        ));
    }
    let mut body = fields::body_object(body)?;
    let current_password = match body.remove("currentPassword") {
        None => None,
        Some(Value::String(given)) => Some(given),
        Some(_) => return Err(Error::incorrect_type("currentPassword must be a string.")),
    };
    let mut changed: Vec<String> = body.keys().cloned().collect();
    let mut changes = take_account_changes(&mut body)?;
    let sensitive =
        changes.password.is_some() || changes.email.is_some() || changes.username.is_some();
    // The stored account, read once for the checks below, and only for its
    // owner or the master key: for anyone else they would be a password
    // oracle or free hashing work.
    let own = caller.master || caller.user_id() == Some(object_id);
    let stored = if sensitive && own {
        core.store.user(object_id).await?
    } else {
        None
    };
    if sensitive
        && !caller.master
        && (core.config.require_current_password || current_password.is_some())
    {
        login::reauthenticate(core, caller, stored.as_deref(), current_password.as_deref()).await?;
    }
    // Hashing is the slow part: off the executor, outside the write transaction.
    let stored_hash = stored.as_ref().and_then(|u| u.password_hash.clone());
    let new_hash = match changes.password.take() {
        None => None,
        Some(given) => password::off_thread(move || rehash(given, stored_hash)).await?,
    };
    if new_hash.is_none() {
        changed.retain(|key| key != "password");
    }
    let now = core.now();
    // The writer's session is re-checked inside the write: a session that a
    // concurrent password change revoked (or sealed) cannot write.
    let writer = caller
        .session_id()
        .zip(caller.token().and_then(token::parse))
        .map(|(object_id, token_hash)| WriterSession {
            object_id: object_id.to_string(),
            token_hash,
        });
    // A password change by the user seals their own session: its token dies
    // with the change, and the session lives on only if a hook rotates it.
    let sealed = new_hash
        .is_some()
        .then(|| {
            caller
                .session_id()
                .filter(|_| caller.user_id() == Some(object_id))
                .map(String::from)
        })
        .flatten();
    let (master, writer_id) = (caller.master, caller.user_id().map(String::from));
    let denied = format!("Cannot modify user {object_id}.");
    let seal = sealed.clone();
    let (user, (original, computed)) = core
        .store
        .update_user(object_id, writer, Trail::new(now, caller.ip), move |user| {
            if !master && !acl::allows(&user.fields, writer_id.as_deref(), Access::Write) {
                return Err(Error::parse(Code::SessionMissing, denied));
            }
            let original = user.clone();
            let computed = fields::apply(&mut user.fields, body)?;
            if let Some(username) = changes.username {
                user.username = username;
            }
            if let Some(email) = changes.email {
                user.email = email;
            }
            user.updated_at = now;
            let revoke = match new_hash {
                None => Revoke::Nothing,
                Some(hash) => {
                    user.password_hash = Some(hash);
                    Revoke::PasswordChanged { seal }
                }
            };
            Ok((revoke, (original, computed)))
        })
        .await
        .map_err(|e| match e {
            Error::Store(StoreError::SessionGone) => Error::invalid_session(),
            Error::Store(s) => map_unique(s),
            other => other,
        })?
        .ok_or_else(Error::not_found)?;
    Ok(Written {
        user,
        original,
        computed,
        changed,
        sealed,
    })
}

/// The hash to store for a password write, or none when the password is
/// the stored one: some SDKs resend the unchanged password with every save
/// (Parse issue #6749); that is not a password change and must not log
/// anyone out.
fn rehash(given: String, stored: Option<String>) -> Result<Option<String>, PasswordError> {
    if stored.is_some_and(|hash| password::verify(&given, &hash).is_correct()) {
        return Ok(None);
    }
    password::hash(&given).map(Some)
}

/// The client holds its old token until this response reaches it: the
/// grace window for that token (reuse detection) starts now, not when the
/// change was written before the afterSave hooks ran. Should this fail, the
/// window is only shorter: a late use of the old token ends the user's
/// sessions, which fails closed.
async fn restart_reuse_grace(core: &Core, session: &str, sealed_at: Millis) {
    if let Err(error) = core
        .store
        .restart_reuse_grace(session, sealed_at, core.now())
        .await
    {
        tracing::warn!(%error, session, "cannot restart the reuse grace window of a rotated session");
    }
}

/// The host's half of the password-change guarantee: the writer's session
/// was sealed with the change, and no hook gave it a new token (none is
/// loaded, or it trapped, timed out, found no slot...). It ends here; the
/// client's old token already gets 209. Had this failed too, the sealed
/// session would stay unusable until it expires.
async fn revoke_unrotated(core: &Core, session: &str, ip: Option<std::net::IpAddr>) {
    match core
        .store
        .revoke_sealed_session(session, Trail::new(core.now(), ip))
        .await
    {
        Ok(Some(_)) => {
            tracing::info!(
                session,
                "password changed and no hook rotated the session: revoked"
            );
        }
        Ok(None) => {}
        Err(error) => {
            tracing::warn!(%error, session, "cannot delete a sealed session; its token is dead already")
        }
    }
}

/// `DELETE /users/:id`; the user's sessions die with the account.
pub async fn delete(core: &Core, caller: &Caller, object_id: &str) -> Result<Reply> {
    let refused = || Error::parse(Code::SessionMissing, "Insufficient auth to delete user");
    if !caller.master && caller.user_id().is_none() {
        return Err(refused());
    }
    let user = core
        .store
        .user(object_id)
        .await?
        .ok_or_else(Error::not_found)?;
    if !caller.master && !acl::allows(&user.fields, caller.user_id(), Access::Write) {
        return Err(refused());
    }
    core.store
        .delete_user(object_id, Trail::new(core.now(), caller.ip))
        .await?
        .ok_or_else(Error::not_found)?;
    Ok(Reply::empty())
}
