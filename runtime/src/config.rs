//! Server configuration: flags with environment fallbacks (Parse Server's
//! names where they exist), validated once at start-up.

use std::fs;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;

use crate::auth::throttle::ThrottleConfig;
use crate::clock::Millis;
use crate::policy::SessionPolicy;
use crate::sandbox::{HooksConfig, SandboxConfig};

#[derive(Debug, clap::Args, Clone)]
pub struct ServeArgs {
    /// Application id clients must send.
    #[arg(long, env = "PARSE_SERVER_APPLICATION_ID", default_value = "cloudcode")]
    pub app_id: String,
    /// Master key. Default: random, generated on first start and kept in the data directory.
    #[arg(long, env = "PARSE_SERVER_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<String>,
    /// Addresses (IPs or CIDR ranges, comma-separated) allowed to use the master key.
    #[arg(
        long,
        env = "PARSE_SERVER_MASTER_KEY_IPS",
        value_delimiter = ',',
        default_value = "127.0.0.1/8,::1/128"
    )]
    pub master_key_ips: Vec<String>,
    /// JavaScript key; when any client key is set, clients must present one.
    #[arg(long, env = "PARSE_SERVER_JAVASCRIPT_KEY", hide_env_values = true)]
    pub javascript_key: Option<String>,
    /// REST API key.
    #[arg(long, env = "PARSE_SERVER_REST_API_KEY", hide_env_values = true)]
    pub rest_api_key: Option<String>,
    /// Client key (iOS/Android SDKs).
    #[arg(long, env = "PARSE_SERVER_CLIENT_KEY", hide_env_values = true)]
    pub client_key: Option<String>,
    /// Address to listen on.
    #[arg(long, env = "PARSE_SERVER_HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "PORT", default_value_t = 1337)]
    pub port: u16,
    /// Serve Prometheus metrics (`GET /metrics`, plain HTTP) on this
    /// address, e.g. 127.0.0.1:9464. Off by default: they tell how busy the
    /// server is and which hooks it runs, so keep the address private.
    #[arg(long, env = "CLOUDCODE_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Path the API is mounted at.
    #[arg(long, env = "PARSE_SERVER_MOUNT_PATH", default_value = "/parse")]
    pub mount_path: String,
    /// Directory for the database and the generated master key.
    #[arg(long, env = "CLOUDCODE_DATA_DIR", default_value = "cloudcode-data")]
    pub data_dir: PathBuf,
    /// Database: `sqlite:<path>` or a file path. Default: `<data-dir>/cloudcode.db`.
    #[arg(long, env = "PARSE_SERVER_DATABASE_URI")]
    pub database_uri: Option<String>,
    /// CA certificates (PEM) to verify a PostgreSQL server by, for a
    /// `--database-uri` with `sslmode=require` (default: the public web roots).
    #[arg(long, env = "CLOUDCODE_DATABASE_CA")]
    pub database_ca: Option<PathBuf>,
    /// Absolute session lifetime in seconds (default 30 days).
    #[arg(
        long,
        env = "PARSE_SERVER_SESSION_LENGTH",
        default_value_t = 2_592_000.0
    )]
    pub session_length: f64,
    /// Inactivity timeout of a session in seconds (default 7 days).
    #[arg(
        long,
        env = "CLOUDCODE_SESSION_IDLE_TIMEOUT",
        default_value_t = 604_800.0
    )]
    pub session_idle_timeout: f64,
    /// Seconds during which a rotated-out token is only refused; presented
    /// later, it revokes every session of its user (reuse detection).
    #[arg(long, env = "CLOUDCODE_TOKEN_REUSE_GRACE", default_value_t = 10.0)]
    pub token_reuse_grace: f64,
    /// Consecutive failed logins of an account before back-off starts.
    #[arg(long, env = "CLOUDCODE_LOGIN_FREE_FAILURES", default_value_t = 5)]
    pub login_free_failures: u32,
    /// Failed logins accepted per account per hour.
    #[arg(
        long,
        env = "CLOUDCODE_LOGIN_MAX_FAILURES_PER_HOUR",
        default_value_t = 100
    )]
    pub login_max_failures_per_hour: u32,
    /// Failed logins accepted per client address per 15 minutes.
    #[arg(
        long,
        env = "CLOUDCODE_LOGIN_MAX_FAILURES_PER_IP",
        default_value_t = 100
    )]
    pub login_max_failures_per_ip: u32,
    /// How often expired sessions are purged, in seconds.
    #[arg(long, env = "CLOUDCODE_SESSION_SWEEP_INTERVAL", default_value_t = 60.0)]
    pub session_sweep_interval: f64,
    /// TLS certificate chain (PEM). With --tls-key, the server speaks HTTPS only.
    #[arg(long, env = "CLOUDCODE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, env = "CLOUDCODE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Reverse proxies (IPs or CIDR ranges) whose X-Forwarded-Proto and
    /// X-Forwarded-For are believed.
    #[arg(long, env = "CLOUDCODE_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,
    /// Serve plain HTTP to non-loopback clients. Tokens and passwords then
    /// cross the network in clear text: never in production.
    #[arg(long, env = "CLOUDCODE_INSECURE_HTTP")]
    pub insecure_http: bool,
    /// Require the user's `currentPassword` in any change of their password,
    /// email or username (ASVS 7.5.1). Off by default: the Parse SDKs do not
    /// send it unless the app does (`user.save({password, currentPassword})`).
    #[arg(long, env = "CLOUDCODE_REQUIRE_CURRENT_PASSWORD")]
    pub require_current_password: bool,
    /// Seconds a client has to send a request's headers (also how long a
    /// connection with nothing in flight stays open, HTTP/2 included).
    #[arg(long, env = "CLOUDCODE_HEADER_TIMEOUT", default_value_t = 10.0)]
    pub header_timeout: f64,
    /// Seconds a client has to send a whole request body.
    #[arg(long, env = "CLOUDCODE_BODY_TIMEOUT", default_value_t = 30.0)]
    pub body_timeout: f64,
    /// Seconds a response may wait for the client to take more of it; a
    /// client that stops reading is cut off.
    #[arg(long, env = "CLOUDCODE_SEND_TIMEOUT", default_value_t = 30.0)]
    pub send_timeout: f64,
    /// Open connections at most (kept below the process's file descriptor limit).
    #[arg(long, env = "CLOUDCODE_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,
    /// Open connections at most from one client address (trusted proxies
    /// are bound only by --max-connections).
    #[arg(long, env = "CLOUDCODE_MAX_CONNECTIONS_PER_IP", default_value_t = 256)]
    pub max_connections_per_ip: usize,
    /// Largest request body accepted, in bytes.
    #[arg(long, env = "CLOUDCODE_MAX_BODY_BYTES", default_value_t = 20 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Directory of extra hook components (`*.wasm`) to load.
    #[arg(long, env = "CLOUDCODE_HOOKS_DIR")]
    pub hooks_dir: Option<PathBuf>,
    /// What each hook is granted, and its settings (TOML: `[hooks."<file>.wasm"]`
    /// with `grant = ["sessions:read", ...]` and a `config` table). Hooks it
    /// does not name get `log` only; built-in hooks, what they ask for.
    #[arg(long, env = "CLOUDCODE_HOOKS_CONFIG")]
    pub hooks_config: Option<PathBuf>,
    /// Reload the hooks whenever a file of `--hooks-dir` or the hooks
    /// config changes, as `SIGHUP` does (for development).
    #[arg(long, env = "CLOUDCODE_WATCH_HOOKS")]
    pub watch_hooks: bool,
    /// Do not load the built-in hooks (logoutFromAllDevices, rotate-on-password-change).
    #[arg(long, env = "CLOUDCODE_NO_BUILTIN_HOOKS")]
    pub no_builtin_hooks: bool,
    /// Where compiled hooks are cached. Default: `<data-dir>/hook-cache`.
    #[arg(long, env = "CLOUDCODE_HOOKS_CACHE_DIR")]
    pub hooks_cache_dir: Option<PathBuf>,
    /// Memory limit of one hook invocation, in MiB.
    #[arg(long, env = "CLOUDCODE_HOOK_MEMORY_MIB", default_value_t = 32)]
    pub hook_memory_mib: usize,
    /// Time budget of a cloud function, in seconds.
    #[arg(long, env = "CLOUDCODE_HOOK_FUNCTION_TIMEOUT", default_value_t = 5.0)]
    pub hook_function_timeout: f64,
    /// Time budget of an afterSave hook, in seconds.
    #[arg(long, env = "CLOUDCODE_HOOK_AFTER_SAVE_TIMEOUT", default_value_t = 1.0)]
    pub hook_after_save_timeout: f64,
    /// Hook invocations that may run at once (the instance pool size).
    #[arg(long, env = "CLOUDCODE_HOOK_CONCURRENCY", default_value_t = 32)]
    pub hook_concurrency: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Invalid(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Client keys of the app; a request must match one if any is set.
#[derive(Clone, Default)]
pub struct ClientKeys(Vec<String>);

impl ClientKeys {
    pub fn required(&self) -> bool {
        !self.0.is_empty()
    }

    pub fn accepts(&self, key: &str) -> bool {
        self.0.iter().any(|k| crate::secret::secret_eq(k, key))
    }
}

/// What one client may hold of the server's connections and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub send_timeout: Duration,
    pub max: usize,
    pub per_ip: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            send_timeout: Duration::from_secs(30),
            max: 4096,
            per_ip: 256,
        }
    }
}

