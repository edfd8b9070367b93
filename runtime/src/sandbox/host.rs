//! What the host gives a hook instance: an empty WASI context (no files,
//! environment, clock tricks or network beyond wasmtime-wasi's defaults,
//! output captured), and the `sessions` and `log` imports, each checked
//! against the caller stored for this invocation, never against guest input.

use std::sync::Arc;

use serde_json::{Map, Value};
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime::{ResourceLimiter, StoreLimits};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::failure::truncate;
use super::grants::{Capabilities, Capability};
use super::output::{CappedOutput, HookLog, LogSink};
use super::port::{Invoker, SessionPort};
use crate::clock::to_iso;
use crate::code::Code;
use crate::store::{SessionView, StoreError};
use crate::token;

/// Contract 0.1.0, frozen: what hooks built with SDK 0.1 speak.
pub mod v0_1 {
    wasmtime::component::bindgen!({
        world: "cloud-code",
        path: "wit/hooks-0.1.0",
        // Session calls go to the store, which is async: the guest's fiber
        // waits for it, the executor does not.
        imports: {
            "cloudcode:hooks/sessions": async | trappable,
            default: trappable,
        },
        exports: { default: async },
    });
    pub use cloudcode::hooks::types::{Caller, HookError};
}

/// Contract 0.2.0, the SDK's: lifecycle triggers, capabilities, config.
pub mod v0_2 {
    wasmtime::component::bindgen!({
        world: "cloud-code",
        path: "../sdk/wit",
        imports: {
            "cloudcode:hooks/sessions": async | trappable,
            default: trappable,
        },
        exports: { default: async },
    });
    pub use cloudcode::hooks::types::{Caller, Capability, HookError};
    pub use exports::cloudcode::hooks::hooks::{
        EndReason, EndedSession, HookManifest, Login, Trigger,
    };
}

/// Lines and bytes a hook may log per invocation.
const MAX_LOG_LINES: u32 = 100;
const MAX_LOG_LINE: usize = 2048;
/// Captured stdout/stderr per invocation.
pub const OUTPUT_CAPACITY: usize = 16 * 1024;

/// The invocation's memory and table caps, remembering whether the guest
/// ran into them: the trap that follows is then reported as out of memory.
pub struct Limits {
    store: StoreLimits,
    pub memory_exceeded: bool,
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let grown = self.store.memory_growing(current, desired, maximum);
        self.memory_exceeded |= !matches!(grown, Ok(true));
        grown
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.memory_exceeded = true;
        self.store.memory_grow_failed(error)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.store.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.store.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.store.instances()
    }

    fn tables(&self) -> usize {
        self.store.tables()
    }

    fn memories(&self) -> usize {
        self.store.memories()
    }
}

/// A loaded hook as its invocations know it: its name, what it was granted
/// and the operator's settings for it.
#[derive(Debug)]
pub struct HookIdentity {
    pub name: Arc<str>,
    pub granted: Capabilities,
    pub config: Map<String, Value>,
}

/// The data of one hook invocation's `Store`.
pub struct HookState {
    /// Built on the guest's first WASI call (printing, the clock): most
    /// invocations make none, and building one costs about as much as
    /// creating the store.
    wasi: Option<WasiCtx>,
    table: ResourceTable,
    pub limits: Limits,
    /// The server's session operations; `None` while loading (reading
    /// manifests), when no request is being served and the session imports
    /// are unavailable.
    port: Option<Arc<dyn SessionPort>>,
    caller: Invoker,
    hook: Arc<HookIdentity>,
    /// Whether `rotate-current` can deliver a token (afterSave of `_User`).
    may_rotate: bool,
    /// Set by `rotate-current`: the new token, for the host to deliver.
    pub rotated_token: Option<String>,
    log_lines: u32,
    pub stdout: CappedOutput,
    pub stderr: CappedOutput,
    /// Where log lines and output also go, if anywhere (the testkit).
    log_sink: Option<LogSink>,
}

/// A hook's own error (a Parse code and message), whichever contract
/// version it came through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestError {
    pub code: u32,
    pub message: String,
}

impl GuestError {
    fn new(code: Code, message: &str) -> Self {
        GuestError {
            code: code as u32,
            message: message.into(),
        }
    }
}

/// A session as hooks see it, before it takes a contract version's type.
struct SessionFacts {
    object_id: String,
    user_id: String,
    created_at: String,
    expires_at: String,
    installation_id: Option<String>,
    created_with: String,
    current: bool,
}

#[derive(Clone, Copy)]
enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

