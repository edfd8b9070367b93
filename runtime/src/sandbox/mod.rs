//! Cloud Code hooks as WebAssembly components, run in a wasmtime sandbox.
//!
//! Each invocation gets a fresh instance (from a cached pre-instantiation),
//! its own memory cap and time budget (epoch deadline), an empty WASI
//! context and the `sessions`/`log` imports checked against the request's
//! caller. Invocations are futures: the guest runs on a fiber of the async
//! task that awaits it, so a cloud function costs no thread hop. A guest
//! that computes yields back to the executor at every epoch tick and is
//! stopped when its budget is spent; host calls go to the server's session
//! port ([`SessionPort`]) and are awaited on the same fiber. At most `concurrency` invocations run at once
//! (the size of the instance pool). Whatever goes wrong inside a hook fails
//! only that invocation.

mod builtin;
mod engine;
pub mod failure;
pub mod grants;
pub mod guest_build;
mod host;
mod loader;
mod output;
mod port;
mod view;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use prometheus_client::metrics::gauge::Gauge;
use serde_json::Value;
use tokio::sync::Semaphore;
use wasmtime::{Engine, Store, StoreLimitsBuilder, Trap, UpdateDeadline};

use crate::metrics::{self, Outcome};

pub use self::builtin::sources as builtin_sources;
use self::engine::EpochTicker;
pub use self::failure::{FunctionError, MAX_ERROR_MESSAGE, SandboxError, truncate};
pub use self::grants::{Capabilities, Capability, HooksConfig};
use self::host::{GuestError, HookIdentity, HookState};
use self::loader::Pre;
pub use self::loader::{
    CONTRACT_PACKAGE, CONTRACT_VERSIONS, Contract, HookSource, LoadError, Manifest, compile,
    stub_imports_as_traps,
};
pub use self::output::{HookLog, LogSink};
pub use self::port::{Invoker, SessionPort};
pub use self::view::{MAX_FIELD_BYTES, MAX_OBJECT_BYTES};

/// Largest JSON result a cloud function may return.
const MAX_RESULT_BYTES: usize = 4 << 20;

/// Limits applied to every invocation.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    pub memory_limit: usize,
    pub function_timeout: Duration,
    pub after_save_timeout: Duration,
    /// Simultaneous cloud function invocations, and as many again for
    /// triggers (the instance pool holds both): functions, which anyone can
    /// call, never take the slots that a save's afterSave hooks need.
    pub concurrency: u32,
    /// Where compiled components are cached between starts.
    pub cache_dir: Option<PathBuf>,
    /// Where hooks' log lines and printed output also go (the testkit reads
    /// them back); the server logs them only.
    pub log_sink: Option<LogSink>,
    /// What each hook is granted, and its settings.
    pub hooks_config: HooksConfig,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            memory_limit: 32 << 20,
            function_timeout: Duration::from_secs(5),
            after_save_timeout: Duration::from_secs(1),
            concurrency: 32,
            cache_dir: None,
            log_sink: None,
            hooks_config: HooksConfig::default(),
        }
    }
}

struct LoadedHook {
    identity: Arc<HookIdentity>,
    sha256: String,
    /// Its invocation counters, resolved once.
    metrics: metrics::HookSeries,
    pre: Pre,
    manifest: Manifest,
    /// Imports the host does not provide: calls to them fail.
    unlinked: Vec<String>,
    /// What the hooks config granted it, if its entry says.
    explicit_grant: Option<Capabilities>,
}

impl LoadedHook {
    fn name(&self) -> &Arc<str> {
        &self.identity.name
    }
}

/// A loaded hook as listings show it.
pub struct HookListing<'a> {
    /// Its file name (`builtin:<crate>` for a built-in).
    pub name: &'a str,
    /// The SHA-256 of its component, in hex.
    pub sha256: &'a str,
    pub contract: Contract,
    pub manifest: &'a Manifest,
    /// What it may use: what it asked for and was granted.
    pub granted: Capabilities,
    /// What the operator's hooks config granted it, if its entry says
    /// (else a default applied).
    pub explicit_grant: Option<Capabilities>,
}

impl HookListing<'_> {
    /// What it asked for and was not granted.
    pub fn denied(&self) -> Capabilities {
        self.manifest.capabilities.without(self.granted)
    }
}

