//! The security self-check (`cloudcode check`, and the findings `serve`
//! logs at start): each weak or risky setting of a validated [`Config`],
//! with why it matters and how to fix it. What the configuration refuses
//! outright (plain HTTP on a public address without `--insecure-http`, a
//! master key under 16 characters) never gets this far.

use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;

use super::{Config, Database};
use crate::sandbox::HookSet;

/// How much a finding matters; any `High` makes `cloudcode check` fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    High,
    Medium,
    Low,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad`, so that `{:<6}` lines findings up.
        f.pad(match self {
            Severity::High => "HIGH",
            Severity::Medium => "MEDIUM",
            Severity::Low => "LOW",
        })
    }
}

/// One weak setting: which, why it matters, and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub severity: Severity,
    pub setting: &'static str,
    pub problem: String,
    pub fix: String,
}

const DAY_MS: i64 = 24 * 3600 * 1000;

/// The findings for `config`, most severe first.
pub fn findings(config: &Config) -> Vec<Finding> {
    let mut found = Vec::new();
    let mut add = |severity, setting, problem: String, fix: &str| {
        found.push(Finding {
            severity,
            setting,
            problem,
            fix: fix.to_string(),
        })
    };

    let host = config.listen.ip();
    if config.insecure_http && !config.tls && !host.is_loopback() {
        add(
            Severity::High,
            "--insecure-http",
            format!(
                "plain HTTP on {host}: session tokens and passwords cross the network in clear text"
            ),
            "serve HTTPS (--tls-cert, --tls-key) or sit behind a TLS-terminating proxy listed in --trusted-proxies, and drop --insecure-http",
        );
    }
    if let Some(metrics) = config.metrics
        && !is_private(&IpNet::from(metrics.ip()))
    {
        add(
            Severity::Medium,
            "--metrics-addr",
            format!(
                "metrics are served to anyone who reaches {metrics}: traffic, session counts, hook names"
            ),
            "serve them on loopback or a private network the scraper shares (e.g. 127.0.0.1:9464), or firewall the port",
        );
    }
    for range in &config.master_key_ips {
        if !is_private(range) {
            add(
                Severity::High,
                "--master-key-ips",
                format!(
                    "the master key is accepted from {range}, which reaches beyond loopback and private networks"
                ),
                "allow the master key from loopback or your private admin network only (default 127.0.0.1/8,::1/128)",
            );
        }
    }
    if config.master_key.len() < 32 {
        add(
            Severity::Medium,
            "--master-key",
            format!("the master key has {} characters", config.master_key.len()),
            "use at least 32 random characters (or let the server generate one: omit --master-key)",
        );
    }
    let reused =
        config.master_key == config.app_id || config.client_keys.accepts(&config.master_key);
    if reused {
        add(
            Severity::High,
            "--master-key",
            "the master key is also the app id or a client key, which every client holds".into(),
            "give the master key a value of its own, known to the server and its operators only",
        );
    }
    let policy = &config.session_policy;
    if policy.length > 90 * DAY_MS {
        add(
            Severity::Medium,
            "--session-length",
            format!("sessions live {} days", policy.length / DAY_MS),
            "keep sessions to 90 days or less (default 30); long-lived tokens outlive the devices that hold them",
        );
    }
    if policy.idle_timeout > 30 * DAY_MS || policy.idle_timeout >= policy.length {
        add(
            Severity::Medium,
            "--session-idle-timeout",
            format!(
                "an unused session stays valid {} days{}",
                policy.idle_timeout / DAY_MS,
                if policy.idle_timeout >= policy.length {
                    " (no shorter than the session itself)"
                } else {
                    ""
                }
            ),
            "set an idle timeout of 30 days or less, below --session-length (default 7 days)",
        );
    }
    let throttle = &config.login_throttle;
    let loosest = [
        (
            "--login-free-failures",
            u64::from(throttle.free_failures),
            20,
            10_000,
        ),
        (
            "--login-max-failures-per-hour",
            u64::from(throttle.max_per_hour),
            1_000,
            100_000,
        ),
        (
            "--login-max-failures-per-ip",
            u64::from(throttle.ip_max),
            1_000,
            100_000,
        ),
    ];
    for (setting, value, loose, off) in loosest {
        if value >= off {
            add(
                Severity::High,
                setting,
                format!("{value} failed logins allowed: login throttling is effectively off"),
                "keep the defaults (5 free failures, 100 per hour and account, 100 per 15 minutes and address)",
            );
        } else if value > loose {
            add(
                Severity::Medium,
                setting,
                format!("{value} failed logins allowed before throttling bites"),
                "keep the defaults (5 free failures, 100 per hour and account, 100 per 15 minutes and address)",
            );
        }
    }
    let sandbox = &config.sandbox;
    if sandbox.memory_limit > 256 << 20 {
        add(
            Severity::Medium,
            "--hook-memory-mib",
            format!(
                "a hook may use {} MiB per call (default 32)",
                sandbox.memory_limit >> 20
            ),
            "keep hook memory near the default; every concurrent call may take this much",
        );
    }
    if sandbox.function_timeout.as_secs_f64() > 30.0
        || sandbox.after_save_timeout.as_secs_f64() > 10.0
    {
        add(
            Severity::Medium,
            "--hook-function-timeout / --hook-after-save-timeout",
            format!(
                "hooks may run {:.0} s (functions) and {:.0} s (afterSave); defaults 5 s and 1 s",
                sandbox.function_timeout.as_secs_f64(),
                sandbox.after_save_timeout.as_secs_f64()
            ),
            "keep hook time budgets near the defaults: a slow hook holds its request and a slot",
        );
    }
    if sandbox.concurrency > 256 {
        add(
            Severity::Low,
            "--hook-concurrency",
            format!(
                "{} hook calls may run at once (default 32)",
                sandbox.concurrency
            ),
            "size it to the memory you have: concurrency x --hook-memory-mib",
        );
    }
    match &config.database {
        Database::Sqlite(path) => {
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
            let dir_mode = dir.and_then(mode).unwrap_or(0o700);
            // A file in a directory others cannot enter is out of their reach.
            if dir_mode & 0o011 != 0
                && let Some(file_mode) = mode(path).filter(|m| m & 0o044 != 0)
            {
                add(
                    Severity::High,
                    "--database-uri",
                    format!(
                        "{} (mode {file_mode:o}, in a directory others may enter) is readable by other users: it holds password and token hashes",
                        path.display()
                    ),
                    "chmod 700 its directory, or chmod 600 the database file and its -wal and -shm files",
                );
            }
            if let Some(dir) = dir.filter(|_| dir_mode & 0o077 != 0) {
                add(
                    Severity::Medium,
                    "--data-dir",
                    format!(
                        "{} (mode {dir_mode:o}) is open to other users",
                        dir.display()
                    ),
                    "chmod 700 the data directory",
                );
            }
        }
        Database::Postgres { uri, .. } => {
            if let Ok(parsed) = uri.parse::<tokio_postgres::Config>() {
                let remote = parsed.get_hosts().iter().any(|host| match host {
                    tokio_postgres::config::Host::Tcp(name) => !is_loopback_name(name),
                    tokio_postgres::config::Host::Unix(_) => false,
                });
                if remote && parsed.get_ssl_mode() != tokio_postgres::config::SslMode::Require {
                    add(
                        Severity::Medium,
                        "--database-uri",
                        "the database is reached over the network in clear text".into(),
                        "add ?sslmode=require (and --database-ca for a private CA), or keep the database on loopback or a private network",
                    );
                }
            }
        }
    }
    for (file, setting) in [
        (config.master_key_file.as_deref(), "--data-dir (master.key)"),
        (
            config.tls_files.as_ref().map(|(_, key)| key.as_path()),
            "--tls-key",
        ),
    ] {
        if let Some(path) = file
            && let Some(mode) = mode(path).filter(|m| m & 0o044 != 0)
        {
            add(
                Severity::High,
                setting,
                format!(
                    "{} (mode {mode:o}) is readable by other users",
                    path.display()
                ),
                "chmod 600 it",
            );
        }
    }
    found.sort_by_key(|f| f.severity);
    found
}

/// Logs findings where the operator looks: low ones at info, the others
/// as warnings.
pub fn log_findings(found: Vec<crate::config::Finding>) {
    for finding in found {
        match finding.severity {
            Severity::Low => {
                tracing::info!(setting = finding.setting, fix = %finding.fix, "{}", finding.problem)
            }
            _ => {
                tracing::warn!(severity = %finding.severity, setting = finding.setting, fix = %finding.fix, "{}", finding.problem)
            }
        }
    }
}

/// The findings about the loaded hooks' grants (`--hooks-config`): a
/// grant of what a hook does not ask for (a new version of that file would
/// get it, without anyone granting it again), requests that were not
/// granted (the calls that need them will fail), and entries that name no
/// loaded hook.
pub fn grant_findings(set: &HookSet) -> Vec<Finding> {
    let mut found = Vec::new();
    for name in set.unmatched_config_entries() {
        found.push(Finding {
            severity: Severity::Medium,
            setting: "--hooks-config",
            problem: format!("the hooks config names {name}, which is not a loaded hook: its grants apply to nothing"),
            fix: "key each entry by the hook's file name (e.g. \"my_hook.wasm\"); remove entries of hooks you removed".into(),
        });
    }
    for hook in set.hooks() {
        let granted = hook.explicit_grant.unwrap_or(hook.granted);
        let unasked = granted.without(hook.manifest.capabilities);
        if !unasked.is_empty() {
            found.push(Finding {
                severity: Severity::Medium,
                setting: "--hooks-config",
                problem: format!(
                    "hook {} is granted {unasked}, which it does not ask for: a new version of the file would get it without anyone granting it again",
                    hook.name
                ),
                fix: "grant each hook only what its manifest asks for (`cloudcode check-hook FILE` prints it)".into(),
            });
        }
        let denied = hook.denied();
        if !denied.is_empty() {
            found.push(Finding {
                severity: Severity::Low,
                setting: "--hooks-config",
                problem: format!(
                    "hook {} asks for {denied}, which it is not granted: its calls that need them fail",
                    hook.name
                ),
                fix: "grant them in the hook's entry if it should have them, or remove the hook".into(),
            });
        }
    }
    found.sort_by_key(|f| f.severity);
    found
}

/// Loopback, RFC 1918 / unique-local, or link-local.
fn is_private(range: &IpNet) -> bool {
    let private = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    };
    private(range.network()) && private(range.broadcast())
}

fn is_loopback_name(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A file's permission bits (unix; `None` elsewhere or if it is missing).
fn mode(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        Some(std::fs::metadata(path).ok()?.permissions().mode() & 0o777)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

#[cfg(test)]
mod tests;
