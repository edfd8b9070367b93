//! `cloudcode test`: runs a hook crate's tests, compiled to `wasm32-wasip2`
//! like the hook itself, with the real sandbox behind the
//! `cloudcode:testkit` interface (`testkit/wit`). Cargo calls it as the
//! target runner (`runner = ["cloudcode", "test"]`) with the test binary's
//! path and libtest's arguments, so a hook crate's `cargo test` compiles
//! its own small crates and never wasmtime.
//!
//! wasm32 has no unwinding: a failing test aborts its instance, and its
//! captured output with it. So, as libtest does for `panic = "abort"`, each
//! test runs in a fresh instance of the binary (output uncaptured there,
//! collected here), and this runner prints libtest's report.

mod crate_under_test;
mod kit;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store, Trap};
use wasmtime_wasi::p2::bindings::sync::{Command, CommandPre};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{I32Exit, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::sandbox::{HookSource, compile, stub_imports_as_traps};

/// libtest's exit status when a test failed.
const TESTS_FAILED: i32 = 101;

/// What a test instance may print before the rest is dropped.
const OUTPUT_CAPACITY: usize = 4 << 20;

/// Compiled components kept in a crate's cache: each edit compiles a new
/// test binary and component (2 to 4 MB together); the newest serve the
/// next runs, the rest are deleted.
const CACHE_KEEPS: usize = 32;

/// Why the runner could not run the binary at all.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("cannot read the test binary {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a wasm32-wasip2 test binary: {reason}")]
    NotATestBinary { path: PathBuf, reason: String },
    #[error("the test binary could not list its tests: {0}")]
    List(String),
}

/// One test binary, compiled once and instantiated per test.
pub struct Runner {
    engine: Engine,
    command: CommandPre<RunnerState>,
    context: Arc<KitContext>,
}

/// What every kit of this run shares: where the crate's component is and
/// where compiled components are kept.
struct KitContext {
    test_binary: PathBuf,
    cache_dir: PathBuf,
    component: OnceLock<Result<HookSource, String>>,
}

impl KitContext {
    /// The crate's component, found and checked once per run.
    fn component(&self) -> Result<HookSource, String> {
        self.component
            .get_or_init(|| crate_under_test::component_for(&self.test_binary))
            .clone()
    }
}

/// A test instance's state: WASI (args, output) and the kits it made.
struct RunnerState {
    wasi: WasiCtx,
    table: ResourceTable,
    context: Arc<KitContext>,
}

impl WasiView for RunnerState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// How one instance of the binary ended.
enum Ended {
    /// `exit(code)` or a return from `main` (0).
    Exit(i32),
    /// A trap: a panic (wasm aborts on panic) or a failed kit call.
    Trap(String),
}

impl Ended {
    /// Why the instance failed, or `None` if it exited with 0.
    fn failure(self) -> Option<String> {
        match self {
            Ended::Exit(0) => None,
            Ended::Exit(code) => Some(format!("(exit status {code})")),
            Ended::Trap(trap) => Some(trap),
        }
    }
}

/// One instance's run: how it ended and everything it printed.
struct Run {
    ended: Ended,
    output: String,
}

/// What the user asked libtest for, as far as the runner needs to know.
#[derive(Default)]
struct Request {
    /// Filters, `--exact`, `--skip`: narrow the listing.
    selection: Vec<String>,
    ignored: bool,
    include_ignored: bool,
    show_output: bool,
    /// `--list`, `--help`: handed to libtest as they are.
    pass_through: bool,
}

