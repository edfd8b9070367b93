//! # cloudcode-testkit
//!
//! Test a cloudcode hook crate inside the real sandbox from plain
//! `cargo test`, without compiling the server: the tests are compiled to
//! `wasm32-wasip2` like the hook itself, and the installed `cloudcode`
//! binary runs them as cargo's target runner. Each [`TestKit`] is the
//! server's engine with the crate's component loaded (built by the same
//! `cargo test`, never a stale file), over an in-memory store and a manual
//! clock.
//!
//! The crate's `.cargo/config.toml` (which `cloudcode new-hook` writes):
//!
//! ```toml
//! [build]
//! target = "wasm32-wasip2"
//!
//! [target.wasm32-wasip2]
//! runner = ["cloudcode", "test"]
//! ```
//!
//! and a test in `tests/` (cargo builds the component before those):
//!
//! ```no_run
//! use cloudcode_testkit::{TestKit, json};
//!
//! #[test]
//! fn hello_answers() {
//!     let kit = TestKit::load();
//!     let result = kit.call_function(&kit.anonymous(), "hello", json!({})).unwrap();
//!     assert_eq!(result, json!({"hello": "world"}));
//! }
//! ```
//!
//! Outside `cloudcode test` (say, a native build of the tests) every call
//! panics: there is no sandbox to talk to.

use std::fmt;
use std::time::Duration;

pub use serde_json::{self, Value, json};

mod bindings {
    wit_bindgen::generate!({
        world: "tests",
        path: "wit",
    });
}

use bindings::cloudcode::testkit::kit;

/// One sandbox with the crate's hooks loaded, over its own in-memory store.
/// Kits do not share anything: each test makes its own.
pub struct TestKit {
    sandbox: kit::Sandbox,
}

/// A Parse error as a client receives it (`{"code": .., "error": ..}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// The Parse error code: 141 when a hook failed, the hook's own code
    /// when it returned an error, 142 for bad parameters, ...
    pub code: u32,
    /// The message the client gets.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (code {})", self.message, self.code)
    }
}

impl std::error::Error for ParseError {}

impl From<kit::ParseError> for ParseError {
    fn from(error: kit::ParseError) -> Self {
        Self {
            code: error.code,
            message: error.message,
        }
    }
}

/// A logged-in device, as [`TestKit::log_in`] returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The session's objectId (what hooks see as `Caller::session_id`).
    pub object_id: String,
    /// Its raw token (what a client sends; hooks never see it).
    pub token: String,
    /// The installation it was opened on.
    pub installation_id: String,
}

impl From<kit::Session> for Session {
    fn from(session: kit::Session) -> Self {
        Self {
            object_id: session.object_id,
            token: session.token,
            installation_id: session.installation_id,
        }
    }
}

impl From<&Session> for kit::Session {
    fn from(session: &Session) -> Self {
        Self {
            object_id: session.object_id.clone(),
            token: session.token.clone(),
            installation_id: session.installation_id.clone(),
        }
    }
}

/// Who makes a request: see [`TestKit::caller`], [`TestKit::master`] and
/// [`TestKit::anonymous`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No session, no master key.
    Anonymous,
    /// The master key.
    Master,
    /// A request with this session's token, from its installation.
    Session(Session),
}

impl From<&Caller> for kit::Caller {
    fn from(caller: &Caller) -> Self {
        match caller {
            Caller::Anonymous => Self::Anonymous,
            Caller::Master => Self::Master,
            Caller::Session(session) => Self::Session(session.into()),
        }
    }
}

/// One line a hook logged or printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// The hook's file name, e.g. `my_hook.wasm`.
    pub hook: String,
    /// `debug`, `info`, `warn` or `error` for log lines; `stdout` or
    /// `stderr` for what it printed.
    pub level: String,
    /// The line.
    pub message: String,
}

