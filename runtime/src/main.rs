//! The `cloudcode` binary: parse flags, then hand over to the library.

use clap::{Parser, Subcommand};
use cloudcode_runtime::config::{Database, Finding, ServeArgs, Severity, findings, grant_findings};
use cloudcode_runtime::reload::load_hooks;
use cloudcode_runtime::sandbox::{HookSource, check_hook as check_hook_blocking};
use cloudcode_runtime::store::Store;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "cloudcode",
    version,
    about = "Parse-compatible server with WebAssembly Cloud Code"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Log lines for people (colours only on a terminal) or one JSON
    /// object per line for log shippers.
    #[arg(
        long,
        global = true,
        env = "CLOUDCODE_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Human
    )]
    log_format: LogFormat,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Human,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve(Box<ServeArgs>),
    /// Check the server's settings (the same flags and environment as
    /// `serve`) for weak or risky ones; exits with 1 if any is high.
    Check(Box<ServeArgs>),
    /// Load a hook component exactly as the server would, and say what it
    /// offers or why it cannot load.
    CheckHook {
        /// The component (`*.wasm`).
        file: std::path::PathBuf,
    },
    /// Start a hook crate of your own: a cloud function, a trigger, sandbox
    /// tests, a hooks config and a README of the commands to build, test
    /// and load it.
    NewHook {
        /// The crate's name (lowercase letters, digits, '-').
        name: String,
        /// Where to make its directory.
        #[arg(long, default_value = ".")]
        dir: std::path::PathBuf,
        /// The cloudcode checkout its dependencies come from until the
        /// crates are published. Default: the one this binary was built from.
        #[arg(long)]
        source: Option<std::path::PathBuf>,
    },
    /// Run a hook crate's tests, compiled to wasm32-wasip2, in the real
    /// sandbox: cargo calls this as the crate's target runner
    /// (`runner = ["cloudcode", "test"]` in `.cargo/config.toml`).
    Test {
        /// The test binary cargo built (`target/wasm32-wasip2/.../deps/*.wasm`).
        binary: std::path::PathBuf,
        /// libtest's arguments: test name filters, `--exact`, `--ignored`, ...
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Copy everything from a SQLite database into an empty PostgreSQL
    /// one, in one transaction: users, sessions (tokens keep working),
    /// objects, the audit trail. Stop the server first.
    Migrate {
        /// The SQLite database (`sqlite:<path>` or a path).
        #[arg(long, default_value = "cloudcode-data/cloudcode.db")]
        from: String,
        /// The PostgreSQL database (`postgres://user@host:port/db`).
        #[arg(long, env = "PARSE_SERVER_DATABASE_URI")]
        to: String,
        /// CA certificates (PEM) to verify it by, with `sslmode=require`.
        #[arg(long, env = "CLOUDCODE_DATABASE_CA")]
        database_ca: Option<std::path::PathBuf>,
    },
}

#[derive(Parser)]
struct DefaultServe {
    #[command(flatten)]
    args: ServeArgs,
}

/// mimalloc: the request path allocates many small, short-lived objects
/// across threads, where it is markedly cheaper than glibc's malloc (see
/// BENCHMARKS.md). argon2's large work areas do not come from it (see
/// `password`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Makes mimalloc hand freed memory back to the OS as soon as it is
/// freed, unless the operator set these options in the environment.
/// Compiling the hooks on a first start and each login's password hash
/// free tens of MiB on threads that then sit idle; by default mimalloc
/// commits its arenas eagerly and purges freed memory lazily, from the
/// thread that freed it, and an idle server stayed at ~100 MiB resident
/// instead of ~35 (BENCHMARKS.md, Memory).
///
/// It runs as an ELF constructor, before `main` and before the Rust
/// runtime's first allocation reserves mimalloc's first arena (whose
/// commit mode is fixed when it is reserved); so it must not allocate.
#[cfg(target_os = "linux")]
extern "C" fn return_freed_memory_to_the_os() {
    // Indices in mimalloc's `mi_option_t` (mimalloc.h, v2 and v3 alike).
    const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    for (option, variable) in [
        (ARENA_EAGER_COMMIT, c"MIMALLOC_ARENA_EAGER_COMMIT"),
        (PURGE_DELAY, c"MIMALLOC_PURGE_DELAY"),
    ] {
        // SAFETY: `getenv` reads the environment the process started with
        // (no thread can be changing it yet); `mi_option_set` sets a
        // process-wide option to a value mimalloc documents for it.
        unsafe {
            if libc::getenv(variable.as_ptr()).is_null() {
                libmimalloc_sys::mi_option_set(option, 0);
            }
        }
    }
}

#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array")]
static RETURN_FREED_MEMORY: extern "C" fn() = return_freed_memory_to_the_os;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let Cli {
        command,
        log_format,
    } = cli;
    // A check speaks on stdout; its log says only what went wrong.
    let default_level = match command {
        Some(
            Command::CheckHook { .. }
            | Command::Migrate { .. }
            | Command::Check(_)
            | Command::NewHook { .. }
            | Command::Test { .. },
        ) => "warn",
        _ => "info",
    };
    init_logs(log_format, default_level);
    let args = match command {
        Some(Command::Serve(args)) => *args,
        Some(Command::CheckHook { file }) => return check_hook(file).await,
        Some(Command::Check(args)) => return check(*args).await,
        Some(Command::NewHook { name, dir, source }) => return new_hook(&name, &dir, source),
        // The testkit blocks on futures of its own: off the runtime's threads.
        Some(Command::Test { binary, args }) => {
            return tokio::task::spawn_blocking(move || run_tests(&binary, &args)).await?;
        }
        Some(Command::Migrate {
            from,
            to,
            database_ca,
        }) => return migrate(&from, &to, database_ca).await,
        None => DefaultServe::parse().args,
    };
    let config = args.into_config()?;
    cloudcode_runtime::server::serve(config).await?;
    Ok(())
}

