//! The host side of `cloudcode:testkit`: each `sandbox` resource is a
//! [`TestKit`], the same kit this repository's own hook tests use.

use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};

use serde_json::Value;
use wasmtime::component::{HasSelf, Linker, Resource};

use super::RunnerState;
use crate::clock::Clock;
use crate::error::{Code, Error};
use crate::sandbox::HooksConfig;
use crate::testkit::{TestKit, TestSession, all_granted};

mod bindings {
    wasmtime::component::bindgen!({
        world: "tests",
        path: "../testkit/wit",
        with: { "cloudcode:testkit/kit.sandbox": crate::testkit::TestKit },
        imports: { default: trappable },
    });
}

use bindings::cloudcode::testkit::kit;

pub fn add_to_linker(linker: &mut Linker<RunnerState>) -> wasmtime::Result<()> {
    bindings::Tests::add_to_linker::<RunnerState, HasSelf<RunnerState>>(linker, |state| state)
}

thread_local! {
    /// Set while a kit call runs: its panics become the test's trap, with
    /// their message, instead of also being printed by the panic hook.
    static IN_KIT_CALL: Cell<bool> = const { Cell::new(false) };
}

/// Installs the panic hook that keeps kit calls' panics quiet (they are
/// reported as the test's failure) and prints every other one.
pub fn quiet_kit_panics() {
    let print = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !IN_KIT_CALL.with(Cell::get) {
            print(info)
        }
    }));
}

/// Runs a kit call; a panic in it (the native kit's way of failing a test,
/// say a login for a user that does not exist) traps the test instead of
/// ending the runner.
fn guarded<T>(call: impl FnOnce() -> T) -> wasmtime::Result<T> {
    IN_KIT_CALL.with(|flag| flag.set(true));
    let result = catch_unwind(AssertUnwindSafe(call));
    IN_KIT_CALL.with(|flag| flag.set(false));
    result.map_err(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "the kit call panicked".into());
        wasmtime::Error::msg(message)
    })
}

fn json(text: &str, what: &str) -> wasmtime::Result<Value> {
    serde_json::from_str(text).map_err(|e| wasmtime::Error::msg(format!("{what}: {e}")))
}

fn parse_error(error: &Error) -> kit::ParseError {
    kit::ParseError {
        code: error.code().unwrap_or(Code::OperationForbidden as u32),
        message: error.client_message(),
    }
}

fn test_session(session: kit::Session) -> TestSession {
    TestSession {
        object_id: session.object_id,
        token: session.token,
        installation_id: session.installation_id,
    }
}

fn millis(at: crate::clock::Millis) -> u64 {
    u64::try_from(at).unwrap_or_default()
}

/// The server's view of the caller, or the error a request from it gets
/// (a session that was revoked: 209).
fn resolve(kit: &TestKit, caller: kit::Caller) -> Result<crate::auth::Caller, Error> {
    match caller {
        kit::Caller::Anonymous => Ok(kit.anonymous()),
        kit::Caller::Master => Ok(kit.master()),
        kit::Caller::Session(session) => kit.try_caller(&test_session(session)),
    }
}

impl kit::Host for RunnerState {}

impl kit::HostSandbox for RunnerState {
    fn load(
        &mut self,
        hooks_config: Option<String>,
    ) -> wasmtime::Result<Result<Resource<TestKit>, String>> {
        let context = self.context.clone();
        let loaded = guarded(move || -> Result<TestKit, String> {
            let source = context.component()?;
            let hooks_config = match hooks_config {
                Some(text) => HooksConfig::parse(&text)?,
                None => all_granted(std::slice::from_ref(&source)),
            };
            TestKit::with_compile_cache(vec![source], hooks_config, context.cache_dir.clone())
                .map_err(|e| e.to_string())
        })?;
        Ok(match loaded {
            Ok(kit) => Ok(self.table.push(kit)?),
            Err(error) => Err(error),
        })
    }

    fn create_user(
        &mut self,
        kit: Resource<TestKit>,
        username: String,
        fields: String,
    ) -> wasmtime::Result<String> {
        let kit = self.table.get(&kit)?;
        let fields = json(&fields, "user fields")?;
        guarded(|| kit.create_user_with(&username, fields))
    }

    fn log_in(
        &mut self,
        kit: Resource<TestKit>,
        user_id: String,
        installation_id: String,
    ) -> wasmtime::Result<Result<kit::Session, kit::ParseError>> {
        let kit = self.table.get(&kit)?;
        let login = guarded(|| kit.try_log_in(&user_id, &installation_id))?;
        Ok(login
            .map(|session| kit::Session {
                object_id: session.object_id,
                token: session.token,
                installation_id: session.installation_id,
            })
            .map_err(|e| parse_error(&e)))
    }