/// Validated configuration. Not `Debug`: it holds the master key.
#[derive(Clone)]
pub struct Config {
    pub app_id: String,
    pub master_key: String,
    pub master_key_ips: Vec<IpNet>,
    pub client_keys: ClientKeys,
    pub listen: SocketAddr,
    /// Where Prometheus metrics are served, if anywhere.
    pub metrics: Option<SocketAddr>,
    pub mount_path: String,
    pub database: Database,
    pub master_key_file: Option<PathBuf>,
    pub session_policy: SessionPolicy,
    pub sweep_interval: Millis,
    pub max_body_bytes: usize,
    pub connections: ConnectionLimits,
    pub sandbox: SandboxConfig,
    pub builtin_hooks: bool,
    pub hooks_dir: Option<PathBuf>,
    /// The hooks config file, read again on every reload.
    pub hooks_config: Option<PathBuf>,
    /// Reload the hooks when their files change (development).
    pub watch_hooks: bool,
    pub login_throttle: ThrottleConfig,
    /// Certificate and key files when serving HTTPS.
    pub tls_files: Option<(PathBuf, PathBuf)>,
    pub tls: bool,
    pub trusted_proxies: Vec<IpNet>,
    pub insecure_http: bool,
    pub require_current_password: bool,
}

impl Config {
    /// Defaults for an embedded server over an in-memory store (the hook
    /// testkit and benchmarks): no listener, no master key file, no built-in hooks.
    pub fn in_memory_defaults() -> Config {
        const DAY: Millis = 24 * 3600 * 1000;
        Config {
            app_id: "cloudcode".into(),
            master_key: hex::encode(crate::token::mint().hash.0),
            master_key_ips: Vec::new(),
            client_keys: ClientKeys::default(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            metrics: None,
            mount_path: "/parse".into(),
            database: Database::Sqlite(PathBuf::from(":memory:")),
            master_key_file: None,
            session_policy: SessionPolicy::new(30 * DAY, 7 * DAY),
            sweep_interval: 60_000,
            max_body_bytes: 1 << 20,
            connections: ConnectionLimits::default(),
            sandbox: SandboxConfig::default(),
            builtin_hooks: false,
            hooks_dir: None,
            hooks_config: None,
            watch_hooks: false,
            login_throttle: ThrottleConfig::default(),
            tls_files: None,
            tls: false,
            trusted_proxies: Vec::new(),
            insecure_http: false,
            require_current_password: false,
        }
    }
}

fn seconds(name: &str, value: f64) -> Result<Millis, ConfigError> {
    if value.is_finite() && value > 0.0 && value * 1000.0 < Millis::MAX as f64 {
        Ok(((value * 1000.0).round() as Millis).max(1))
    } else {
        Err(ConfigError::Invalid(format!(
            "{name} must be a positive number of seconds"
        )))
    }
}

impl ServeArgs {
    pub fn into_config(self) -> Result<Config, ConfigError> {
        let master_key_ips = self
            .master_key_ips
            .iter()
            .map(|ip| parse_ip_range(ip.trim()))
            .collect::<Result<_, _>>()?;
        let mount_path = normalize_mount(&self.mount_path)?;
        let trusted_proxies: Vec<IpNet> = self
            .trusted_proxies
            .iter()
            .filter(|p| !p.trim().is_empty())
            .map(|p| parse_ip_range(p.trim()))
            .collect::<Result<_, _>>()?;
        let tls_files = self.tls_cert.zip(self.tls_key);
        if tls_files.is_none()
            && trusted_proxies.is_empty()
            && !self.insecure_http
            && !self.host.is_loopback()
        {
            return Err(ConfigError::Invalid(format!(
                "refusing to serve plain HTTP on {}: pass --tls-cert and --tls-key, list the TLS-terminating proxy in --trusted-proxies, or (never in production) --insecure-http",
                self.host
            )));
        }
        let database = match self.database_uri {
            Some(uri) => Database::with_ca(&uri, self.database_ca)?,
            None if self.database_ca.is_some() => {
                return Err(ConfigError::Invalid(
                    "--database-ca is for a PostgreSQL --database-uri".into(),
                ));
            }
            None => Database::Sqlite(self.data_dir.join("cloudcode.db")),
        };
        let session_policy = SessionPolicy {
            reuse_grace: seconds("token reuse grace", self.token_reuse_grace)?,
            ..SessionPolicy::new(
                seconds("session length", self.session_length)?,
                seconds("session idle timeout", self.session_idle_timeout)?,
            )
        };
        let sweep_interval = seconds("session sweep interval", self.session_sweep_interval)?;
        if !(1..=4096).contains(&self.hook_memory_mib) {
            return Err(ConfigError::Invalid(
                "hook memory must be 1 to 4096 MiB".into(),
            ));
        }
        if !(1..=10_000).contains(&self.hook_concurrency) {
            return Err(ConfigError::Invalid(
                "hook concurrency must be 1 to 10000".into(),
            ));
        }
        let sandbox = SandboxConfig {
            memory_limit: self.hook_memory_mib << 20,
            function_timeout: duration("hook function timeout", self.hook_function_timeout)?,
            after_save_timeout: duration("hook afterSave timeout", self.hook_after_save_timeout)?,
            concurrency: self.hook_concurrency,
            cache_dir: Some(
                self.hooks_cache_dir
                    .unwrap_or_else(|| self.data_dir.join("hook-cache")),
            ),
            log_sink: None,
            hooks_config: match &self.hooks_config {
                Some(path) => {
                    HooksConfig::read(path).map_err(|e| ConfigError::Invalid(e.to_string()))?
                }
                None => HooksConfig::default(),
            },
        };
        if self.max_connections == 0 || self.max_connections_per_ip == 0 {
            return Err(ConfigError::Invalid(
                "connection limits must be at least 1".into(),
            ));
        }
        let connections = ConnectionLimits {
            header_timeout: duration("header timeout", self.header_timeout)?,
            body_timeout: duration("body timeout", self.body_timeout)?,
            send_timeout: duration("send timeout", self.send_timeout)?,
            max: self.max_connections,
            per_ip: self.max_connections_per_ip,
        };
        // Only now touch the file system: every check above is pure.
        let (master_key, master_key_file) = match self.master_key {
            Some(key) if key.len() >= 16 => (key, None),
            Some(_) => {
                return Err(ConfigError::Invalid(
                    "the master key must be at least 16 characters".into(),
                ));
            }
            None => {
                let path = self.data_dir.join("master.key");
                (load_or_create_master_key(&path)?, Some(path))
            }
        };
        if let Database::Sqlite(path) = &database
            && let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
        {
            create_private_dir(parent)?;
        }
        let client_keys = ClientKeys(
            [self.javascript_key, self.rest_api_key, self.client_key]
                .into_iter()
                .flatten()
                .collect(),
        );
        Ok(Config {
            app_id: self.app_id,
            master_key,
            master_key_ips,
            client_keys,
            listen: SocketAddr::new(self.host, self.port),
            metrics: self.metrics_addr,
            mount_path,
            database,
            master_key_file,
            session_policy,
            sweep_interval,
            max_body_bytes: self.max_body_bytes,
            connections,
            sandbox,
            builtin_hooks: !self.no_builtin_hooks,
            hooks_dir: self.hooks_dir,
            hooks_config: self.hooks_config,
            watch_hooks: self.watch_hooks,
            tls: tls_files.is_some(),
            tls_files,
            trusted_proxies,
            insecure_http: self.insecure_http,
            require_current_password: self.require_current_password,
            login_throttle: ThrottleConfig {
                free_failures: self.login_free_failures,
                max_per_hour: self.login_max_failures_per_hour,
                ip_max: self.login_max_failures_per_ip,
            },
        })
    }
}

fn duration(name: &str, value: f64) -> Result<std::time::Duration, ConfigError> {
    seconds(name, value).map(|ms| std::time::Duration::from_millis(ms as u64))
}

fn parse_ip_range(text: &str) -> Result<IpNet, ConfigError> {
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| ConfigError::Invalid(format!("not an IP address or range: {text:?}")))
}

