//! PostgreSQL for the `*_postgres` suites, each server with a database of
//! its own. With `CLOUDCODE_TEST_POSTGRES` set (`postgres://user@host:port`,
//! a role that may create databases), that server is used. Otherwise a
//! throwaway cluster is started once per test process from the machine's
//! server binaries (`initdb`, `pg_ctl`; `PG_BIN` names their directory if
//! they are not under `/usr/lib/postgresql`), on 127.0.0.1 and a free port,
//! trusting local connections, and stopped (its directory removed) by a
//! watchdog once the test process is gone. With neither (as the runtime's
//! build script sees it), the suites are one test named
//! `skipped_without_postgresql`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

pub struct Cluster {
    /// `psql` and the server it connects to.
    psql: PathBuf,
    server: String,
    /// For a cluster started here: how to stop and start it again.
    control: Option<Control>,
}

struct Control {
    /// `pg_ctl -D <data> -l <log>` and the server options.
    pg_ctl: String,
    options: String,
    data: PathBuf,
}

/// The suite's PostgreSQL, started on first use, or why there is none.
pub fn cluster() -> Result<&'static Cluster, &'static str> {
    static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
    CLUSTER
        .get_or_init(|| match std::env::var("CLOUDCODE_TEST_POSTGRES") {
            Ok(server) => Ok(Cluster {
                psql: which_psql(),
                server: server.trim_end_matches('/').to_string(),
                control: None,
            }),
            Err(_) => Cluster::start(),
        })
        .as_ref()
        .map_err(String::as_str)
}

fn which_psql() -> PathBuf {
    server_binaries()
        .map(|bin| bin.join("psql"))
        .unwrap_or_else(|_| PathBuf::from("psql"))
}

fn server_binaries() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|_| "no /usr/lib/postgresql; install PostgreSQL's server binaries (Debian: postgresql) or set PG_BIN".to_string())?
        .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    found.sort();
    found
        .pop()
        .ok_or_else(|| "no initdb under /usr/lib/postgresql/*/bin; set PG_BIN".to_string())
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Runs a shell command as the `postgres` user when we are root
/// (PostgreSQL refuses to run as root), else as ourselves.
fn as_owner(script: &str) -> Command {
    let mut command = if is_root() {
        let mut su = Command::new("su");
        su.args(["postgres", "-s", "/bin/sh", "-c", script]);
        su
    } else {
        let mut sh = Command::new("sh");
        sh.args(["-c", script]);
        sh
    };
    command.env_remove("PGDATA");
    command
}

fn run(mut command: Command, what: &str) -> Result<String, String> {
    let output = command.output().map_err(|e| format!("{what}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

impl Control {
    fn start(&self) -> Result<String, String> {
        run(
            as_owner(&format!(
                "{} -w -o \"{}\" start >/dev/null",
                self.pg_ctl, self.options
            )),
            "pg_ctl start",
        )
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Cluster {
    fn start() -> Result<Self, String> {
        let bin = server_binaries()?;
        let dir = tempfile::Builder::new()
            .prefix("cloudcode-pg-")
            .tempdir()
            .map_err(|e| e.to_string())?
            .keep();
        if is_root() {
            run(
                {
                    let mut chown = Command::new("chown");
                    chown.args(["postgres:"]).arg(&dir);
                    chown
                },
                "chown",
            )?;
        }
        let port = free_port();
        let (data, log) = (dir.join("data"), dir.join("server.log"));
        let initdb = bin.join("initdb");
        let pg_ctl = bin.join("pg_ctl");
        run(
            as_owner(&format!(
                "'{}' -D '{}' -U postgres --auth=trust -E UTF8 --no-sync >/dev/null",
                initdb.display(),
                data.display()
            )),
            "initdb",
        )?;
        let control = Control {
            pg_ctl: format!(
                "'{}' -D '{}' -l '{}'",
                pg_ctl.display(),
                data.display(),
                log.display()
            ),
            options: format!(
                "-p {port} -k '{}' -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=400",
                dir.display()
            ),
            data: data.clone(),
        };
        control.start()?;
        watch(std::process::id(), &pg_ctl, &data, &dir);
        Ok(Cluster {
            psql: bin.join("psql"),
            server: format!("postgres://postgres@127.0.0.1:{port}"),
            control: Some(control),
        })
    }

    /// A cluster of the caller's own (to stop and start), apart from the
    /// suite's.
    pub fn private() -> Result<Self, String> {
        Self::start()
    }

    /// A cluster of the caller's own that accepts TCP connections over TLS
    /// only, presenting this certificate and key (PEM).
    pub fn private_tls(certificate: &str, key: &str) -> Result<Self, String> {
        let mut cluster = Self::start()?;
        let control = cluster.control.as_mut().expect("a cluster started here");
        let (cert_file, key_file) = (
            control.data.join("server.crt"),
            control.data.join("server.key"),
        );
        std::fs::write(&cert_file, certificate).map_err(|e| e.to_string())?;
        std::fs::write(&key_file, key).map_err(|e| e.to_string())?;
        std::fs::write(
            control.data.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\n",
        )
        .map_err(|e| e.to_string())?;
        if is_root() {
            run(
                {
                    let mut chown = Command::new("chown");
                    chown.arg("postgres:").arg(&cert_file).arg(&key_file);
                    chown
                },
                "chown",
            )?;
        }
        std::fs::set_permissions(
            &key_file,
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .map_err(|e| e.to_string())?;
        control.options.push_str(&format!(
            " -c ssl=on -c ssl_cert_file='{}' -c ssl_key_file='{}'",
            cert_file.display(),
            key_file.display()
        ));
        cluster.stop();
        cluster.restart();
        Ok(cluster)
    }

    /// Stops the server at once, as a crash would.
    pub fn stop(&self) {
        let control = self.control.as_ref().expect("a cluster started here");
        run(
            as_owner(&format!(
                "{} -m immediate -w stop >/dev/null",
                control.pg_ctl
            )),
            "pg_ctl stop",
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Starts it again after [`Self::stop`].
    pub fn restart(&self) {
        let control = self.control.as_ref().expect("a cluster started here");
        control.start().unwrap_or_else(|e| panic!("{e}"));
    }

    /// A new, empty database; returns its URI.
    pub fn create_database(&self) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "cloudcode_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        format!("{}/{name}", self.server)
    }

    /// Runs one SQL statement in `database` and returns the first column of
    /// each row as text (byte strings as hex).
    pub fn psql(&self, database: &str, sql: &str) -> Vec<String> {
        let mut command = Command::new(&self.psql);
        command
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(["-d", &format!("{}/{database}", self.server), "-c", sql]);
        let out = run(command, &format!("psql {sql:?}")).unwrap_or_else(|e| panic!("{e}"));
        out.lines()
            .map(|line| {
                let first = line.split('|').next().unwrap_or_default();
                first.strip_prefix("\\x").unwrap_or(first).to_string()
            })
            .collect()
    }
}

/// Stops the cluster and removes its directory once process `pid` (this
/// test process) has exited, however it exits.
fn watch(pid: u32, pg_ctl: &Path, data: &Path, dir: &Path) {
    let stop = format!(
        "'{}' -D '{}' -m immediate stop >/dev/null 2>&1",
        pg_ctl.display(),
        data.display()
    );
    let stop = if is_root() {
        format!("su postgres -s /bin/sh -c \"{stop}\"")
    } else {
        stop
    };
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop}; rm -rf '{}'",
        dir.display()
    );
    let _ = Command::new("sh")
        .args(["-c", &script])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}
