//! Test a hook crate inside the real sandbox from plain `cargo test`.
//!
//! [`TestKit::for_crate`] builds the crate for `wasm32-wasip2` (a nested
//! Cargo with its own target directory), loads the component into the same
//! engine the server uses, over an in-memory store and a manual clock. Tests
//! seed users and sessions, call functions and afterSave, and inspect the
//! session table, which hooks a save ran ([`AfterSave::ran`]) and what the
//! hooks logged or printed ([`TestKit::logs`]).
//!
//! ```no_run
//! use cloudcode_runtime::testkit::TestKit;
//! use serde_json::json;
//!
//! let kit = TestKit::for_crate(env!("CARGO_MANIFEST_DIR"));
//! let alice = kit.create_user("alice");
//! let phone = kit.log_in(&alice, "phone");
//! let result = kit.call_function(&kit.caller(&phone), "hello", json!({})).unwrap();
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::Core;
use crate::auth::{Caller, Credentials};
use crate::clock::{Clock, ManualClock, Millis};
use crate::config::Config;
use crate::error::Error;
use crate::policy::SessionPolicy;
use crate::sandbox::grants::HookSettings;
use crate::sandbox::{self, Invoker, SessionEnd};
use crate::sandbox::{
    AfterSave, Capabilities, HookLog, HookSource, HooksConfig, LoadError, LogSink, Sandbox,
    SandboxConfig, SaveEvent, block_on, guest_build,
};
use crate::service::hooks::session_end;
use crate::store::{Ended, Event, SessionRecord, Store, Trail, UserRecord};
use crate::token;

pub mod runner;

/// A logged-in device: its session id and raw token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestSession {
    pub object_id: String,
    pub token: String,
    /// The installation the session was opened on.
    pub installation_id: String,
}

/// One sandbox with the hook under test, over an in-memory store.
pub struct TestKit {
    core: Core,
    clock: Arc<ManualClock>,
    logs: LogSink,
    /// The sessions that end, as the store reports them.
    ends: Mutex<mpsc::UnboundedReceiver<Ended>>,
    /// What the after-login and after-session-end hooks were given and did.
    fired: Mutex<Vec<Fired>>,
}

/// One run of a trigger's hooks, as [`TestKit::fired`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    /// `"afterLogin"` or `"afterSessionEnd"`.
    pub trigger: &'static str,
    /// For `afterSessionEnd`: the session that ended and why.
    pub ended: Option<SessionEnd>,
    /// The hooks that ran, in order.
    pub ran: Vec<String>,
    /// How each failed one failed.
    pub failures: Vec<String>,
}

/// Builds the hook crate in `crate_dir` once per test process and returns its component.
pub fn build_component(crate_dir: &Path) -> Vec<u8> {
    static BUILT: Mutex<Option<HashMap<PathBuf, Vec<u8>>>> = Mutex::new(None);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    let built = built.get_or_insert_with(HashMap::new);
    if let Some(bytes) = built.get(crate_dir) {
        return bytes.clone();
    }
    let package = guest_build::package_name(crate_dir).unwrap_or_else(|e| panic!("{e}"));
    let workspace = guest_build::workspace_of(crate_dir).unwrap_or_else(|e| panic!("{e}"));
    let target_dir = nested_target_dir();
    let component = guest_build::build_packages(&workspace, &[package.as_str()], &target_dir)
        .unwrap_or_else(|e| panic!("{e}"))
        .remove(0);
    let bytes =
        std::fs::read(&component).unwrap_or_else(|e| panic!("{}: {e}", component.display()));
    built.insert(crate_dir.to_path_buf(), bytes.clone());
    bytes
}

/// `<target>/<profile>/wasm-hooks`, shared with the runtime's build script.
fn nested_target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    // A test executable lives in <target>/<profile>/deps/.
    exe.ancestors()
        .nth(2)
        .map(|profile| profile.join("wasm-hooks"))
        .expect("test executable inside a Cargo target directory")
}