/// What `cloudcode check-hook` tells of a component that loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookCheck {
    /// The contract it speaks.
    pub contract: Contract,
    pub manifest: Manifest,
    /// Imports the host does not provide: the hook loads, and a call that
    /// uses one of them fails.
    pub unlinked_imports: Vec<String>,
}

/// Loads one component exactly as the server would (compile, contract
/// check, manifest) and reports on it. Call it off the async executor.
pub fn check_hook(source: HookSource) -> Result<HookCheck, LoadError> {
    let config = SandboxConfig {
        concurrency: 1,
        cache_dir: None,
        ..SandboxConfig::default()
    };
    let sandbox = Sandbox::new(config, vec![source])?;
    let set = sandbox.current();
    let hook = &set.hooks[0];
    Ok(HookCheck {
        contract: hook.pre.contract(),
        manifest: hook.manifest.clone(),
        unlinked_imports: hook.unlinked.clone(),
    })
}

/// One set of loaded hooks, compiled and checked as a whole, and replaced
/// as a whole on reload ([`Sandbox::reload`]). An invocation keeps the set
/// it started with until it ends.
pub struct HookSet {
    hooks: Vec<LoadedHook>,
    functions: HashMap<String, usize>,
    after_save: HashMap<String, Vec<usize>>,
    before_login: Vec<usize>,
    after_login: Vec<usize>,
    after_session_end: Vec<usize>,
    loaded_at: SystemTime,
    /// Entries of the hooks config that name no hook of the set.
    unmatched: Vec<String>,
}

impl HookSet {
    fn empty() -> Self {
        HookSet {
            hooks: Vec::new(),
            functions: HashMap::new(),
            after_save: HashMap::new(),
            before_login: Vec::new(),
            after_login: Vec::new(),
            after_session_end: Vec::new(),
            loaded_at: SystemTime::now(),
            unmatched: Vec::new(),
        }
    }

    /// The hooks, in load order.
    pub fn hooks(&self) -> impl Iterator<Item = HookListing<'_>> {
        self.hooks.iter().map(|h| HookListing {
            name: h.name(),
            sha256: &h.sha256,
            contract: h.pre.contract(),
            manifest: &h.manifest,
            granted: h.identity.granted,
            explicit_grant: h.explicit_grant,
        })
    }

    /// The entries of the hooks config that name none of its hooks.
    pub fn unmatched_config_entries(&self) -> &[String] {
        &self.unmatched
    }

    /// When the set was loaded.
    pub fn loaded_at(&self) -> SystemTime {
        self.loaded_at
    }
}

/// The engine hooks run on, its limits and slots, and the current set of
/// hooks.
pub struct Sandbox {
    engine: Engine,
    linker: wasmtime::component::Linker<HookState>,
    current: ArcSwap<HookSet>,
    config: SandboxConfig,
    function_slots: Slots,
    trigger_slots: Slots,
    after_save_failures: AtomicU64,
    /// Held by a reload, so that two never interleave.
    reloading: std::sync::Mutex<()>,
    ticker: EpochTicker,
}

/// What running the afterSave hooks of a write produced.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AfterSave {
    /// A new token for the caller's session (`rotate-current`), to put in the response.
    pub rotated_token: Option<String>,
    /// The hooks that ran, in order (none when no hook's manifest names the class).
    pub ran: Vec<String>,
    /// How each failed one failed (its error, trap or timeout), in order.
    pub failures: Vec<String>,
}

/// What running the hooks of a trigger produced: which ran, and how each
/// failed one failed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Fired {
    pub ran: Vec<String>,
    pub failures: Vec<String>,
}

/// The data an afterSave hook receives.
#[derive(Debug, Clone)]
pub struct SaveEvent<'a> {
    pub class_name: &'a str,
    pub object: &'a Value,
    pub original: Option<&'a Value>,
    pub changed: Vec<String>,
}

/// A login or signup as the login triggers receive it.
#[derive(Debug, Clone)]
pub struct LoginEvent<'a> {
    /// The user object, without secrets.
    pub user: &'a Value,
    pub signup: bool,
}

/// Why a session ended, as `after-session-end` hooks are told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    Logout,
    RevokedByUser,
    RevokedByHook,
    RevokedByAdmin,
    PasswordChange,
    ReuseDetected,
    Expired,
    UserDeleted,
    Replaced,
}

