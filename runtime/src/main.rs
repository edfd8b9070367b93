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

/// mimalloc: the request path allocates many small, short-lived objects
/// across threads, where it is markedly cheaper than glibc's malloc (see
/// BENCHMARKS.md). argon2's large work areas do not come from it (see
/// `auth::password`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
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