/// A session that ended, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedSession {
    /// The session's objectId.
    pub session_id: String,
    /// Its user.
    pub user_id: String,
    /// The installation it was opened on.
    pub installation_id: Option<String>,
    /// Why it ended, as the hooks contract names it: `logout`,
    /// `revoked-by-user`, `revoked-by-hook`, `revoked-by-admin`,
    /// `password-change`, `reuse-detected`, `expired`, `user-deleted` or
    /// `replaced`.
    pub reason: String,
}

impl From<kit::EndedSession> for EndedSession {
    fn from(ended: kit::EndedSession) -> Self {
        Self {
            session_id: ended.session_id,
            user_id: ended.user_id,
            installation_id: ended.installation_id,
            reason: ended.reason,
        }
    }
}

/// One run of a trigger's hooks: after a login, or after a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    /// `"afterLogin"` or `"afterSessionEnd"`.
    pub trigger: String,
    /// For `afterSessionEnd`: the session that ended.
    pub ended: Option<EndedSession>,
    /// The hooks that ran, in order (empty when none asked for the trigger).
    pub ran: Vec<String>,
    /// How each failed one failed.
    pub failures: Vec<String>,
}

/// What a save's afterSave hooks did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AfterSave {
    /// The hooks that ran, in order: empty when no manifest names the
    /// class, so a misspelt class shows here.
    pub ran: Vec<String>,
    /// How each failed one failed (its error, trap or timeout).
    pub failures: Vec<String>,
    /// The caller's new token, when a hook rotated the caller's session.
    pub rotated_token: Option<String>,
}

/// A stored session (never its token). Times are milliseconds since the
/// Unix epoch on the kit's clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    /// The session's objectId.
    pub object_id: String,
    /// Its user.
    pub user_id: String,
    /// The installation it was opened on.
    pub installation_id: Option<String>,
    /// When it was created.
    pub created_at: u64,
    /// When a request last used it.
    pub last_used_at: u64,
    /// When it expires whatever happens (the absolute lifetime).
    pub expires_at: u64,
}

fn to_json(value: &Value) -> String {
    value.to_string()
}

fn from_json(text: &str) -> Value {
    serde_json::from_str(text).expect("the sandbox returns JSON")
}

impl TestKit {
    /// Loads the crate under test, granted every capability its manifest
    /// asks for. Panics with the loader's message if it does not load
    /// (not a component, built without `register_hooks!`, ...).
    ///
    /// ```no_run
    /// # use cloudcode_testkit::TestKit;
    /// let kit = TestKit::load();
    /// assert_eq!(kit.after_save_classes(), ["_User"]);
    /// ```
    #[track_caller]
    pub fn load() -> Self {
        match Self::try_load(None) {
            Ok(kit) => kit,
            Err(error) => panic!("{error}"),
        }
    }

    /// Loads the crate under test with the grants and settings of a hooks
    /// config (the text of a `hooks.toml`, e.g.
    /// `include_str!("../hooks.toml")`), to test what the hook does with a
    /// capability withheld or a setting changed.
    ///
    /// ```no_run
    /// # use cloudcode_testkit::TestKit;
    /// let kit = TestKit::with_hooks_config(r#"
    ///     [hooks."my_hook.wasm"]
    ///     grant = ["log"]
    ///     config = { limit = 3 }
    /// "#);
    /// ```
    #[track_caller]
    pub fn with_hooks_config(toml: &str) -> Self {
        match Self::try_load(Some(toml)) {
            Ok(kit) => kit,
            Err(error) => panic!("{error}"),
        }
    }

    /// [`TestKit::load`] or [`TestKit::with_hooks_config`], with the
    /// loader's message as an error instead of a panic.
    pub fn try_load(hooks_config: Option<&str>) -> Result<Self, String> {
        kit::Sandbox::load(hooks_config).map(|sandbox| Self { sandbox })
    }

    /// Creates a user (no password) and returns its id.
    pub fn create_user(&self, username: &str) -> String {
        self.create_user_with(username, json!({}))
    }

    /// Creates a user with custom fields (a JSON object, e.g.
    /// `json!({"suspended": true})`) and returns its id.
    #[track_caller]
    pub fn create_user_with(&self, username: &str, fields: Value) -> String {
        assert!(fields.is_object(), "a user's fields are a JSON object");
        self.sandbox.create_user(username, &to_json(&fields))
    }