impl EndReason {
    /// Its name in the contract and in logs: `logout`, `revoked-by-user`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Logout => "logout",
            EndReason::RevokedByUser => "revoked-by-user",
            EndReason::RevokedByHook => "revoked-by-hook",
            EndReason::RevokedByAdmin => "revoked-by-admin",
            EndReason::PasswordChange => "password-change",
            EndReason::ReuseDetected => "reuse-detected",
            EndReason::Expired => "expired",
            EndReason::UserDeleted => "user-deleted",
            EndReason::Replaced => "replaced",
        }
    }
}

/// A session that ended, as `after-session-end` hooks receive it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionEnd {
    pub session_id: String,
    pub user_id: String,
    pub installation_id: Option<String>,
    pub reason: EndReason,
    pub ip: Option<std::net::IpAddr>,
}

/// Why a before-login hook refused a login.
#[derive(Debug, thiserror::Error)]
pub enum LoginRefused {
    /// The hook's own error, for the client.
    #[error("{message}")]
    Hook { code: u32, message: String },
    /// The hook failed (trap, timeout, no slot): the login is refused all
    /// the same (fail closed); the detail is for the log.
    #[error(transparent)]
    Failed(#[from] SandboxError),
}

/// Calls export `$export` (an `ExportIndex`) of `$pre` on a fresh instance
/// with the caller in contract module `$v`'s type, then `$args` of types
/// `$ty`; `$ok` is what it returns on success. The hook's error becomes a
/// [`GuestError`].
macro_rules! call_export {
    ($v:ident, $pre:expr, $store:ident, $invoker:expr, $export:expr,
     ($($arg:expr),*): ($($ty:ty),*) -> $ok:ty) => {{
        let caller = host::$v::Caller::from($invoker);
        $pre.call::<(&host::$v::Caller, $($ty),*), (Result<$ok, host::$v::HookError>,)>(
            &mut *$store,
            $export,
            (&caller, $($arg),*),
        )
        .await
        .map(|(result,)| result.map_err(GuestError::from))
    }};
}

/// Runs export `$export` of a hook on a fresh instance, whichever
/// contract version it speaks (see [`call_export!`]).
macro_rules! run_guest {
    ($pre:expr, $store:ident, $invoker:expr, $export:ident, $($call:tt)*) => {{
        let export = &$pre.exports().$export;
        match $pre.contract() {
            Contract::V0_1 => call_export!(v0_1, $pre, $store, $invoker, export, $($call)*),
            Contract::V0_2 => call_export!(v0_2, $pre, $store, $invoker, export, $($call)*),
        }
    }};
}

/// Like [`run_guest!`] for the exports only contract 0.2.0 has. A 0.1.0
/// hook never gets here (its manifest cannot name them); if it did, it
/// would do nothing.
macro_rules! run_guest_v0_2 {
    ($pre:expr, $store:ident, $invoker:expr, $export:ident, $($call:tt)*) => {
        match &$pre.exports().$export {
            None => Ok(Ok(())),
            Some(export) => call_export!(v0_2, $pre, $store, $invoker, export, $($call)*),
        }
    };
}

impl Sandbox {
    /// Compiles, checks and registers `sources`, granting each hook what
    /// `config.hooks_config` says.
    pub fn new(config: SandboxConfig, sources: Vec<HookSource>) -> Result<Self, LoadError> {
        let engine = engine::new_engine(2 * config.concurrency, config.memory_limit)
            .map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        let ticker = EpochTicker::start(&engine);
        let linker = host::linker(&engine).map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        let sandbox = Sandbox {
            engine,
            linker,
            current: ArcSwap::from_pointee(HookSet::empty()),
            function_slots: Slots::new("function", config.concurrency),
            trigger_slots: Slots::new("trigger", config.concurrency),
            config,
            after_save_failures: AtomicU64::new(0),
            reloading: std::sync::Mutex::new(()),
            ticker,
        };
        let set = sandbox.load_set(sources, &sandbox.config.hooks_config)?;
        sandbox.current.store(Arc::new(set));
        Ok(sandbox)
    }