impl HookState {
    pub fn new(
        port: Option<Arc<dyn SessionPort>>,
        caller: Invoker,
        hook: Arc<HookIdentity>,
        limits: StoreLimits,
        may_rotate: bool,
        log_sink: Option<LogSink>,
    ) -> Self {
        let limits = Limits {
            store: limits,
            memory_exceeded: false,
        };
        Self {
            wasi: None,
            table: ResourceTable::new(),
            limits,
            port,
            caller,
            hook,
            may_rotate,
            rotated_token: None,
            log_lines: 0,
            stdout: CappedOutput::new(OUTPUT_CAPACITY),
            stderr: CappedOutput::new(OUTPUT_CAPACITY),
            log_sink,
        }
    }

    /// Copies what the guest printed into the log (debug level, truncated),
    /// and says how much past the capture was dropped.
    pub fn forward_output(&self) {
        let hook = &*self.hook.name;
        for (stream, pipe) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let (bytes, dropped) = pipe.contents();
            if !bytes.is_empty() {
                let text = String::from_utf8_lossy(&bytes);
                let text = truncate(&text, MAX_LOG_LINE);
                tracing::debug!(hook, stream, "{text}");
                self.keep(stream, text);
            }
            if dropped > 0 {
                tracing::warn!(
                    hook,
                    stream,
                    dropped,
                    "hook output truncated at {OUTPUT_CAPACITY} bytes"
                );
            }
        }
    }

    /// Hands a log line or output to the sink, if there is one.
    fn keep(&self, level: &str, message: &str) {
        if let Some(sink) = &self.log_sink {
            sink.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(HookLog {
                    hook: self.hook.name.to_string(),
                    level: level.to_string(),
                    message: message.to_string(),
                });
        }
    }

    /// A call that needs `capability` goes on only if the hook was granted
    /// it; otherwise the hook stops, and the log names the capability.
    fn require(&self, capability: Capability) -> wasmtime::Result<()> {
        if self.hook.granted.contains(capability) {
            return Ok(());
        }
        let capability = capability.as_str();
        tracing::warn!(hook = %self.hook.name, capability, "hook called outside its grant; grant it in the hooks config to allow it");
        Err(wasmtime::Error::msg(format!(
            "capability not granted: {capability}"
        )))
    }

    fn port(&self) -> wasmtime::Result<&Arc<dyn SessionPort>> {
        self.port
            .as_ref()
            .ok_or_else(|| wasmtime::Error::msg("session calls are not available while loading"))
    }

    /// Runs a session operation of the port with the caller's address; a
    /// store failure is the hook's error (the server decides where the
    /// work runs; the guest's fiber waits, the executor does not).
    async fn port_call<T, F>(
        &mut self,
        call: impl FnOnce(Arc<dyn SessionPort>, Option<std::net::IpAddr>) -> F,
    ) -> wasmtime::Result<Result<T, GuestError>>
    where
        F: std::future::Future<Output = Result<T, StoreError>>,
    {
        let port = self.port()?.clone();
        Ok(call(port, self.caller.ip).await.map_err(store_failure))
    }

    /// Hooks act on the caller's own sessions, or on anyone's with the
    /// master key.
    fn may_reach(&self, user_id: &str) -> bool {
        let allowed = self.caller.master || self.caller.user_id.as_deref() == Some(user_id);
        if !allowed {
            tracing::warn!(hook = %self.hook.name, caller = ?self.caller.user_id, "hook tried to reach another user's sessions");
        }
        allowed
    }

    /// [`Self::may_reach`] for calls naming a user: anything else is a
    /// capability violation, and it stops the hook.
    fn authorize_user(&self, user_id: &str) -> wasmtime::Result<()> {
        if self.may_reach(user_id) {
            Ok(())
        } else {
            Err(wasmtime::Error::msg(
                "capability violation: sessions of another user",
            ))
        }
    }

    fn facts(&self, s: SessionView) -> SessionFacts {
        let created_with = s.created_with.get("action").and_then(|a| a.as_str());
        SessionFacts {
            current: self.caller.session_id.as_deref() == Some(s.object_id.as_str()),
            created_with: created_with.unwrap_or_default().to_string(),
            created_at: to_iso(s.created_at),
            expires_at: to_iso(s.expires_at),
            object_id: s.object_id,
            user_id: s.user_id,
            installation_id: s.installation_id,
        }
    }

    async fn list_sessions(
        &mut self,
        user_id: String,
    ) -> wasmtime::Result<Result<Vec<SessionFacts>, GuestError>> {
        self.require(Capability::SessionsRead)?;
        self.authorize_user(&user_id)?;
        let listed = self
            .port_call(|port, _| async move { port.live_sessions(&user_id).await })
            .await?;
        Ok(listed.map(|sessions| sessions.into_iter().map(|s| self.facts(s)).collect()))
    }

    async fn revoke_session(
        &mut self,
        session_id: String,
    ) -> wasmtime::Result<Result<bool, GuestError>> {
        self.require(Capability::SessionsRevoke)?;
        let id = session_id.clone();
        let owner = self
            .port_call(|port, _| async move { port.owner_of(&id).await })
            .await?;
        let owner = match owner {
            Ok(Some(owner)) => owner,
            Ok(None) => return Ok(Ok(false)),
            Err(error) => return Ok(Err(error)),
        };
        // Another user's session looks exactly like an unknown id: a
        // function that revokes by id must not tell its callers which exist.
        if !self.may_reach(&owner) {
            return Ok(Ok(false));
        }
        self.port_call(|port, ip| async move { port.revoke(&session_id, ip).await })
            .await
    }

    async fn revoke_all(
        &mut self,
        user_id: String,
        keep_current: bool,
    ) -> wasmtime::Result<Result<u32, GuestError>> {
        self.require(Capability::SessionsRevoke)?;
        self.authorize_user(&user_id)?;
        let keep = keep_current
            .then(|| self.caller.session_id.clone())
            .flatten()
            .filter(|_| self.caller.user_id.as_deref() == Some(user_id.as_str()));
        let revoked = self
            .port_call(
                |port, ip| async move { port.revoke_all(&user_id, keep.as_deref(), ip).await },
            )
            .await?;
        Ok(revoked.map(|live| u32::try_from(live).unwrap_or(u32::MAX)))
    }

    async fn rotate(&mut self) -> wasmtime::Result<Result<(), GuestError>> {
        self.require(Capability::SessionsRotate)?;
        if !self.may_rotate {
            return Ok(Err(GuestError::new(
                Code::OperationForbidden,
                "rotate-current is only available in afterSave of _User.",
            )));
        }
        let Some(session_id) = self.caller.session_id.clone() else {
            return Ok(Err(GuestError::new(
                Code::InvalidSessionToken,
                "There is no current session to rotate.",
            )));
        };
        let minted = token::mint();
        let hash = minted.hash;
        let rotated = self
            .port_call(|port, ip| async move { port.rotate(&session_id, &hash, ip).await })
            .await?;
        Ok(match rotated {
            Ok(true) => {
                self.rotated_token = Some(minted.raw);
                Ok(())
            }
            Ok(false) => Err(GuestError::new(
                Code::InvalidSessionToken,
                "The current session no longer exists.",
            )),
            Err(error) => Err(error),
        })
    }

    fn write_log(&mut self, level: LogLevel, message: String) -> wasmtime::Result<()> {
        self.require(Capability::Log)?;
        self.log_lines += 1;
        if self.log_lines > MAX_LOG_LINES {
            return Ok(());
        }
        let message = truncate(&message, MAX_LOG_LINE);
        let hook = &*self.hook.name;
        let level = match level {
            LogLevel::Debug => {
                tracing::debug!(hook, "{message}");
                "debug"
            }
            LogLevel::Info => {
                tracing::info!(hook, "{message}");
                "info"
            }
            LogLevel::Warn => {
                tracing::warn!(hook, "{message}");
                "warn"
            }
            LogLevel::Error => {
                tracing::error!(hook, "{message}");
                "error"
            }
        };
        self.keep(level, message);
        Ok(())
    }
}