    /// Logs `user_id` in on `installation` as a login with the right
    /// password would: the before-login hooks may refuse it (their error,
    /// or 141 if one fails), then the session starts and the after-login
    /// hooks run (see [`TestKit::fired`]).
    pub fn try_log_in(&self, user_id: &str, installation: &str) -> Result<Session, ParseError> {
        self.sandbox
            .log_in(user_id, installation)
            .map(Session::from)
            .map_err(ParseError::from)
    }

    /// [`TestKit::try_log_in`] for a login that must succeed.
    ///
    /// ```no_run
    /// # use cloudcode_testkit::TestKit;
    /// let kit = TestKit::load();
    /// let alice = kit.create_user("alice");
    /// let phone = kit.log_in(&alice, "phone");
    /// let laptop = kit.log_in(&alice, "laptop");
    /// assert!(kit.is_alive(&phone.token) && kit.is_alive(&laptop.token));
    /// ```
    #[track_caller]
    pub fn log_in(&self, user_id: &str, installation: &str) -> Session {
        match self.try_log_in(user_id, installation) {
            Ok(session) => session,
            Err(error) => panic!("login refused: {error}"),
        }
    }

    /// Logs the session out (`POST /logout`); the after-session-end hooks run.
    pub fn log_out(&self, session: &Session) {
        self.sandbox.log_out(&session.into());
    }

    /// Purges the sessions that have expired by the kit's clock, as the
    /// server's sweeper does (the after-session-end hooks run, reason
    /// `expired`); returns how many.
    pub fn sweep_expired(&self) -> usize {
        self.sandbox.sweep_expired() as usize
    }

    /// The kit's clock, in milliseconds since the Unix epoch. It starts at
    /// 2030-01-01T00:00:00Z and moves only by [`TestKit::advance_clock`].
    pub fn now(&self) -> u64 {
        self.sandbox.now()
    }

    /// Moves the kit's clock on, e.g. past a session's expiry.
    pub fn advance_clock(&self, by: Duration) {
        let millis = u64::try_from(by.as_millis()).expect("a duration in milliseconds fits u64");
        self.sandbox.advance_clock(millis);
    }

    /// A request with this session's token, from its installation.
    pub fn caller(&self, session: &Session) -> Caller {
        Caller::Session(session.clone())
    }

    /// A request with the master key.
    pub fn master(&self) -> Caller {
        Caller::Master
    }

    /// A request without a session.
    pub fn anonymous(&self) -> Caller {
        Caller::Anonymous
    }

    /// Runs a cloud function as the server does for `POST /functions/<name>`:
    /// the function's result, or the error the client would get.
    ///
    /// ```no_run
    /// # use cloudcode_testkit::{TestKit, json};
    /// let kit = TestKit::load();
    /// let alice = kit.create_user("alice");
    /// let phone = kit.log_in(&alice, "phone");
    /// let revoked = kit
    ///     .call_function(&kit.caller(&phone), "logoutFromAllDevices", json!({}))
    ///     .unwrap();
    /// assert_eq!(revoked, json!(1));
    /// assert!(!kit.is_alive(&phone.token));
    /// // Without a session: the hook's own error, as the client gets it.
    /// let error = kit
    ///     .call_function(&kit.anonymous(), "logoutFromAllDevices", json!({}))
    ///     .unwrap_err();
    /// assert_eq!(error.code, 209);
    /// ```
    pub fn call_function(
        &self,
        caller: &Caller,
        name: &str,
        params: Value,
    ) -> Result<Value, ParseError> {
        self.sandbox
            .call_function(&caller.into(), name, &to_json(&params))
            .map(|result| from_json(&result))
            .map_err(ParseError::from)
    }