    /// Replaces the loaded hooks with `sources`, granted what
    /// `hooks_config` says, once all of them compiled, checked and told
    /// their manifests; if any cannot, nothing changes and the error names
    /// the file. Calls in flight finish on the set they started with. Call
    /// it off the async executor.
    pub fn reload(
        &self,
        sources: Vec<HookSource>,
        hooks_config: &HooksConfig,
    ) -> Result<Arc<HookSet>, LoadError> {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        let set = Arc::new(self.load_set(sources, hooks_config)?);
        self.current.store(set.clone());
        Ok(set)
    }

    /// The current set of hooks.
    pub fn current(&self) -> Arc<HookSet> {
        self.current.load_full()
    }

    fn load_set(
        &self,
        sources: Vec<HookSource>,
        hooks_config: &HooksConfig,
    ) -> Result<HookSet, LoadError> {
        let names: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
        let mut set = HookSet::empty();
        // Most likely a typo, or a hook just removed: it grants nothing,
        // so the set loads, and the operator hears of it.
        set.unmatched = hooks_config
            .unmatched(&names)
            .into_iter()
            .map(String::from)
            .collect();
        for name in &set.unmatched {
            tracing::warn!(entry = %name, "the hooks config names a hook that is not loaded; its grants apply to nothing");
        }
        for source in &sources {
            self.load(&mut set, source, hooks_config)?;
        }
        Ok(set)
    }

    fn load(
        &self,
        set: &mut HookSet,
        source: &HookSource,
        hooks_config: &HooksConfig,
    ) -> Result<(), LoadError> {
        let component = loader::compile(&self.engine, source, self.config.cache_dir.as_deref())?;
        let pre = loader::prepare(&self.engine, &self.linker, source, &component)?;
        let unlinked = loader::unlinked_imports(&self.engine, &component);
        let name: Arc<str> = source.name.as_str().into();
        let reading = Arc::new(HookIdentity {
            name: name.clone(),
            granted: Capabilities::NONE,
            config: Default::default(),
        });
        let manifest_error = |e: SandboxError| LoadError::Manifest {
            file: source.name.clone(),
            reason: e.to_string(),
        };
        // The same call in either version; only the answer's type differs.
        macro_rules! call_manifest {
            ($answer:ty) => {
                block_on(self.invoke(
                    &reading,
                    None,
                    &Invoker::default(),
                    Entry::Manifest,
                    async |store| {
                        pre.call::<(), ($answer,)>(store, &pre.exports().manifest, ())
                            .await
                    },
                ))
                .result
                .map_err(manifest_error)?
                .0
            };
        }
        let manifest = match pre.contract() {
            Contract::V0_1 => loader::manifest_v0_1(&name, &call_manifest!(String))?,
            Contract::V0_2 => {
                loader::manifest_v0_2(&name, call_manifest!(host::v0_2::HookManifest))?
            }
        };
        let index = set.hooks.len();
        for function in &manifest.functions {
            if let Some(&other) = set.functions.get(function) {
                return Err(LoadError::DuplicateFunction {
                    name: function.clone(),
                    first: set.hooks[other].name().to_string(),
                    second: source.name.clone(),
                });
            }
            set.functions.insert(function.clone(), index);
        }
        for class in &manifest.after_save {
            set.after_save.entry(class.clone()).or_default().push(index);
        }
        for (on, list) in [
            (manifest.before_login, &mut set.before_login),
            (manifest.after_login, &mut set.after_login),
            (manifest.after_session_end, &mut set.after_session_end),
        ] {
            if on {
                list.push(index);
            }
        }
        let settings = hooks_config.settings(&source.name);
        let granted = grants::granted(&source.name, manifest.capabilities, hooks_config);
        let denied = manifest.capabilities.without(granted);
        tracing::info!(
            hook = %name,
            contract = %pre.contract(),
            functions = ?manifest.functions,
            triggers = ?manifest.triggers(),
            granted = %granted,
            denied = %denied,
            "hook loaded"
        );
        if !denied.is_empty() {
            tracing::warn!(hook = %name, denied = %denied, "hook asks for capabilities it was not granted; calls that need them fail (grant them in --hooks-config)");
        }
        if !unlinked.is_empty() {
            tracing::warn!(hook = %name, imports = ?unlinked, "hook imports what this host does not provide; calls to them fail");
        }
        set.hooks.push(LoadedHook {
            explicit_grant: settings.and_then(|s| s.grant),
            identity: Arc::new(HookIdentity {
                name,
                granted,
                config: settings.map(|s| s.config.clone()).unwrap_or_default(),
            }),
            sha256: source.sha256(),
            metrics: metrics::get().hook_series(&source.name),
            pre,
            manifest,
            unlinked,
        });
        Ok(())
    }

