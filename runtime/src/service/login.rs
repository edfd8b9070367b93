//! Logging in and out, and the step-up check that sensitive account
//! changes share with login (the same throttle, the same answers).

use serde_json::{Value, json};

use super::Reply;
use super::account;
use super::render;
use super::sessions::new_session;
use crate::Core;
use crate::audit::{Event, Trail};
use crate::auth::throttle::Account;
use crate::auth::{Caller, Credentials};
use crate::error::{Code, Error, Result};
use crate::fields;
use crate::password;
use crate::sandbox::Invoker;
use crate::store::{StoreError, UserRecord};

fn invalid_login() -> Error {
    Error::parse(Code::ObjectNotFound, "Invalid username/password.")
}

fn throttled() -> Error {
    Error::parse(
        Code::RequestLimitExceeded,
        "Too many failed login attempts. Try again later.",
    )
}

/// `POST /login`: verifies the password and starts a new session. Unknown
/// accounts cost the same hashing work and get the same answer as wrong
/// passwords. Hashing runs on the blocking pool.
pub async fn login(core: &Core, credentials: &Credentials, body: Value) -> Result<Reply> {
    let body = fields::body_object(body)?;
    let username = body.get("username");
    let email = body.get("email");
    if username.is_none() && email.is_none() {
        return Err(Error::parse(
            Code::UsernameMissing,
            "username/email is required.",
        ));
    }
    let Some(given) = body.get("password") else {
        return Err(Error::parse(Code::PasswordMissing, "password is required."));
    };
    let (username, email, given) = match (username, email, given) {
        (u, e, Value::String(p))
            if u.is_none_or(Value::is_string) && e.is_none_or(Value::is_string) =>
        {
            (
                u.and_then(Value::as_str),
                e.and_then(Value::as_str),
                p.as_str(),
            )
        }
        _ => return Err(invalid_login()),
    };
    // No account has an identifier this long or with control characters:
    // refused before the throttle or the database spend anything on it.
    if !account::could_name_an_account(username, email) {
        return Err(invalid_login());
    }
    let now = core.now();
    let found = core.store.user_by_login(username, email).await?;
    let account = match &found {
        Some(user) => Account::Known(&user.object_id),
        None => Account::Unknown(username.or(email).unwrap_or_default()),
    };
    let Ok(allowed) = core.throttle.check(account, credentials.ip, now).await? else {
        return Err(throttled());
    };
    let stored = found.as_ref().and_then(|u| u.password_hash.clone());
    let (verdict, upgraded) = verify_off_thread(given, stored.clone()).await?;
    let Some(user) = found.as_ref().filter(|_| verdict.is_correct()) else {
        core.throttle
            .record_failure(account, credentials.ip, now)
            .await?;
        return Err(invalid_login());
    };
    core.throttle.record_success(account, allowed).await?;
    let device = super::device(user, credentials.installation_id.clone(), credentials.ip);
    super::before_login(core, device.clone(), user).await?;
    let mut verified_hash = stored.unwrap_or_default();
    if let Some(upgraded) = upgraded
        && core
            .store
            .replace_password_hash(&user.object_id, &verified_hash, &upgraded)
            .await?
    {
        verified_hash = upgraded;
    }
    let (session, minted) = new_session(
        core,
        &user.object_id,
        credentials.installation_id.clone(),
        json!({"action": "login", "authProvider": "password"}),
    );
    let created = core
        .store
        .create_session(
            &session,
            &minted.hash,
            Some(&verified_hash),
            Trail::new(now, credentials.ip),
        )
        .await;
    match created {
        Err(StoreError::Stale) => {
            // The password changed while this login was verifying the old one.
            core.throttle
                .record_failure(account, credentials.ip, now)
                .await?;
            return Err(invalid_login());
        }
        other => drop(other?),
    }
    let device = Invoker {
        session_id: Some(session.object_id.clone()),
        ..device
    };
    super::after_login(core, device, user, false).await;
    Ok(Reply::ok(Value::Object(render::user(
        user,
        Some(&minted.raw),
    ))))
}

/// `POST /logout`: deletes the caller's session. Without a token it is a no-op.
pub async fn logout(core: &Core, caller: &Caller) -> Result<Reply> {
    if let Some(session) = caller.session_id() {
        let trail = Trail::new(core.now(), caller.ip);
        core.store
            .delete_session(session, Event::LoggedOut, trail)
            .await?;
    }
    Ok(Reply::empty())
}

/// Checks a password against the stored hash (or, for an unknown account,
/// spends the same work on a dummy) on the blocking pool; a correct password
/// under an outdated hash comes back re-hashed too.
async fn verify_off_thread(
    given: &str,
    stored: Option<String>,
) -> Result<(password::Verdict, Option<String>)> {
    let given = given.to_string();
    let verified = password::off_thread(move || {
        let Some(stored) = stored else {
            password::verify_against_dummy(&given);
            return Ok((password::Verdict::Wrong, None));
        };
        let verdict = password::verify(&given, &stored);
        let upgraded = match verdict {
            password::Verdict::CorrectNeedsRehash => Some(password::hash(&given)?),
            _ => None,
        };
        Ok((verdict, upgraded))
    })
    .await?;
    Ok(verified)
}

/// Step-up for changes of the password, email or username (ASVS 7.5.1):
/// the user's current password, throttled like a login.
pub(super) async fn reauthenticate(
    core: &Core,
    caller: &Caller,
    stored: Option<&UserRecord>,
    given: Option<&str>,
) -> Result<()> {
    let given = given.ok_or_else(|| {
        Error::parse(
            Code::PasswordMissing,
            "currentPassword is required to change the password, email or username.",
        )
    })?;
    // Only the account's owner is re-authenticated (`stored` is read for
    // the owner only); others fail the ACL check later.
    let Some(user) = stored else {
        return Ok(());
    };
    let now = core.now();
    let account = Account::Known(&user.object_id);
    if core.throttle.check(account, caller.ip, now).await?.is_err() {
        return Err(throttled());
    }
    let (verdict, _) = verify_off_thread(given, user.password_hash.clone()).await?;
    if !verdict.is_correct() {
        core.throttle
            .record_failure(account, caller.ip, now)
            .await?;
        return Err(invalid_login());
    }
    Ok(())
}