impl Request {
    fn parse(args: &[String]) -> Self {
        // libtest flags that take a value; dropped with their value.
        const VALUED: &[&str] = &[
            "--test-threads",
            "--color",
            "--format",
            "--logfile",
            "--shuffle-seed",
            "-Z",
        ];
        let mut request = Self::default();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--list" | "--help" | "-h" => request.pass_through = true,
                "--ignored" => request.ignored = true,
                "--include-ignored" => request.include_ignored = true,
                "--nocapture" | "--no-capture" | "--show-output" => request.show_output = true,
                "--exact" => request.selection.push(arg.clone()),
                "--skip" => {
                    request.selection.push(arg.clone());
                    request.selection.extend(args.next().cloned());
                }
                flag if flag.starts_with("--skip=") => request.selection.push(arg.clone()),
                flag if VALUED.contains(&flag) => {
                    args.next();
                }
                flag if flag.starts_with('-') => {}
                _filter => request.selection.push(arg.clone()),
            }
        }
        request
    }
}

impl Runner {
    /// Compiles the test binary (or takes it from the compile cache, kept
    /// beside the build in `<target>/wasm32-wasip2/<profile>/cloudcode`).
    pub fn new(test_binary: &Path) -> Result<Self, RunnerError> {
        let bytes = std::fs::read(test_binary).map_err(|source| RunnerError::Read {
            path: test_binary.to_path_buf(),
            source,
        })?;
        let not_a_test_binary = |reason: String| RunnerError::NotATestBinary {
            path: test_binary.to_path_buf(),
            reason,
        };
        let cache_dir = test_binary
            .ancestors()
            .nth(2)
            .unwrap_or(Path::new("."))
            .join("cloudcode");
        let engine = Engine::default();
        let source = HookSource {
            name: file_name(test_binary),
            bytes,
        };
        let component: Component = compile(&engine, &source, Some(&cache_dir))
            .map_err(|e| not_a_test_binary(e.to_string()))?;
        prune(&cache_dir, CACHE_KEEPS);
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .and_then(|()| kit::add_to_linker(&mut linker))
            .map_err(|e| not_a_test_binary(format!("{e:#}")))?;
        // A unit test inside the hook's crate (in `src/`) imports the hooks
        // contract too: its calls there trap, the rest of the test runs.
        stub_imports_as_traps(&engine, &mut linker, &component, |name| {
            name.starts_with("cloudcode:hooks/")
        })
        .map_err(|e| not_a_test_binary(format!("{e:#}")))?;
        let command = linker
            .instantiate_pre(&component)
            .and_then(CommandPre::new)
            .map_err(|e| not_a_test_binary(format!("{e:#}")))?;
        Ok(Self {
            engine,
            command,
            context: Arc::new(KitContext {
                test_binary: test_binary.to_path_buf(),
                cache_dir,
                component: OnceLock::new(),
            }),
        })
    }