    /// The wasmtime engine hooks run on, with the sandbox's settings (for
    /// benchmarks that measure wasmtime alone on it).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// How many afterSave invocations have failed since start-up.
    pub fn after_save_failures(&self) -> u64 {
        self.after_save_failures.load(Ordering::Relaxed)
    }

    /// Whether any hook runs after saves of `class`.
    pub fn has_after_save(&self, class: &str) -> bool {
        self.current.load().after_save.contains_key(class)
    }

    /// Whether any hook runs before logins; after logins; after sessions end.
    pub fn has_before_login(&self) -> bool {
        !self.current.load().before_login.is_empty()
    }

    pub fn has_after_login(&self) -> bool {
        !self.current.load().after_login.is_empty()
    }

    pub fn has_after_session_end(&self) -> bool {
        !self.current.load().after_session_end.is_empty()
    }

    /// Runs cloud function `name`.
    pub async fn call_function(
        &self,
        port: &Arc<dyn SessionPort>,
        caller: &Invoker,
        name: &str,
        params: &Value,
    ) -> Result<Value, FunctionError> {
        let set = self.current();
        let Some(&index) = set.functions.get(name) else {
            return Err(FunctionError::Unknown(name.to_string()));
        };
        let hook = &set.hooks[index];
        let started = Instant::now();
        let params = view::json(params);
        let outcome = self
            .invoke(
                &hook.identity,
                Some(port),
                caller,
                Entry::Function,
                async |store| {
                    run_guest!(
                        hook.pre, store, caller, call_function,
                        (name, params.as_str()): (&str, &str) -> String
                    )
                },
            )
            .await;
        let result = match outcome.result {
            Ok(Ok(json)) => decode_result(hook.name(), json).map_err(FunctionError::from),
            Ok(Err(hook_error)) => Err(FunctionError::hook(hook_error.code, &hook_error.message)),
            Err(error) => Err(error.into()),
        };
        let outcome = match &result {
            Ok(_) => Outcome::Ok,
            Err(FunctionError::Failed(error)) => {
                tracing::warn!(%error, function = name, "cloud function failed");
                error.outcome()
            }
            Err(_) => Outcome::Error,
        };
        hook.metrics
            .record(metrics::Entry::Function, outcome, started.elapsed());
        result
    }

    /// Runs every afterSave hook of the event's class. Failures are logged
    /// and counted, never returned: the save stands, as in Parse.
    pub async fn after_save(
        &self,
        port: &Arc<dyn SessionPort>,
        caller: &Invoker,
        event: &SaveEvent<'_>,
    ) -> AfterSave {
        let mut saved = AfterSave::default();
        let set = self.current();
        let Some(indices) = set.after_save.get(event.class_name) else {
            return saved;
        };
        let object = view::object_json(event.object);
        let original = event.original.map(view::object_json);
        let entry = Entry::AfterSave {
            // Only a _User save by its owner can have a token to hand back.
            may_rotate: event.class_name == "_User",
        };
        let call = TriggerCall::AfterSave {
            class_name: event.class_name,
            object: &object,
            original: original.as_deref(),
            changed: &event.changed,
        };
        let fired = self.fire(&set, indices, port, caller, entry, &call).await;
        saved.rotated_token = fired.rotated_token;
        saved.ran = fired.ran;
        saved.failures = fired.failures;
        self.after_save_failures
            .fetch_add(saved.failures.len() as u64, Ordering::Relaxed);
        saved
    }

    /// Runs the before-login hooks in load order; the first that refuses
    /// (or fails: a hook that does not run to completion refuses too)
    /// refuses the login.
    pub async fn before_login(
        &self,
        port: &Arc<dyn SessionPort>,
        caller: &Invoker,
        login: &LoginEvent<'_>,
    ) -> Result<(), LoginRefused> {
        let record = login_record(caller, login);
        let set = self.current();
        let call = TriggerCall::BeforeLogin(&record);
        let entry = Entry::Trigger(metrics::Entry::BeforeLogin);
        for &index in &set.before_login {
            let hook = &set.hooks[index];
            match self.trigger(hook, port, caller, entry, &call).await.result {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    let (code, message) = failure::client_error(e.code, &e.message);
                    return Err(LoginRefused::Hook { code, message });
                }
                Err(error) => {
                    tracing::warn!(hook = %hook.name(), %error, "before-login hook failed; the login is refused");
                    return Err(LoginRefused::Failed(error));
                }
            }
        }
        Ok(())
    }

