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
use std::time::{Duration, Instant};

use prometheus_client::metrics::gauge::Gauge;
use serde_json::Value;
use tokio::sync::Semaphore;
use wasmtime::{Engine, Store, StoreLimitsBuilder, Trap, UpdateDeadline};

use crate::metrics::{self, Outcome};

pub use self::builtin::sources as builtin_sources;
use self::engine::EpochTicker;
pub use self::failure::{FunctionError, MAX_ERROR_MESSAGE, SandboxError, truncate};
use self::host::{CloudCode, CloudCodePre, HookState};
pub use self::loader::{CONTRACT_PACKAGE, CONTRACT_VERSION, HookSource, LoadError, Manifest};
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
        }
    }
}

struct LoadedHook {
    name: Arc<str>,
    sha256: String,
    /// Its invocation counters, resolved once.
    metrics: metrics::HookSeries,
    pre: CloudCodePre<HookState>,
    manifest: Manifest,
    /// Imports the host does not provide: calls to them fail.
    unlinked: Vec<String>,
}

/// A loaded hook as listings show it.
pub struct HookListing<'a> {
    /// Its file name (`builtin:<crate>` for a built-in).
    pub name: &'a str,
    /// The SHA-256 of its component, in hex.
    pub sha256: &'a str,
    pub manifest: &'a Manifest,
}

/// What `cloudcode check-hook` tells of a component that loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookCheck {
    /// The contract it speaks, `package@version`.
    pub contract: String,
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
    let hook = &sandbox.hooks[0];
    Ok(HookCheck {
        contract: format!("{CONTRACT_PACKAGE}@{CONTRACT_VERSION}"),
        manifest: hook.manifest.clone(),
        unlinked_imports: hook.unlinked.clone(),
    })
}

/// The loaded hooks and everything needed to run them.
pub struct Sandbox {
    engine: Engine,
    hooks: Vec<LoadedHook>,
    functions: HashMap<String, usize>,
    after_save: HashMap<String, Vec<usize>>,
    config: SandboxConfig,
    function_slots: Slots,
    trigger_slots: Slots,
    after_save_failures: AtomicU64,
    _ticker: EpochTicker,
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

/// The data an afterSave hook receives.
#[derive(Debug, Clone)]
pub struct SaveEvent<'a> {
    pub class_name: &'a str,
    pub object: &'a Value,
    pub original: Option<&'a Value>,
    pub changed: Vec<String>,
}

impl Sandbox {
    /// Compiles, checks and registers `sources`.
    pub fn new(config: SandboxConfig, sources: Vec<HookSource>) -> Result<Self, LoadError> {
        let engine = engine::new_engine(2 * config.concurrency, config.memory_limit)
            .map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        let ticker = EpochTicker::start(&engine);
        let linker = host::linker(&engine).map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        let mut sandbox = Sandbox {
            engine,
            hooks: Vec::new(),
            functions: HashMap::new(),
            after_save: HashMap::new(),
            function_slots: Slots::new("function", config.concurrency),
            trigger_slots: Slots::new("trigger", config.concurrency),
            config,
            after_save_failures: AtomicU64::new(0),
            _ticker: ticker,
        };
        for source in sources {
            sandbox.load(&linker, &source)?;
        }
        Ok(sandbox)
    }