    fn log_out(&mut self, kit: Resource<TestKit>, session: kit::Session) -> wasmtime::Result<()> {
        let kit = self.table.get(&kit)?;
        guarded(|| kit.log_out(&test_session(session)))
    }

    fn sweep_expired(&mut self, kit: Resource<TestKit>) -> wasmtime::Result<u32> {
        let kit = self.table.get(&kit)?;
        let swept = guarded(|| kit.sweep_expired())?;
        Ok(u32::try_from(swept).unwrap_or(u32::MAX))
    }

    fn now(&mut self, kit: Resource<TestKit>) -> wasmtime::Result<u64> {
        Ok(millis(self.table.get(&kit)?.clock().now()))
    }

    fn advance_clock(&mut self, kit: Resource<TestKit>, by: u64) -> wasmtime::Result<()> {
        let by = i64::try_from(by).map_err(|_| wasmtime::Error::msg("too far to advance"))?;
        self.table.get(&kit)?.clock().advance(by);
        Ok(())
    }

    fn call_function(
        &mut self,
        kit: Resource<TestKit>,
        caller: kit::Caller,
        name: String,
        params: String,
    ) -> wasmtime::Result<Result<String, kit::ParseError>> {
        let kit = self.table.get(&kit)?;
        let params = json(&params, "function parameters")?;
        let result = guarded(|| {
            let caller = resolve(kit, caller)?;
            kit.call_function(&caller, &name, params)
        })?;
        Ok(result
            .map(|value| value.to_string())
            .map_err(|e| parse_error(&e)))
    }

    fn after_save(
        &mut self,
        kit: Resource<TestKit>,
        caller: kit::Caller,
        class_name: String,
        object: String,
        original: Option<String>,
        changed: Vec<String>,
    ) -> wasmtime::Result<kit::AfterSaveRun> {
        let kit = self.table.get(&kit)?;
        let object = json(&object, "the saved object")?;
        let original = original
            .map(|text| json(&text, "the original object"))
            .transpose()?;
        let caller = resolve(kit, caller)
            .map_err(|e| wasmtime::Error::msg(format!("the caller's session: {e}")))?;
        let changed: Vec<&str> = changed.iter().map(String::as_str).collect();
        let run = guarded(|| kit.after_save(&caller, &class_name, object, original, &changed))?;
        Ok(kit::AfterSaveRun {
            ran: run.ran,
            failures: run.failures,
            rotated_token: run.rotated_token,
        })
    }

    fn fired(&mut self, kit: Resource<TestKit>) -> wasmtime::Result<Vec<kit::Fired>> {
        let fired = self.table.get(&kit)?.fired();
        Ok(fired
            .into_iter()
            .map(|fired| kit::Fired {
                trigger: fired.trigger.to_string(),
                ended: fired.ended.map(|end| kit::EndedSession {
                    session_id: end.session_id,
                    user_id: end.user_id,
                    installation_id: end.installation_id,
                    reason: end.reason.as_str().to_string(),
                }),
                ran: fired.ran,
                failures: fired.failures,
            })
            .collect())
    }

    fn logs(&mut self, kit: Resource<TestKit>) -> wasmtime::Result<Vec<kit::LogLine>> {
        let logs = self.table.get(&kit)?.logs();
        Ok(logs
            .into_iter()
            .map(|line| kit::LogLine {
                hook: line.hook,
                level: line.level,
                message: line.message,
            })
            .collect())
    }

    fn after_save_classes(&mut self, kit: Resource<TestKit>) -> wasmtime::Result<Vec<String>> {
        Ok(self.table.get(&kit)?.after_save_classes())
    }

    fn sessions_of(
        &mut self,
        kit: Resource<TestKit>,
        user_id: String,
    ) -> wasmtime::Result<Vec<kit::StoredSession>> {
        let kit = self.table.get(&kit)?;
        let sessions = guarded(|| kit.sessions_of(&user_id))?;
        Ok(sessions
            .into_iter()
            .map(|session| kit::StoredSession {
                object_id: session.object_id,
                user_id: session.user_id,
                installation_id: session.installation_id,
                created_at: millis(session.created_at),
                last_used_at: millis(session.last_used_at),
                expires_at: millis(session.absolute_expires_at),
            })
            .collect())
    }

    fn is_alive(&mut self, kit: Resource<TestKit>, token: String) -> wasmtime::Result<bool> {
        let kit = self.table.get(&kit)?;
        guarded(|| kit.is_alive(&token))
    }

    fn drop(&mut self, kit: Resource<TestKit>) -> wasmtime::Result<()> {
        self.table.delete(kit)?;
        Ok(())
    }
}