    /// Runs the after-login hooks (after a login or signup created the
    /// caller's session). Failures are logged; the login stands.
    pub async fn after_login(
        &self,
        port: &Arc<dyn SessionPort>,
        caller: &Invoker,
        login: &LoginEvent<'_>,
    ) -> Fired {
        let record = login_record(caller, login);
        let entry = Entry::Trigger(metrics::Entry::AfterLogin);
        let call = TriggerCall::AfterLogin(&record);
        let set = self.current();
        self.fire(&set, &set.after_login, port, caller, entry, &call)
            .await
            .into()
    }

    /// Runs the after-session-end hooks for a session that ended, on behalf
    /// of its user. Failures are logged; nothing can undo the ending.
    pub async fn after_session_end(
        &self,
        port: &Arc<dyn SessionPort>,
        ended: &SessionEnd,
    ) -> Fired {
        let caller = Invoker {
            user_id: Some(ended.user_id.clone()),
            ip: ended.ip,
            ..Invoker::default()
        };
        let record = host::v0_2::EndedSession {
            object_id: ended.session_id.clone(),
            user_id: ended.user_id.clone(),
            installation_id: ended.installation_id.clone(),
            reason: ended.reason.into(),
            client_address: ended.ip.map(|ip| ip.to_string()),
        };
        let entry = Entry::Trigger(metrics::Entry::AfterSessionEnd);
        let call = TriggerCall::AfterSessionEnd(&record);
        let set = self.current();
        self.fire(&set, &set.after_session_end, port, &caller, entry, &call)
            .await
            .into()
    }

    /// Runs the hooks `indices` of a trigger that cannot fail its event,
    /// in order, each on a fresh instance: failures are logged and told.
    async fn fire(
        &self,
        set: &HookSet,
        indices: &[usize],
        port: &Arc<dyn SessionPort>,
        caller: &Invoker,
        entry: Entry,
        call: &TriggerCall<'_>,
    ) -> Triggered {
        let mut fired = Triggered::default();
        let series = entry.series();
        for &index in indices {
            let hook = &set.hooks[index];
            let invocation = self.trigger(hook, port, caller, entry, call).await;
            if let Some(token) = invocation.rotated_token {
                fired.rotated_token = Some(token);
            }
            let failure = match invocation.result {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(format!("{} (code {})", e.message, e.code)),
                Err(e) => Some(e.to_string()),
            };
            fired.ran.push(hook.name().to_string());
            let Some(failure) = failure else {
                continue;
            };
            let stands = match series {
                metrics::Entry::AfterSave => "afterSave hook failed; the save stands",
                metrics::Entry::AfterLogin => "afterLogin hook failed; the login stands",
                _ => "afterSessionEnd hook failed; the session ended all the same",
            };
            tracing::warn!(hook = %hook.name(), error = %failure, "{stands}");
            fired.failures.push(failure);
        }
        fired
    }

    /// Runs one hook of a trigger on a fresh instance, and counts it in
    /// the hook's metrics.
    async fn trigger(
        &self,
        hook: &LoadedHook,
        port: &Arc<dyn SessionPort>,
        caller: &Invoker,
        entry: Entry,
        call: &TriggerCall<'_>,
    ) -> Invocation<Result<(), GuestError>> {
        let started = Instant::now();
        let invocation = self
            .invoke(&hook.identity, Some(port), caller, entry, async |store| {
                call.run(&hook.pre, store, caller).await
            })
            .await;
        let outcome = match &invocation.result {
            Ok(Ok(())) => Outcome::Ok,
            Ok(Err(_)) => Outcome::Error,
            Err(e) => e.outcome(),
        };
        hook.metrics
            .record(entry.series(), outcome, started.elapsed());
        invocation
    }