    /// Runs the afterSave hooks of `class_name` for a write that set the
    /// `changed` fields of `object` (`original`: the object before, for an
    /// update).
    ///
    /// ```no_run
    /// # use cloudcode_testkit::{TestKit, json};
    /// let kit = TestKit::load();
    /// let alice = kit.create_user("alice");
    /// let phone = kit.log_in(&alice, "phone");
    /// let user = json!({"objectId": alice, "username": "alice"});
    /// let saved = kit.after_save(&kit.caller(&phone), "_User", user, None, &["password"]);
    /// assert_eq!(saved.ran, ["my_hook.wasm"], "the trigger fired");
    /// assert!(saved.failures.is_empty(), "{:?}", saved.failures);
    /// ```
    pub fn after_save(
        &self,
        caller: &Caller,
        class_name: &str,
        object: Value,
        original: Option<Value>,
        changed: &[&str],
    ) -> AfterSave {
        let changed: Vec<String> = changed.iter().map(|field| field.to_string()).collect();
        let run = self.sandbox.after_save(
            &caller.into(),
            class_name,
            &to_json(&object),
            original.as_ref().map(to_json).as_deref(),
            &changed,
        );
        AfterSave {
            ran: run.ran,
            failures: run.failures,
            rotated_token: run.rotated_token,
        }
    }

    /// Every run of the after-login and after-session-end hooks so far, in
    /// order: one per login, one per ended session.
    ///
    /// ```no_run
    /// # use cloudcode_testkit::TestKit;
    /// let kit = TestKit::load();
    /// let alice = kit.create_user("alice");
    /// let phone = kit.log_in(&alice, "phone");
    /// kit.log_out(&phone);
    /// let fired = kit.fired();
    /// assert_eq!(fired[0].trigger, "afterLogin");
    /// assert_eq!(fired[1].trigger, "afterSessionEnd");
    /// assert_eq!(fired[1].ended.as_ref().unwrap().reason, "logout");
    /// ```
    pub fn fired(&self) -> Vec<Fired> {
        self.sandbox
            .fired()
            .into_iter()
            .map(|fired| Fired {
                trigger: fired.trigger,
                ended: fired.ended.map(EndedSession::from),
                ran: fired.ran,
                failures: fired.failures,
            })
            .collect()
    }

    /// The sessions that ended so far and why, in order.
    pub fn sessions_ended(&self) -> Vec<EndedSession> {
        self.fired()
            .into_iter()
            .filter_map(|fired| fired.ended)
            .collect()
    }

    /// Everything the hooks logged or printed since the kit loaded them.
    ///
    /// ```no_run
    /// # use cloudcode_testkit::{TestKit, json};
    /// let kit = TestKit::load();
    /// kit.call_function(&kit.anonymous(), "hello", json!({})).unwrap();
    /// let logs = kit.logs();
    /// assert_eq!((logs[0].level.as_str(), logs[0].message.as_str()), ("info", "said hello"));
    /// ```
    pub fn logs(&self) -> Vec<LogLine> {
        self.sandbox
            .logs()
            .into_iter()
            .map(|line| LogLine {
                hook: line.hook,
                level: line.level,
                message: line.message,
            })
            .collect()
    }

    /// Just the messages of [`TestKit::logs`].
    pub fn log_messages(&self) -> Vec<String> {
        self.logs().into_iter().map(|line| line.message).collect()
    }

    /// The classes whose saves run an afterSave hook (what the manifests
    /// declare: a misspelt class shows here).
    pub fn after_save_classes(&self) -> Vec<String> {
        self.sandbox.after_save_classes()
    }

    /// Every stored session of a user, alive or expired but not yet swept.
    pub fn sessions_of(&self, user_id: &str) -> Vec<StoredSession> {
        self.sandbox
            .sessions_of(user_id)
            .into_iter()
            .map(|session| StoredSession {
                object_id: session.object_id,
                user_id: session.user_id,
                installation_id: session.installation_id,
                created_at: session.created_at,
                last_used_at: session.last_used_at,
                expires_at: session.expires_at,
            })
            .collect()
    }

    /// Whether a request with `token` would be accepted now: false once a
    /// hook revoked or rotated the session, or it expired.
    pub fn is_alive(&self, token: &str) -> bool {
        self.sandbox.is_alive(token)
    }
}