fn test_config(logs: LogSink, cache_dir: PathBuf) -> Config {
    Config {
        sandbox: SandboxConfig {
            cache_dir: Some(cache_dir),
            log_sink: Some(logs),
            ..SandboxConfig::default()
        },
        ..Config::in_memory_defaults()
    }
}

/// A hooks config that grants each of `sources` every capability (a hook
/// gets what its manifest asks for).
pub fn all_granted(sources: &[HookSource]) -> HooksConfig {
    let mut hooks_config = HooksConfig::default();
    for source in sources {
        let settings = HookSettings {
            grant: Some(Capabilities::all()),
            ..HookSettings::default()
        };
        hooks_config.set(&source.name, settings);
    }
    hooks_config
}

/// The manual clock's starting time: 2030-01-01T00:00:00Z.
pub const START: Millis = 1_893_456_000_000;

impl TestKit {
    /// Builds the hook crate at `crate_dir` (pass `env!("CARGO_MANIFEST_DIR")`)
    /// and loads it. Panics with the loader's message if it does not load.
    pub fn for_crate(crate_dir: &str) -> Self {
        // The first kit of a process compiles the component and fills the
        // compile cache while the others wait, instead of all compiling at once.
        static FIRST: Mutex<()> = Mutex::new(());
        let _first = FIRST.lock().unwrap_or_else(|e| e.into_inner());
        let dir = Path::new(crate_dir);
        let bytes = build_component(dir);
        let source = HookSource {
            name: format!(
                "{}.wasm",
                dir.file_name().unwrap_or_default().to_string_lossy()
            ),
            bytes,
        };
        Self::with_sources(vec![source]).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Loads the given components, each granted what it asks for.
    pub fn with_sources(sources: Vec<HookSource>) -> Result<Self, LoadError> {
        let hooks_config = all_granted(&sources);
        Self::with_config(sources, hooks_config)
    }

    /// Loads the given components with the operator's grants and settings
    /// (e.g. [`HooksConfig::parse`] of a hooks config file), to test what a
    /// hook does with a grant withheld or a setting changed.
    pub fn with_config(
        sources: Vec<HookSource>,
        hooks_config: HooksConfig,
    ) -> Result<Self, LoadError> {
        let cache_dir = nested_target_dir().join("compiled");
        Self::with_compile_cache(sources, hooks_config, cache_dir)
    }

    /// [`TestKit::with_config`], keeping compiled components in `cache_dir`.
    pub fn with_compile_cache(
        sources: Vec<HookSource>,
        hooks_config: HooksConfig,
        cache_dir: PathBuf,
    ) -> Result<Self, LoadError> {
        let logs = LogSink::default();
        let mut config = test_config(logs.clone(), cache_dir);
        config.sandbox.hooks_config = hooks_config;
        let sandbox = Sandbox::new(config.sandbox.clone(), sources)?;
        let clock = Arc::new(ManualClock::new(START));
        let store = Store::in_memory().expect("in-memory SQLite");
        let ends = store
            .watch_session_ends()
            .expect("a new store has no watcher");
        let core = Core::new(store, config, clock.clone(), sandbox);
        // What the hooks said while loading is not what a test asks about.
        logs.lock().unwrap_or_else(|e| e.into_inner()).clear();
        Ok(Self {
            core,
            clock,
            logs,
            ends: Mutex::new(ends),
            fired: Mutex::default(),
        })
    }

    /// Every run of the after-login and after-session-end hooks so far
    /// (one per login, one per ended session), in order: which hooks ran
    /// and how any failed. A session that ends with no such hook loaded
    /// is listed too, with no hook run.
    pub fn fired(&self) -> Vec<Fired> {
        self.fired.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The sessions that ended so far and why, in order.
    pub fn sessions_ended(&self) -> Vec<SessionEnd> {
        self.fired()
            .into_iter()
            .filter_map(|fired| fired.ended)
            .collect()
    }

    fn record(&self, trigger: &'static str, ended: Option<SessionEnd>, run: sandbox::Fired) {
        self.fired
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Fired {
                trigger,
                ended,
                ran: run.ran,
                failures: run.failures,
            });
    }

    /// Runs the after-session-end hooks on the sessions that ended, as the
    /// server does in the background; here, before the kit call returns, so
    /// a test sees what they did. Endings the hooks cause run in turn (a
    /// bounded number of rounds).
    fn settle(&self) {
        for _ in 0..16 {
            let ended: Vec<Ended> = {
                let mut ends = self.ends.lock().unwrap_or_else(|e| e.into_inner());
                std::iter::from_fn(|| ends.try_recv().ok()).collect()
            };
            if ended.is_empty() {
                return;
            }
            for end in ended.into_iter().filter_map(session_end) {
                let run = block_on(self.core.sandbox.after_session_end(&self.core.port(), &end));
                self.record("afterSessionEnd", Some(end), run);
            }
        }
    }

    /// Everything the hooks logged (`log::info!` and friends) or printed
    /// since the kit loaded them, in order.
    pub fn logs(&self) -> Vec<HookLog> {
        self.logs.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The classes whose saves run an afterSave hook of the kit (what the
    /// manifests declare: a misspelt class shows here).
    pub fn after_save_classes(&self) -> Vec<String> {
        let mut classes: Vec<String> = self
            .core
            .sandbox
            .current()
            .hooks()
            .flat_map(|hook| hook.manifest.after_save.iter().cloned())
            .collect();
        classes.sort();
        classes.dedup();
        classes
    }

    /// The clock every expiry is measured against.
    pub fn clock(&self) -> &ManualClock {
        &self.clock
    }

    /// The session policy in force (30 days absolute, 7 days idle).
    pub fn policy(&self) -> SessionPolicy {
        self.core.config.session_policy
    }

    /// The kit's server state, for tests that call services directly.
    pub fn core(&self) -> &Core {
        &self.core
    }

    /// Creates a user (no password) and returns its id.
    pub fn create_user(&self, username: &str) -> String {
        self.create_user_with(username, json!({}))
    }

    /// Creates a user (no password) with custom `fields` (a JSON object,
    /// e.g. `{"suspended": true}`) and returns its id.
    pub fn create_user_with(&self, username: &str, fields: Value) -> String {
        let Value::Object(fields) = fields else {
            panic!("a user's fields are a JSON object");
        };
        let now = self.clock.now();
        let id = token::object_id();
        let user = UserRecord {
            object_id: id.clone(),
            username: username.into(),
            email: None,
            password_hash: None,
            fields,
            created_at: now,
            updated_at: now,
        };
        block_on(
            self.core
                .store
                .create_user(&user, None, Trail::new(now, None)),
        )
        .expect("create user");
        id
    }

    fn user(&self, user_id: &str) -> Arc<UserRecord> {
        block_on(self.core.store.user(user_id))
            .expect("read user")
            .unwrap_or_else(|| panic!("no user {user_id}"))
    }

    /// Logs `user_id` in on `installation` as a login with the right
    /// password would: the before-login hooks may refuse it (their error, or
    /// 141 if one fails), then the session starts, then the after-login
    /// hooks run (see [`TestKit::fired`]).
    pub fn try_log_in(&self, user_id: &str, installation: &str) -> Result<TestSession, Error> {
        let user = self.user(user_id);
        let device = crate::service::device(&user, Some(installation.to_string()), None);
        block_on(crate::service::before_login(
            &self.core,
            device.clone(),
            &user,
        ))?;
        let (session, minted) = crate::service::sessions::new_session(
            &self.core,
            user_id,
            Some(installation.to_string()),
            json!({"action": "login", "authProvider": "password"}),
        );
        let trail = Trail::new(self.clock.now(), None);
        block_on(
            self.core
                .store
                .create_session(&session, &minted.hash, None, trail),
        )?;
        let device = Invoker {
            session_id: Some(session.object_id.clone()),
            ..device
        };
        let run = block_on(crate::service::after_login(
            &self.core, device, &user, false,
        ));
        self.record("afterLogin", None, run);
        self.settle();
        Ok(TestSession {
            object_id: session.object_id,
            token: minted.raw,
            installation_id: installation.to_string(),
        })
    }

    /// [`TestKit::try_log_in`] for tests that expect the login to succeed.
    pub fn log_in(&self, user_id: &str, installation: &str) -> TestSession {
        self.try_log_in(user_id, installation)
            .unwrap_or_else(|e| panic!("login refused: {e}"))
    }

    /// Logs the session out (`POST /logout`); the after-session-end hooks run.
    pub fn log_out(&self, session: &TestSession) {
        let trail = Trail::new(self.clock.now(), None);
        block_on(
            self.core
                .store
                .delete_session(&session.object_id, Event::LoggedOut, trail),
        )
        .expect("delete session");
        self.settle();
    }

    /// Purges the sessions that have expired by the kit's clock, as the
    /// server's sweeper does; the after-session-end hooks run (reason
    /// `expired`). Returns how many were purged.
    pub fn sweep_expired(&self) -> usize {
        let policy = self.core.config.session_policy;
        let swept = block_on(
            self.core
                .store
                .sweep_expired_sessions(&policy, self.clock.now()),
        )
        .expect("sweep");
        self.settle();
        swept.len()
    }

    /// The caller a request with this session's token resolves to, sent
    /// from the session's installation.
    pub fn caller(&self, session: &TestSession) -> Caller {
        self.try_caller(session).expect("the session is alive")
    }

    /// [`TestKit::caller`], or the error a request with a dead session gets.
    pub fn try_caller(&self, session: &TestSession) -> Result<Caller, Error> {
        block_on(self.core.authenticate(Credentials {
            session_token: Some(session.token.clone()),
            installation_id: Some(session.installation_id.clone()),
            ..Credentials::default()
        }))
    }

    /// A request with the master key.
    pub fn master(&self) -> Caller {
        Caller {
            master: true,
            ..Caller::default()
        }
    }

    /// A request without a session.
    pub fn anonymous(&self) -> Caller {
        Caller::default()
    }

    /// Runs a cloud function as the server would for `POST /functions/<name>`.
    pub fn call_function(
        &self,
        caller: &Caller,
        name: &str,
        params: Value,
    ) -> Result<Value, Error> {
        let result = block_on(self.core.sandbox.call_function(
            &self.core.port(),
            &caller.into(),
            name,
            &params,
        ))
        .map_err(Error::from);
        self.settle();
        result
    }

    /// Runs the afterSave hooks of `class_name` for a write that set
    /// `changed`; [`AfterSave::ran`] names the hooks that ran, so a test can
    /// tell a trigger that fired from one that never did.
    pub fn after_save(
        &self,
        caller: &Caller,
        class_name: &str,
        object: Value,
        original: Option<Value>,
        changed: &[&str],
    ) -> AfterSave {
        let event = SaveEvent {
            class_name,
            object: &object,
            original: original.as_ref(),
            changed: changed.iter().map(|s| s.to_string()).collect(),
        };
        let saved = block_on(self.core.sandbox.after_save(
            &self.core.port(),
            &caller.into(),
            &event,
        ));
        self.settle();
        saved
    }

    /// How many afterSave invocations failed so far.
    pub fn after_save_failures(&self) -> u64 {
        self.core.sandbox.after_save_failures()
    }

    /// Every stored session of a user (dead or alive).
    pub fn sessions_of(&self, user_id: &str) -> Vec<SessionRecord> {
        block_on(self.core.store.sessions(Some(user_id))).expect("list sessions")
    }

    /// Whether a request with `token` would be accepted now.
    pub fn is_alive(&self, token: &str) -> bool {
        block_on(self.core.authenticate(Credentials {
            session_token: Some(token.to_string()),
            ..Credentials::default()
        }))
        .is_ok()
    }
}