    /// One invocation: once a slot is free, a fresh instance with its own
    /// store, memory cap and time budget, then `call`, then the guest's
    /// output to the log. The budget counts from the start and bounds the
    /// wall-clock time; a computing guest yields to the executor at every
    /// epoch tick until it is spent.
    async fn invoke<R>(
        &self,
        hook: &Arc<HookIdentity>,
        port: Option<&Arc<dyn SessionPort>>,
        caller: &Invoker,
        entry: Entry,
        call: impl AsyncFnOnce(&mut Store<HookState>) -> wasmtime::Result<R>,
    ) -> Invocation<R> {
        let started = Instant::now();
        let (budget, may_rotate, slots) = match entry {
            Entry::Manifest | Entry::Trigger(_) => {
                (self.config.after_save_timeout, false, &self.trigger_slots)
            }
            Entry::Function => (self.config.function_timeout, false, &self.function_slots),
            Entry::AfterSave { may_rotate } => (
                self.config.after_save_timeout,
                may_rotate,
                &self.trigger_slots,
            ),
        };
        // The budget counts from here, the wait for a slot included.
        let deadline = tokio::time::Instant::from_std(started + budget);
        let Some(_slot) = tokio::time::timeout_at(deadline, slots.free.acquire())
            .await
            .ok()
            .and_then(Result::ok)
        else {
            return Invocation {
                result: Err(SandboxError::Busy),
                rotated_token: None,
            };
        };
        let _in_use = SlotInUse::take(&slots.in_use);
        let limits = StoreLimitsBuilder::new()
            .memory_size(self.config.memory_limit)
            .trap_on_grow_failure(true)
            .build();
        let state = HookState::new(
            port.cloned(),
            caller.clone(),
            hook.clone(),
            limits,
            may_rotate,
            self.config.log_sink.clone(),
        );
        // From here until the store is dropped its guest may run: the epoch
        // must advance for the deadline to stop it.
        let _ticking = self.ticker.hold();
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limits);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            Ok(if started.elapsed() < budget {
                UpdateDeadline::Yield(1)
            } else {
                UpdateDeadline::Interrupt
            })
        });
        let name = &hook.name;
        // The epoch stops a guest that computes; a guest waiting inside the
        // host (a WASI sleep, a slow write) is stopped here, by dropping the
        // call, which unwinds its fiber. A write already handed to the
        // blocking pool still completes.
        let result = match tokio::time::timeout_at(deadline, call(&mut store)).await {
            Ok(result) => result.map_err(|error| classify(name, error)),
            Err(_) => Err(SandboxError::Timeout {
                hook: name.to_string(),
            }),
        };
        let state = store.into_data();
        let result = match result {
            Err(SandboxError::Trap { .. }) if state.limits.memory_exceeded => {
                Err(SandboxError::OutOfMemory {
                    hook: name.to_string(),
                })
            }
            other => other,
        };
        state.forward_output();
        Invocation {
            result,
            rotated_token: state.rotated_token,
        }
    }
}