fn store_failure(error: impl std::fmt::Display) -> GuestError {
    tracing::error!(%error, "session store failed during a hook call");
    GuestError::new(Code::ScriptFailed, "The session store failed.")
}

impl WasiView for HookState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let (stdout, stderr) = (&self.stdout, &self.stderr);
        let ctx = self.wasi.get_or_insert_with(|| {
            WasiCtxBuilder::new()
                .stdout(stdout.clone())
                .stderr(stderr.clone())
                .allow_tcp(false)
                .allow_udp(false)
                .allow_ip_name_lookup(false)
                .build()
        });
        WasiCtxView {
            ctx,
            table: &mut self.table,
        }
    }
}

/// The imports both contract versions share, implemented once over the
/// version-neutral methods above.
macro_rules! shared_imports {
    ($v:ident) => {
        impl $v::cloudcode::hooks::types::Host for HookState {}

        impl From<$v::HookError> for GuestError {
            fn from(e: $v::HookError) -> Self {
                GuestError {
                    code: e.code,
                    message: e.message,
                }
            }
        }

        impl From<GuestError> for $v::HookError {
            fn from(e: GuestError) -> Self {
                $v::HookError {
                    code: e.code,
                    message: e.message,
                }
            }
        }

        impl $v::cloudcode::hooks::sessions::Host for HookState {
            async fn list_for_user(
                &mut self,
                user_id: String,
            ) -> wasmtime::Result<
                Result<Vec<$v::cloudcode::hooks::sessions::SessionInfo>, $v::HookError>,
            > {
                let listed = self.list_sessions(user_id).await?;
                Ok(listed.map_err(Into::into).map(|sessions| {
                    sessions
                        .into_iter()
                        .map(|s| $v::cloudcode::hooks::sessions::SessionInfo {
                            object_id: s.object_id,
                            user_id: s.user_id,
                            created_at: s.created_at,
                            expires_at: s.expires_at,
                            installation_id: s.installation_id,
                            created_with: s.created_with,
                            current: s.current,
                        })
                        .collect()
                }))
            }

            async fn revoke(
                &mut self,
                session_id: String,
            ) -> wasmtime::Result<Result<bool, $v::HookError>> {
                Ok(self.revoke_session(session_id).await?.map_err(Into::into))
            }

            async fn revoke_all_for_user(
                &mut self,
                user_id: String,
                keep_current: bool,
            ) -> wasmtime::Result<Result<u32, $v::HookError>> {
                Ok(self
                    .revoke_all(user_id, keep_current)
                    .await?
                    .map_err(Into::into))
            }

            async fn rotate_current(&mut self) -> wasmtime::Result<Result<(), $v::HookError>> {
                Ok(self.rotate().await?.map_err(Into::into))
            }
        }

        impl $v::cloudcode::hooks::log::Host for HookState {
            fn write(
                &mut self,
                level: $v::cloudcode::hooks::log::Level,
                message: String,
            ) -> wasmtime::Result<()> {
                use $v::cloudcode::hooks::log::Level;
                let level = match level {
                    Level::Debug => LogLevel::Debug,
                    Level::Info => LogLevel::Info,
                    Level::Warn => LogLevel::Warn,
                    Level::Error => LogLevel::Error,
                };
                self.write_log(level, message)
            }
        }
    };
}

