//! Loading the hooks: at start, and again while serving, on `SIGHUP` and with
//! `--watch-hooks` whenever a file of `--hooks-dir` or the hooks config
//! changes. The new set (built-in hooks, the directory, the config file
//! read again) is compiled and checked completely before it replaces the
//! old one in a single swap ([`crate::sandbox::Sandbox::reload`]); calls in
//! flight finish on the set they started with. If any file is broken, the
//! old set keeps serving and the log names the file.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use crate::Core;
use crate::config::Config;
use crate::sandbox::{HookSource, HooksConfig, LoadError, Sandbox};

/// Compiles (or loads from the cache) the built-in hooks and those of
/// `--hooks-dir`, granted what `--hooks-config` says.
pub async fn load_hooks(config: &Config) -> Result<Sandbox, LoadError> {
    let sources = hook_sources(config)?;
    let sandbox_config = config.sandbox.clone();
    tokio::task::spawn_blocking(move || Sandbox::new(sandbox_config, sources))
        .await
        .map_err(|e| LoadError::Engine(e.to_string()))?
}

/// The built-in hooks (unless turned off) and those of `--hooks-dir`.
pub fn hook_sources(config: &Config) -> Result<Vec<HookSource>, LoadError> {
    let mut sources = Vec::new();
    if config.builtin_hooks {
        sources.extend(crate::sandbox::builtin_sources());
    }
    if let Some(dir) = &config.hooks_dir {
        sources.extend(HookSource::from_dir(dir)?);
    }
    Ok(sources)
}

/// Loads the hooks anew and swaps them in; the error of a set that cannot
/// load (nothing changed then).
pub async fn reload(core: &Core) -> Result<(), LoadError> {
    let config = &core.config;
    let sources = hook_sources(config)?;
    let hooks_config = match &config.hooks_config {
        Some(path) => HooksConfig::read(path)?,
        None => HooksConfig::default(),
    };
    let swapping = core.clone();
    let set = tokio::task::spawn_blocking(move || swapping.sandbox.reload(sources, &hooks_config))
        .await
        .map_err(|e| LoadError::Engine(e.to_string()))??;
    let loaded: Vec<&str> = set.hooks().map(|hook| hook.name).collect();
    tracing::info!(hooks = ?loaded, "hooks reloaded");
    crate::config::log_findings(crate::config::grant_findings(&set));
    Ok(())
}

async fn reload_and_log(core: &Core) {
    if let Err(error) = reload(core).await {
        tracing::error!(%error, "hooks not reloaded; the previous set keeps serving");
    }
}

/// Reloads the hooks on every `SIGHUP`.
pub async fn on_hangup(core: Core) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(hangups) => hangups,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGHUP; hooks reload only with --watch-hooks");
                return;
            }
        };
        while hangups.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the hooks");
            reload_and_log(&core).await;
        }
    }
    #[cfg(not(unix))]
    let _ = core;
}

/// How often `--watch-hooks` looks at the files, and how long a change
/// must rest before it is loaded (a copy in progress is not a hook yet).
const WATCH_INTERVAL: Duration = Duration::from_millis(300);

/// Reloads the hooks whenever the files of `--hooks-dir` or the hooks
/// config change (names, sizes, modification times) from `loaded` (taken
/// before the running set was read), once they stop changing. Polling:
/// portable, and a few `stat` calls a second.
pub async fn watch(core: Core, mut loaded: Files) {
    let mut seen = loaded.clone();
    loop {
        tokio::time::sleep(WATCH_INTERVAL).await;
        let now = files(&core.config);
        // Reload when the files differ from those loaded and held still
        // since the last look.
        if now != loaded && now == seen {
            tracing::info!("hook files changed: reloading the hooks");
            reload_and_log(&core).await;
            loaded = now.clone();
        }
        seen = now;
    }
}

/// What `watch` compares: each watched file with its size and mtime.
pub type Files = Vec<(PathBuf, u64, Option<SystemTime>)>;

/// The watched files as they are now.
pub fn files(config: &Config) -> Files {
    let mut paths: Vec<PathBuf> = config.hooks_config.iter().cloned().collect();
    if let Some(dir) = &config.hooks_dir
        && let Ok(entries) = std::fs::read_dir(dir)
    {
        paths.extend(
            entries
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|path| path.extension().is_some_and(|ext| ext == "wasm")),
        );
    }
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let meta = std::fs::metadata(&path).ok();
            let size = meta.as_ref().map_or(0, |m| m.len());
            let modified = meta.and_then(|m| m.modified().ok());
            (path, size, modified)
        })
        .collect()
}