fn init_logs(format: LogFormat, default_level: &str) {
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Human => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => logs.json().init(),
    }
}

/// `cloudcode test`: libtest's report on stdout, and its exit status.
fn run_tests(binary: &std::path::Path, args: &[String]) -> anyhow::Result<()> {
    let runner = cloudcode_runtime::testkit::runner::Runner::new(binary)?;
    std::process::exit(runner.run(args)?)
}

/// `cloudcode new-hook`: the crate, and what to run next.
fn new_hook(
    name: &str,
    parent: &std::path::Path,
    source: Option<std::path::PathBuf>,
) -> anyhow::Result<()> {
    let source = source.unwrap_or_else(cloudcode_runtime::scaffold::default_source);
    let made = cloudcode_runtime::scaffold::new_hook(name, parent, &source)?;
    let component = name.replace('-', "_");
    println!(
        "created {} (a hook crate against {})",
        made.display(),
        source.display()
    );
    println!();
    println!("  cd {}", made.display());
    println!("  cargo test                # in the real sandbox, run by `cloudcode test`");
    println!("  cargo build --release");
    println!("  mkdir -p hooks && cp target/wasm32-wasip2/release/{component}.wasm hooks/");
    println!("  cloudcode serve --hooks-dir hooks --hooks-config hooks.toml");
    println!();
    if !cloudcode_runtime::scaffold::on_path("cloudcode") {
        println!("`cloudcode` is not on PATH, and the tests need it: install it with");
        println!(
            "  cargo install --locked --path {}",
            source.join("runtime").display()
        );
        println!();
    }
    println!("README.md says more.");
    Ok(())
}

/// `cloudcode check`: every finding, most severe first, on stdout; a high
/// one fails the command (deploy scripts gate on it).
async fn check(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.into_config()?;
    let mut found = findings(&config);
    // The grants can only be judged against what the hooks ask for: load
    // them as `serve` would (compiled hooks come from the cache).
    match load_hooks(&config).await {
        Ok(sandbox) => found.extend(grant_findings(&sandbox.current())),
        Err(error) => found.push(Finding {
            severity: Severity::High,
            setting: "--hooks-dir / --hooks-config",
            problem: format!("the server would not start: {error}"),
            fix: "fix or remove the file the error names".into(),
        }),
    }
    found.sort_by_key(|f| f.severity);
    for finding in &found {
        println!(
            "{:<6}  {}: {}",
            finding.severity, finding.setting, finding.problem
        );
        println!("        fix: {}", finding.fix);
    }
    let high = found
        .iter()
        .filter(|f| f.severity == Severity::High)
        .count();
    match found.len() {
        0 => println!("no findings: nothing weak or risky in these settings"),
        n => println!("{n} finding(s), {high} high"),
    }
    if high > 0 {
        std::process::exit(1);
    }
    Ok(())
}

/// `cloudcode migrate`: SQLite into an empty PostgreSQL database.
async fn migrate(from: &str, to: &str, ca: Option<std::path::PathBuf>) -> anyhow::Result<()> {
    let Database::Sqlite(path) = Database::from_uri(from)? else {
        anyhow::bail!("--from must be a SQLite database (sqlite:<path> or a path)");
    };
    let target = Database::with_ca(to, ca)?;
    let Database::Postgres { uri, ca } = &target else {
        anyhow::bail!("--to must be a PostgreSQL database (postgres://user@host:port/db)");
    };
    if !path.is_file() {
        anyhow::bail!("no SQLite database at {}", path.display());
    }
    let source = Store::open(&path)?;
    let destination = Store::connect(uri, ca.as_deref()).await?;
    let copied = source.copy_into(&destination).await?;
    println!("copied {} into {target}:", path.display());
    println!(
        "  {} users, {} sessions, {} rotated-token hashes, {} audit events, {} objects, {} login throttle counts, {} declared classes",
        copied.users,
        copied.sessions,
        copied.rotated_tokens,
        copied.events,
        copied.objects,
        copied.login_failures,
        copied.classes
    );
    Ok(())
}

/// `cloudcode check-hook FILE`: prints the hook's contract, manifest and
/// missing imports, or why it cannot load (exit status 1).
async fn check_hook(file: std::path::PathBuf) -> anyhow::Result<()> {
    let name = file.display().to_string();
    let bytes = match std::fs::read(&file) {
        Ok(bytes) => bytes,
        Err(error) => {
            eprintln!("cannot read {name}: {error}");
            std::process::exit(1)
        }
    };
    let source = HookSource {
        name: name.clone(),
        bytes,
    };
    match tokio::task::spawn_blocking(move || check_hook_blocking(source)).await? {
        Ok(check) => {
            let list = |items: &[String]| {
                if items.is_empty() {
                    "(none)".to_string()
                } else {
                    items.join(", ")
                }
            };
            println!("{name}: loads");
            println!("  contract: {}", check.contract);
            println!("  functions: {}", list(&check.manifest.functions));
            println!("  triggers: {}", list(&check.manifest.triggers()));
            println!("  asks for: {}", check.manifest.capabilities);
            println!(
                "  imports this server does not provide (calls to them fail): {}",
                list(&check.unlinked_imports)
            );
            Ok(())
        }
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(1)
        }
    }
}