    /// Runs the tests `args` select, one instance each, and prints libtest's
    /// report; returns the process's exit status.
    pub fn run(&self, args: &[String]) -> Result<i32, RunnerError> {
        kit::quiet_kit_panics();
        let request = Request::parse(args);
        if request.pass_through {
            let run = self.instance(args, true);
            return Ok(match run.ended {
                Ended::Exit(code) => code,
                Ended::Trap(message) => {
                    eprintln!("{message}");
                    TESTS_FAILED
                }
            });
        }
        let started = Instant::now();
        let listed = self.list(&request.selection, false)?;
        let ignored = self.list(&request.selection, true)?;
        let total = if request.selection.is_empty() {
            listed.len()
        } else {
            self.list(&[], false)?.len()
        };
        // Each selected test, and whether it runs (an ignored one does not,
        // unless asked for).
        let plan: Vec<(&String, bool)> = if request.ignored {
            ignored.iter().map(|name| (name, true)).collect()
        } else {
            let run_ignored = request.include_ignored;
            listed
                .iter()
                .map(|name| (name, run_ignored || !ignored.contains(name)))
                .collect()
        };

        let mut out = std::io::stdout().lock();
        let filtered_out = total.saturating_sub(plan.len());
        let plural = if plan.len() == 1 { "" } else { "s" };
        let _ = writeln!(out, "\nrunning {} test{plural}", plan.len());
        let mut failures = Vec::new();
        let (mut passed, mut skipped) = (0, 0);
        for (name, runs) in plan {
            if !runs {
                skipped += 1;
                let _ = writeln!(out, "test {name} ... ignored");
                continue;
            }
            let mut test_args = vec![name.clone(), "--exact".into(), "--nocapture".into()];
            if request.ignored || request.include_ignored {
                test_args.push("--include-ignored".into());
            }
            let run = self.instance(&test_args, false);
            let output = test_output(&run.output, name);
            match run.ended.failure() {
                None => {
                    passed += 1;
                    let _ = writeln!(out, "test {name} ... ok");
                    if request.show_output && !output.trim().is_empty() {
                        let _ = write!(out, "---- {name} stdout ----\n{output}");
                    }
                }
                Some(why) => {
                    let _ = writeln!(out, "test {name} ... FAILED");
                    failures.push((name, format!("{output}{why}\n")));
                }
            }
            let _ = out.flush();
        }

        if !failures.is_empty() {
            let _ = writeln!(out, "\nfailures:\n");
            for (name, output) in &failures {
                let _ = writeln!(out, "---- {name} stdout ----\n{output}");
            }
            let _ = writeln!(out, "failures:");
            for (name, _) in &failures {
                let _ = writeln!(out, "    {name}");
            }
        }
        let verdict = if failures.is_empty() { "ok" } else { "FAILED" };
        let _ = writeln!(
            out,
            "\ntest result: {verdict}. {passed} passed; {} failed; {} ignored; 0 measured; \
             {filtered_out} filtered out; finished in {:.2}s\n",
            failures.len(),
            skipped,
            started.elapsed().as_secs_f64()
        );
        Ok(if failures.is_empty() { 0 } else { TESTS_FAILED })
    }

    /// The tests the selection names (`--list --format terse`), or only the
    /// ignored ones among them.
    fn list(&self, selection: &[String], ignored: bool) -> Result<Vec<String>, RunnerError> {
        let mut args = vec!["--list".to_string(), "--format".into(), "terse".into()];
        if ignored {
            args.push("--ignored".into());
        }
        args.extend(selection.iter().cloned());
        let run = self.instance(&args, false);
        if let Some(why) = run.ended.failure() {
            return Err(RunnerError::List(format!("{}{why}", run.output)));
        }
        Ok(run
            .output
            .lines()
            .filter_map(|line| line.strip_suffix(": test"))
            .map(String::from)
            .collect())
    }

    /// One fresh instance of the binary with `args`; its output is collected,
    /// or goes straight to this process's when `inherit_output`.
    fn instance(&self, args: &[String], inherit_output: bool) -> Run {
        let output = MemoryOutputPipe::new(OUTPUT_CAPACITY);
        let mut wasi = WasiCtxBuilder::new();
        wasi.arg(file_name(&self.context.test_binary)).args(args);
        if inherit_output {
            wasi.inherit_stdout().inherit_stderr();
        } else {
            // One pipe for both, so the output keeps its order.
            wasi.stdout(output.clone()).stderr(output.clone());
        }
        let state = RunnerState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            context: self.context.clone(),
        };
        let mut store = Store::new(&self.engine, state);
        let ended = match self
            .command
            .instantiate(&mut store)
            .and_then(|command: Command| command.wasi_cli_run().call_run(&mut store))
        {
            Ok(Ok(())) => Ended::Exit(0),
            Ok(Err(())) => Ended::Exit(1),
            Err(error) => match error.downcast_ref::<I32Exit>() {
                Some(I32Exit(code)) => Ended::Exit(*code),
                None => Ended::Trap(trap_message(&error)),
            },
        };
        Run {
            ended,
            output: String::from_utf8_lossy(&output.contents()).into_owned(),
        }
    }
}