fn normalize_mount(path: &str) -> Result<String, ConfigError> {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    if !trimmed.starts_with('/') || trimmed.contains("//") {
        return Err(ConfigError::Invalid(format!(
            "mount path must start with '/': {path:?}"
        )));
    }
    Ok(trimmed.to_string())
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ConfigError + '_ {
    move |source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn create_private_dir(dir: &Path) -> Result<(), ConfigError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(io_error(dir))
}

/// Reads the master key kept in the data directory, or creates a random one
/// readable by the owner only.
fn load_or_create_master_key(path: &Path) -> Result<String, ConfigError> {
    if let Ok(existing) = fs::read_to_string(path) {
        let key = existing.trim().to_string();
        if key.len() >= 16 {
            return Ok(key);
        }
        return Err(ConfigError::Invalid(format!(
            "{} holds no usable master key",
            path.display()
        )));
    }
    if let Some(dir) = path.parent() {
        create_private_dir(dir)?;
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ConfigError::Invalid(e.to_string()))?;
    let key = hex::encode(bytes);
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(io_error(path))?;
    file.write_all(format!("{key}\n").as_bytes())
        .map_err(io_error(path))?;
    Ok(key)
}

mod check;
mod database;
#[cfg(test)]
mod tests;

pub use check::{Finding, Severity, findings, grant_findings, log_findings};
pub use database::Database;
