//! The `cloudcode` binary: parse flags, then hand over to the library.

use clap::{Parser, Subcommand};
use cloudcode_runtime::config::ServeArgs;
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
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve(ServeArgs),
}

#[derive(Parser)]
struct DefaultServe {
    #[command(flatten)]
    args: ServeArgs,
}

/// glibc raises its mmap threshold after the first large free, after which
/// every 19 MiB argon2 buffer is carved from a per-thread arena and kept
/// there: a burst of logins grew the process to gigabytes (bench/load.sh).
/// A fixed threshold keeps large buffers mmapped, so free returns them.
fn keep_large_allocations_mmapped() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

fn main() -> anyhow::Result<()> {
    keep_large_allocations_mmapped();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = match Cli::parse().command {
        Some(Command::Serve(args)) => args,
        None => DefaultServe::parse().args,
    };
    let config = args.into_config()?;
    cloudcode_runtime::server::serve(config).await?;
    Ok(())
}