/// Deletes all but the `keep` newest files of the compile cache.
fn prune(cache_dir: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(cache_dir) else {
        return;
    };
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let modified = entry.metadata().ok()?.modified().ok()?;
            Some((modified, entry.path()))
        })
        .collect();
    files.sort_by_key(|(modified, _)| std::cmp::Reverse(*modified));
    for (_, stale) in files.into_iter().skip(keep) {
        let _ = std::fs::remove_file(stale);
    }
}

/// Why an instance trapped, in a line: a panic (which wasm32 turns into
/// an abort after printing it) or a failed kit call.
fn trap_message(error: &wasmtime::Error) -> String {
    match error.downcast_ref::<Trap>() {
        Some(Trap::UnreachableCodeReached) => "(the test aborted: a panic, above)".into(),
        Some(trap) => format!("the test trapped: {trap}"),
        None => format!("the kit call failed: {}", error.root_cause()),
    }
}

/// What one test printed, without libtest's frame around it ("running 1
/// test", "test NAME ... ok", the result line): this runner prints its own.
fn test_output(output: &str, name: &str) -> String {
    let body = output.replacen(&format!("test {name} ... "), "", 1);
    let mut lines: Vec<&str> = body
        .lines()
        .filter(|line| !line.starts_with("running 1 test") && !line.starts_with("test result: "))
        .skip_while(|line| line.is_empty())
        .collect();
    while lines.last().is_some_and(|line| line.is_empty()) {
        lines.pop();
    }
    if lines.last() == Some(&"ok") {
        lines.pop();
    }
    lines.iter().map(|line| format!("{line}\n")).collect()
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_request_keeps_the_selection_and_drops_what_the_runner_decides() {
        let request = Request::parse(&args(&[
            "greets",
            "--exact",
            "--test-threads",
            "4",
            "--skip",
            "slow",
            "--color=never",
            "-q",
            "--nocapture",
        ]));
        assert_eq!(
            request.selection,
            args(&["greets", "--exact", "--skip", "slow"])
        );
        assert!(request.show_output && !request.pass_through && !request.ignored);
        assert!(Request::parse(&args(&["--list"])).pass_through);
        assert!(Request::parse(&args(&["--ignored"])).ignored);
    }

    #[test]
    fn a_file_that_is_not_a_test_binary_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("deps/not-a-test.wasm");
        std::fs::create_dir(dir.path().join("deps")).unwrap();
        std::fs::write(&garbage, b"\0asm garbage").unwrap();
        let error = Runner::new(&garbage).err().expect("garbage is refused");
        assert!(
            matches!(error, RunnerError::NotATestBinary { .. }),
            "{error}"
        );
        assert!(error.to_string().contains("not-a-test.wasm"), "{error}");
        let missing = Runner::new(&dir.path().join("nowhere.wasm")).err().unwrap();
        assert!(matches!(missing, RunnerError::Read { .. }), "{missing}");
    }

    #[test]
    fn the_compile_cache_keeps_only_the_newest_files() {
        let dir = tempfile::tempdir().unwrap();
        for (i, name) in ["old", "middle", "new"].iter().enumerate() {
            let path = dir.path().join(name);
            std::fs::write(&path, "").unwrap();
            let at = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(i as u64);
            std::fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(at)
                .unwrap();
        }
        prune(dir.path(), 2);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, ["middle", "new"]);
    }

    #[test]
    fn a_tests_output_is_kept_without_libtests_frame() {
        let passed = "\nrunning 1 test\ntest greets ... hello\nok\n\ntest result: ok. 1 passed\n";
        assert_eq!(test_output(passed, "greets"), "hello\n");
        let silent = "\nrunning 1 test\ntest greets ... ok\n\ntest result: ok. 1 passed\n";
        assert_eq!(test_output(silent, "greets"), "");
        let panicked =
            "\nrunning 1 test\ntest greets ... \nthread 'main' panicked at tests/t.rs:3:5:\nno\n";
        assert_eq!(
            test_output(panicked, "greets"),
            "thread 'main' panicked at tests/t.rs:3:5:\nno\n"
        );
    }
}