/// A trigger's export and its arguments.
enum TriggerCall<'a> {
    AfterSave {
        class_name: &'a str,
        object: &'a str,
        original: Option<&'a str>,
        changed: &'a [String],
    },
    BeforeLogin(&'a host::v0_2::Login),
    AfterLogin(&'a host::v0_2::Login),
    AfterSessionEnd(&'a host::v0_2::EndedSession),
}

impl TriggerCall<'_> {
    /// Runs it on a fresh instance of `pre`.
    async fn run(
        &self,
        pre: &Pre,
        store: &mut Store<HookState>,
        caller: &Invoker,
    ) -> wasmtime::Result<Result<(), GuestError>> {
        match *self {
            TriggerCall::AfterSave {
                class_name,
                object,
                original,
                changed,
            } => run_guest!(
                pre, store, caller, after_save,
                (class_name, object, original, changed): (&str, &str, Option<&str>, &[String]) -> ()
            ),
            TriggerCall::BeforeLogin(login) => run_guest_v0_2!(
                pre, store, caller, before_login,
                (login): (&host::v0_2::Login) -> ()
            ),
            TriggerCall::AfterLogin(login) => run_guest_v0_2!(
                pre, store, caller, after_login,
                (login): (&host::v0_2::Login) -> ()
            ),
            TriggerCall::AfterSessionEnd(ended) => run_guest_v0_2!(
                pre, store, caller, after_session_end,
                (ended): (&host::v0_2::EndedSession) -> ()
            ),
        }
    }
}

/// What [`Sandbox::fire`] gathered.
#[derive(Default)]
struct Triggered {
    ran: Vec<String>,
    failures: Vec<String>,
    rotated_token: Option<String>,
}

impl From<Triggered> for Fired {
    fn from(t: Triggered) -> Self {
        Fired {
            ran: t.ran,
            failures: t.failures,
        }
    }
}

fn login_record(caller: &Invoker, login: &LoginEvent<'_>) -> host::v0_2::Login {
    host::v0_2::Login {
        user_json: view::object_json(login.user),
        signup: login.signup,
        installation_id: caller.installation_id.clone(),
        client_address: caller.ip.map(|ip| ip.to_string()),
    }
}

impl From<EndReason> for host::v0_2::EndReason {
    fn from(reason: EndReason) -> Self {
        use host::v0_2::EndReason as Wit;
        match reason {
            EndReason::Logout => Wit::Logout,
            EndReason::RevokedByUser => Wit::RevokedByUser,
            EndReason::RevokedByHook => Wit::RevokedByHook,
            EndReason::RevokedByAdmin => Wit::RevokedByAdmin,
            EndReason::PasswordChange => Wit::PasswordChange,
            EndReason::ReuseDetected => Wit::ReuseDetected,
            EndReason::Expired => Wit::Expired,
            EndReason::UserDeleted => Wit::UserDeleted,
            EndReason::Replaced => Wit::Replaced,
        }
    }
}

/// A pool of sandbox slots (one for functions, one for triggers), and the
/// gauge of those in use.
struct Slots {
    free: Semaphore,
    in_use: Gauge,
}

impl Slots {
    /// `size` slots, counted under `kind` in the metrics.
    fn new(kind: &'static str, size: u32) -> Self {
        let metrics = metrics::get();
        metrics
            .hook_slots
            .get_or_create(&metrics::SlotLabels { kind })
            .set(i64::from(size));
        Slots {
            free: Semaphore::new(size as usize),
            in_use: metrics.slots_in_use(kind),
        }
    }
}

/// Counts a slot in use on its pool's gauge for as long as it lives.
struct SlotInUse<'a>(&'a Gauge);

impl<'a> SlotInUse<'a> {
    fn take(gauge: &'a Gauge) -> Self {
        gauge.inc();
        SlotInUse(gauge)
    }
}

impl Drop for SlotInUse<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A cloud function's result from its JSON, bounded in size.
fn decode_result(hook: &str, json: String) -> Result<Value, SandboxError> {
    let bad_output = |reason: String| SandboxError::BadOutput {
        hook: hook.to_string(),
        reason,
    };
    if json.len() > MAX_RESULT_BYTES {
        return Err(bad_output(format!("{} bytes of result", json.len())));
    }
    serde_json::from_str(&json).map_err(|e| bad_output(e.to_string()))
}

/// What an invocation is for: it decides the time budget and whether the
/// hook may rotate the caller's token.
#[derive(Clone, Copy)]
enum Entry {
    Manifest,
    Function,
    AfterSave {
        may_rotate: bool,
    },
    /// A lifecycle trigger, by the series its metrics go to.
    Trigger(metrics::Entry),
}

impl Entry {
    /// The metrics series of a trigger's invocations.
    fn series(self) -> metrics::Entry {
        match self {
            Entry::Trigger(series) => series,
            Entry::AfterSave { .. } => metrics::Entry::AfterSave,
            Entry::Manifest | Entry::Function => metrics::Entry::Function,
        }
    }
}

struct Invocation<R> {
    result: Result<R, SandboxError>,
    rotated_token: Option<String>,
}

/// Runs a future to completion from synchronous code: on a blocking-pool
/// thread (start-up, services that save), through the current runtime; with
/// no runtime at all (tests), on a private one.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => runtime.block_on(future),
        Err(_) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime for a hook call")
            .block_on(future),
    }
}

fn classify(hook: &str, error: wasmtime::Error) -> SandboxError {
    if error.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        return SandboxError::Timeout {
            hook: hook.to_string(),
        };
    }
    SandboxError::Trap {
        hook: hook.to_string(),
        reason: format!("{error:#}"),
    }
}