shared_imports!(v0_1);
shared_imports!(v0_2);

impl v0_2::cloudcode::hooks::config::Host for HookState {
    fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.hook.config.get(&key).map(Value::to_string))
    }
}

impl From<&Invoker> for v0_1::Caller {
    fn from(caller: &Invoker) -> Self {
        v0_1::Caller {
            user_id: caller.user_id.clone(),
            session_id: caller.session_id.clone(),
            installation_id: caller.installation_id.clone(),
            master: caller.master,
        }
    }
}

impl From<&Invoker> for v0_2::Caller {
    fn from(caller: &Invoker) -> Self {
        v0_2::Caller {
            user_id: caller.user_id.clone(),
            session_id: caller.session_id.clone(),
            installation_id: caller.installation_id.clone(),
            master: caller.master,
            client_address: caller.ip.map(|ip| ip.to_string()),
        }
    }
}

/// The linker every hook is instantiated with: WASI plus both versions of
/// our imports.
pub fn linker(engine: &wasmtime::Engine) -> wasmtime::Result<Linker<HookState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    v0_1::CloudCode::add_to_linker::<HookState, HasSelf<HookState>>(&mut linker, |state| state)?;
    v0_2::CloudCode::add_to_linker::<HookState, HasSelf<HookState>>(&mut linker, |state| state)?;
    Ok(linker)
}

/// The WASI 0.2 packages that `wasmtime_wasi::p2::add_to_linker_async` links
/// (those of the `wasi:cli/command` world).
const LINKED_WASI_PACKAGES: &[&str] = &[
    "wasi:io",
    "wasi:clocks",
    "wasi:filesystem",
    "wasi:random",
    "wasi:cli",
    "wasi:sockets",
];

/// Whether [`linker`] provides the interface a component imports as
/// `name` (`namespace:package/interface@version`). The linker resolves any
/// 0.2.x WASI version to the one wasmtime-wasi implements.
pub fn links(name: &str) -> bool {
    let Some((package, rest)) = name.split_once('/') else {
        return false;
    };
    let Some((_, version)) = rest.split_once('@') else {
        return false;
    };
    match package {
        "cloudcode:hooks" => super::CONTRACT_VERSIONS.contains(&version),
        wasi if LINKED_WASI_PACKAGES.contains(&wasi) => version.starts_with("0.2."),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::links;

    #[test]
    fn links_wasi_0_2_at_any_patch_version_and_only_our_contract() {
        for linked in [
            "wasi:io/poll@0.2.0",
            "wasi:clocks/monotonic-clock@0.2.6",
            "wasi:cli/stdout@0.2.12",
            "cloudcode:hooks/sessions@0.1.0",
            "cloudcode:hooks/config@0.2.0",
        ] {
            assert!(links(linked), "{linked}");
        }
        for unlinked in [
            "wasi:http/types@0.2.6",
            "wasi:io/poll@0.3.0",
            "wasi:io/poll",
            "cloudcode:hooks/sessions@0.3.0",
            "hostile:unknown-import/network@0.1.0",
            "plain-name",
        ] {
            assert!(!links(unlinked), "{unlinked}");
        }
    }
}