    fn load(
        &mut self,
        linker: &wasmtime::component::Linker<HookState>,
        source: &HookSource,
    ) -> Result<(), LoadError> {
        let component = loader::compile(&self.engine, source, self.config.cache_dir.as_deref())?;
        let pre = loader::prepare(&self.engine, linker, source, &component)?;
        let unlinked = loader::unlinked_imports(&self.engine, &component);
        let name: Arc<str> = source.name.as_str().into();
        let json = block_on(self.invoke(
            &pre,
            &name,
            None,
            &Invoker::default(),
            Entry::Manifest,
            async |hook, store| hook.cloudcode_hooks_hooks().call_manifest(store).await,
        ))
        .result
        .map_err(|e| LoadError::Manifest {
            file: source.name.clone(),
            reason: e.to_string(),
        })?;
        let manifest = loader::parse_manifest(&name, &json)?;
        let index = self.hooks.len();
        for function in &manifest.functions {
            if let Some(&other) = self.functions.get(function) {
                return Err(LoadError::DuplicateFunction {
                    name: function.clone(),
                    first: self.hooks[other].name.to_string(),
                    second: source.name.clone(),
                });
            }
            self.functions.insert(function.clone(), index);
        }
        for class in &manifest.after_save {
            self.after_save
                .entry(class.clone())
                .or_default()
                .push(index);
        }
        tracing::info!(hook = %name, functions = ?manifest.functions, after_save = ?manifest.after_save, "hook loaded");
        if !unlinked.is_empty() {
            tracing::warn!(hook = %name, imports = ?unlinked, "hook imports what this host does not provide; calls to them fail");
        }
        self.hooks.push(LoadedHook {
            name,
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

    /// The loaded hooks, in load order.
    pub fn hooks(&self) -> impl Iterator<Item = HookListing<'_>> {
        self.hooks.iter().map(|h| HookListing {
            name: &h.name,
            sha256: &h.sha256,
            manifest: &h.manifest,
        })
    }

    /// How many afterSave invocations have failed since start-up.
    pub fn after_save_failures(&self) -> u64 {
        self.after_save_failures.load(Ordering::Relaxed)
    }

    /// Whether any hook runs after saves of `class`.
    pub fn has_after_save(&self, class: &str) -> bool {
        self.after_save.contains_key(class)
    }

    /// Runs cloud function `name`.
    pub async fn call_function(
        &self,
        port: &Arc<dyn SessionPort>,
        caller: &Invoker,
        name: &str,
        params: &Value,
    ) -> Result<Value, FunctionError> {
        let Some(&index) = self.functions.get(name) else {
            return Err(FunctionError::Unknown(name.to_string()));
        };
        let hook = &self.hooks[index];
        let started = Instant::now();
        let wit_caller = HookState::wit_caller(caller);
        let params = params.to_string();
        let outcome = self
            .invoke(
                &hook.pre,
                &hook.name,
                Some(port),
                caller,
                Entry::Function,
                async |h, store| {
                    h.cloudcode_hooks_hooks()
                        .call_call_function(store, &wit_caller, name, &params)
                        .await
                },
            )
            .await;
        let result = match outcome.result {
            Ok(Ok(json)) => decode_result(&hook.name, json).map_err(FunctionError::from),
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
        let Some(indices) = self.after_save.get(event.class_name) else {
            return saved;
        };
        let wit_caller = HookState::wit_caller(caller);
        let object = view::object_json(event.object);
        let original = event.original.map(view::object_json);
        let entry = Entry::AfterSave {
            // Only a _User save by its owner can have a token to hand back.
            may_rotate: event.class_name == "_User",
        };
        for &index in indices {
            let hook = &self.hooks[index];
            let started = Instant::now();
            let invocation = self
                .invoke(
                    &hook.pre,
                    &hook.name,
                    Some(port),
                    caller,
                    entry,
                    async |h, store| {
                        h.cloudcode_hooks_hooks()
                            .call_after_save(
                                store,
                                &wit_caller,
                                event.class_name,
                                &object,
                                original.as_deref(),
                                &event.changed,
                            )
                            .await
                    },
                )
                .await;
            if let Some(token) = invocation.rotated_token {
                saved.rotated_token = Some(token);
            }
            let (outcome, failure) = match invocation.result {
                Ok(Ok(())) => (Outcome::Ok, None),
                Ok(Err(e)) => (
                    Outcome::Error,
                    Some(format!("{} (code {})", e.message, e.code)),
                ),
                Err(e) => (e.outcome(), Some(e.to_string())),
            };
            hook.metrics
                .record(metrics::Entry::AfterSave, outcome, started.elapsed());
            saved.ran.push(hook.name.to_string());
            let Some(failure) = failure else {
                continue;
            };
            self.after_save_failures.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(hook = %hook.name, class = event.class_name, error = %failure, "afterSave hook failed; the save stands");
            saved.failures.push(failure);
        }
        saved
    }

    /// One invocation: once a slot is free, a fresh instance with its own
    /// store, memory cap and time budget, then `call`, then the guest's
    /// output to the log. The budget counts from the start and bounds the
    /// wall-clock time; a computing guest yields to the executor at every
    /// epoch tick until it is spent.
    async fn invoke<R>(
        &self,
        pre: &CloudCodePre<HookState>,
        hook: &Arc<str>,
        port: Option<&Arc<dyn SessionPort>>,
        caller: &Invoker,
        entry: Entry,
        call: impl AsyncFnOnce(&CloudCode, &mut Store<HookState>) -> wasmtime::Result<R>,
    ) -> Invocation<R> {
        let started = Instant::now();
        let (budget, may_rotate, slots) = match entry {
            Entry::Manifest => (self.config.after_save_timeout, false, &self.trigger_slots),
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
        let run = async {
            match pre.instantiate_async(&mut store).await {
                Ok(instance) => call(&instance, &mut store).await,
                Err(error) => Err(error),
            }
        };
        // The epoch stops a guest that computes; a guest waiting inside the
        // host (a WASI sleep, a slow write) is stopped here, by dropping the
        // call, which unwinds its fiber. A write already handed to the
        // blocking pool still completes.
        let result = match tokio::time::timeout_at(deadline, run).await {
            Ok(result) => result.map_err(|error| classify(hook, error)),
            Err(_) => Err(SandboxError::Timeout {
                hook: hook.to_string(),
            }),
        };
        let state = store.into_data();
        let result = match result {
            Err(SandboxError::Trap { .. }) if state.limits.memory_exceeded => {
                Err(SandboxError::OutOfMemory {
                    hook: hook.to_string(),
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
    AfterSave { may_rotate: bool },
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
