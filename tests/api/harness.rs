//! A real `cloudcode` process on 127.0.0.1 and a small HTTP client for it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tempfile::TempDir;

pub const APP_ID: &str = "test-app";
pub const MASTER_KEY: &str = "test-master-key-0123456789";

/// Whether this binary runs its suite on PostgreSQL: `api` and `js_sdk` run
/// on SQLite, `api_postgres` and `js_sdk_postgres` (the same tests) on
/// PostgreSQL (see `postgres.rs`).
pub fn on_postgres() -> bool {
    env!("CARGO_CRATE_NAME").ends_with("_postgres")
}

/// For tests of what only the SQLite backend has (its files on disk, data
/// only SQLite can hold): true, and said so, in the PostgreSQL suite,
/// where the test returns at once.
pub fn skipped_on_postgres() -> bool {
    if on_postgres() {
        eprintln!("skipped on PostgreSQL: a test of the SQLite backend");
    }
    on_postgres()
}

/// The PostgreSQL suites' database server; a PostgreSQL suite cannot run
/// without one, and says what to install.
fn postgres() -> &'static crate::postgres::Cluster {
    crate::postgres::cluster().unwrap_or_else(|why| {
        panic!(
            "this suite runs on PostgreSQL and there is none: {why}. Install PostgreSQL's \
             server binaries (Debian: apt install postgresql), set PG_BIN to their directory, \
             or set CLOUDCODE_TEST_POSTGRES=postgres://user@host:port (a role that may create databases)"
        )
    })
}

/// A new, empty PostgreSQL database of the suite's server; its URI.
pub fn new_postgres_database() -> String {
    postgres().create_database()
}

pub struct Server {
    child: Child,
    pub base: String,
    /// The `--database-uri` it was started with (a PostgreSQL database of
    /// its own), or none for the SQLite file in its data directory.
    database_uri: Option<String>,
    /// Data directory and log; removed when the server is dropped.
    dir: TempDir,
    /// The hook components it was started with, if any.
    _hooks: Option<TempDir>,
    /// Client TLS settings, for servers started with a certificate.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Where `--metrics-addr` (port 0 allowed) ended up, as it announced.
    metrics: Option<String>,
}

impl Server {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts the binary with a fresh data directory and extra flags. All
    /// servers share one compiled-hook cache, warmed once per test process.
    pub fn start_with(extra: &[&str]) -> Self {
        Self::try_start(extra).unwrap_or_else(|log| panic!("server did not start: {log}"))
    }

    /// Like `start_with`, but a server that refuses to start gives its log.
    pub fn try_start(extra: &[&str]) -> Result<Self, String> {
        static WARM: std::sync::Once = std::sync::Once::new();
        WARM.call_once(|| drop(Self::spawn(&[])));
        Self::spawn(extra)
    }

    /// Starts the binary serving copies of the named components (and any
    /// extra files) from a hooks directory of its own. Unless `extra`
    /// names a `--hooks-config`, each named component is granted every
    /// capability it asks for.
    pub fn try_start_with_hooks(
        names: &[&str],
        files: &[(&str, &[u8])],
        extra: &[&str],
    ) -> Result<Self, String> {
        let hooks = hooks_dir(names, files);
        let grants = hooks.path().join("grant-all.toml");
        let mut args = vec!["--hooks-dir", hooks.path().to_str().unwrap()];
        if !extra.contains(&"--hooks-config") {
            std::fs::write(&grants, grant_all(names)).unwrap();
            args.extend(["--hooks-config", grants.to_str().unwrap()]);
        }
        args.extend_from_slice(extra);
        let mut server = Self::try_start(&args)?;
        server._hooks = Some(hooks);
        Ok(server)
    }

    pub fn start_with_hooks(names: &[&str], extra: &[&str]) -> Self {
        Self::try_start_with_hooks(names, &[], extra)
            .unwrap_or_else(|log| panic!("server did not start: {log}"))
    }

    fn spawn(extra: &[&str]) -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix("cloudcode-api-test-")
            .tempdir()
            .unwrap();
        let chosen = extra.contains(&"--database-uri");
        let database_uri = (on_postgres() && !chosen).then(|| postgres().create_database());
        let database_args = database_uri
            .as_deref()
            .map(|uri| vec!["--database-uri", uri])
            .unwrap_or_default();
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_cloudcode"))
            .arg("serve")
            .args([
                "--port",
                "0",
                "--app-id",
                APP_ID,
                "--master-key",
                MASTER_KEY,
            ])
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--hooks-cache-dir")
            .arg(Path::new(env!("CARGO_TARGET_TMPDIR")).join("hook-cache"))
            .args(database_args)
            .args(extra)
            .env("RUST_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start cloudcode");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(url) = line.strip_prefix("cloudcode listening on ") {
                        break url.trim().to_string();
                    }
                }
                _ => {
                    let _ = child.wait();
                    let log =
                        std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
                    return Err(log);
                }
            }
        };
        // Announced right after the listener, when asked for.
        let metrics = extra.contains(&"--metrics-addr").then(|| {
            lines
                .by_ref()
                .map_while(Result::ok)
                .find_map(|line| {
                    let url = line.trim().strip_prefix("metrics: http://")?;
                    url.strip_suffix("/metrics").map(str::to_string)
                })
                .expect("the server announces its metrics address")
        });
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let database_uri = database_uri.or_else(|| {
            let at = extra.iter().position(|arg| *arg == "--database-uri")?;
            extra.get(at + 1).map(|uri| uri.to_string())
        });
        Ok(Server {
            child,
            base,
            database_uri,
            dir,
            _hooks: None,
            tls: None,
            metrics,
        })
    }

    /// Ends the process at once, as `kill -9` does (std sends SIGKILL).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The address it listens on.
    /// The metrics listener's address, for a server started with
    /// `--metrics-addr`.
    pub fn metrics_addr(&self) -> String {
        self.metrics.clone().expect("started with --metrics-addr")
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        let authority = self.base.split("://").nth(1).unwrap();
        authority.split('/').next().unwrap().parse().unwrap()
    }

    /// The directory its hooks were copied into, if it was started with some.
    pub fn hooks_dir(&self) -> &Path {
        self._hooks.as_ref().expect("started with hooks").path()
    }

    /// The server's process id (to read its memory use).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("data").join("cloudcode.db")
    }

    /// The database as `--database-uri` names it, for a second server on it.
    pub fn database_uri(&self) -> String {
        self.database_uri
            .clone()
            .unwrap_or_else(|| format!("sqlite:{}", self.db_path().display()))
    }

    /// Runs one SQL statement (in the dialect both backends share) on the
    /// server's database, as an operator with a SQL shell would; returns
    /// the first column of each row as text (byte strings as hex).
    pub fn sql(&self, statement: &str) -> Vec<String> {
        if let Some(uri) = self
            .database_uri
            .as_deref()
            .filter(|u| u.starts_with("postgres"))
        {
            let database = uri.rsplit('/').next().unwrap();
            return postgres().psql(database, statement);
        }
        use r2d2_sqlite::rusqlite::{Connection, types::ValueRef};
        let db = Connection::open(self.db_path()).unwrap();
        let mut stmt = db.prepare(statement).unwrap();
        let text = |value: ValueRef<'_>| match value {
            ValueRef::Null => String::new(),
            ValueRef::Integer(i) => i.to_string(),
            ValueRef::Real(f) => f.to_string(),
            ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
            ValueRef::Blob(b) => hex::encode(b),
        };
        let mut rows = stmt.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next().unwrap() {
            out.push(text(row.get_ref(0).unwrap()));
        }
        out
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    pub fn req(&self, method: &str, path: &str) -> Req {
        Req {
            method: method.to_string(),
            url: format!("{}{}", self.base, path),
            headers: vec![("X-Parse-Application-Id".into(), APP_ID.into())],
            body: None,
            tls: self.tls.clone(),
        }
    }

    /// A request to `path` on the server's origin, outside its mount path.
    pub fn at_origin(&self, method: &str, path: &str) -> Req {
        let mut req = self.req(method, path);
        let (scheme, rest) = self.base.split_once("://").unwrap();
        let authority = rest.split('/').next().unwrap();
        req.url = format!("{scheme}://{authority}{path}");
        req
    }

    pub fn get(&self, path: &str) -> Req {
        self.req("GET", path)
    }
    pub fn post(&self, path: &str) -> Req {
        self.req("POST", path)
    }
    pub fn put(&self, path: &str) -> Req {
        self.req("PUT", path)
    }
    pub fn delete(&self, path: &str) -> Req {
        self.req("DELETE", path)
    }

    /// The JS SDK's way: a `text/plain` POST whose body carries the envelope.
    pub fn sdk(&self, path: &str, body: Value) -> Resp {
        Req {
            method: "POST".into(),
            url: format!("{}{}", self.base, path),
            headers: vec![("Content-Type".into(), "text/plain".into())],
            body: Some(body.to_string().into_bytes()),
            tls: self.tls.clone(),
        }
        .send()
    }

    pub fn signup(&self, username: &str) -> (String, String) {
        let r = self
            .post("/users")
            .json(json!({"username": username, "password": "pw-".to_string() + username}))
            .send();
        assert_eq!(r.status, 201, "{}", r.json);
        (r.str("objectId"), r.str("sessionToken"))
    }

    pub fn login(&self, username: &str, installation: &str) -> String {
        self.login_with(username, &format!("pw-{username}"), installation)
    }

    pub fn login_with(&self, username: &str, password: &str, installation: &str) -> String {
        let r = self
            .post("/login")
            .installation(installation)
            .json(json!({"username": username, "password": password}))
            .send();
        assert_eq!(r.status, 200, "{}", r.json);
        r.str("sessionToken")
    }

    /// Status of `GET /users/me` with the token: 200 alive, 400 (209) dead.
    pub fn me_status(&self, token: &str) -> u16 {
        self.get("/users/me").token(token).send().status
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The example hook and the misbehaving guests that must load.
pub const LOADABLE_GUESTS: &[&str] = &[
    "hello-hook",
    "guest-spin",
    "guest-memory-bomb",
    "guest-deep-recursion",
    "guest-panic",
    "guest-huge-result",
    "guest-steal-sessions",
    "guest-unknown-import",
    "guest-sleep",
    "guest-std",
];

/// Guests that break what they hook, for tests that load them alone.
pub const TRIGGER_GUESTS: &[&str] = &[
    "guest-user-trap",
    "guest-lifecycle",
    "block-suspended-users",
    "max-sessions-per-user",
];

/// Guests the server must refuse to load.
pub const REFUSED_GUESTS: &[&str] = &["guest-duplicate-function", "guest-future-contract"];

/// The components of the test guests (`tests/guests/*`) and examples,
/// built once per test process; `name` is the package name.
pub fn component(name: &str) -> PathBuf {
    use cloudcode_runtime::sandbox::guest_build;
    static BUILT: std::sync::OnceLock<Result<Vec<(&str, PathBuf)>, String>> =
        std::sync::OnceLock::new();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("../debug/wasm-hooks");
    let built = BUILT
        .get_or_init(|| {
            let packages: Vec<&str> = LOADABLE_GUESTS
                .iter()
                .chain(TRIGGER_GUESTS)
                .chain(REFUSED_GUESTS)
                .copied()
                .collect();
            let components = guest_build::build_packages(workspace, &packages, &target)?;
            Ok(packages.into_iter().zip(components).collect())
        })
        .as_ref()
        .unwrap_or_else(|e| panic!("{e}"));
    built
        .iter()
        .find(|(package, _)| *package == name)
        .map(|(_, path)| path.clone())
        .unwrap_or_else(|| panic!("{name} is not a test guest of the harness"))
}

/// A fresh directory holding copies of the named components (and any extra files).
/// A hooks config granting the named components every capability.
pub fn grant_all(names: &[&str]) -> String {
    names
        .iter()
        .map(|name| {
            format!(
                "[hooks.\"{name}.wasm\"]\ngrant = [\"sessions:read\", \"sessions:revoke\", \"sessions:rotate\", \"log\"]\n"
            )
        })
        .collect()
}

fn hooks_dir(names: &[&str], extra: &[(&str, &[u8])]) -> TempDir {
    let dir = tempfile::Builder::new()
        .prefix("cloudcode-hooks-")
        .tempdir()
        .unwrap();
    for name in names {
        std::fs::copy(component(name), dir.path().join(format!("{name}.wasm"))).unwrap();
    }
    for (file, bytes) in extra {
        std::fs::write(dir.path().join(file), bytes).unwrap();
    }
    dir
}

pub struct Req {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Req {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.into(), value.into()));
        self
    }
    pub fn token(self, token: &str) -> Self {
        self.header("X-Parse-Session-Token", token)
    }
    pub fn master(self) -> Self {
        self.header("X-Parse-Master-Key", MASTER_KEY)
    }
    pub fn installation(self, id: &str) -> Self {
        self.header("X-Parse-Installation-Id", id)
    }
    pub fn no_app_id(mut self) -> Self {
        self.headers.retain(|(n, _)| n != "X-Parse-Application-Id");
        self
    }
    pub fn json(mut self, body: Value) -> Self {
        self.body = Some(body.to_string().into_bytes());
        self.header("Content-Type", "application/json")
    }
    pub fn raw(mut self, body: &[u8]) -> Self {
        self.body = Some(body.to_vec());
        self
    }

    pub fn send(self) -> Resp {
        let mut agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(30));
        if let Some(tls) = &self.tls {
            agent = agent.tls_config(tls.clone());
        }
        let agent = agent.build();
        let mut request = agent.request(&self.method, &self.url);
        for (name, value) in &self.headers {
            request = request.set(name, value);
        }
        let result = match &self.body {
            Some(body) => request.send_bytes(body),
            None => request.call(),
        };
        let response = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{} {}: {e}", self.method, self.url),
        };
        let status = response.status();
        let location = response.header("location").map(String::from);
        let headers = response
            .headers_names()
            .into_iter()
            .filter_map(|name| {
                response
                    .header(&name)
                    .map(|v| (name.clone(), v.to_string()))
            })
            .collect();
        let text = response.into_string().unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Resp {
            status,
            json,
            location,
            headers,
        }
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub json: Value,
    pub location: Option<String>,
    pub headers: Vec<(String, String)>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn str(&self, key: &str) -> String {
        self.json[key]
            .as_str()
            .unwrap_or_else(|| panic!("no string {key} in {}", self.json))
            .to_string()
    }

    /// Asserts a Parse error: HTTP status and `code`.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: u64) {
        assert_eq!(
            (self.status, self.json["code"].as_u64()),
            (status, Some(code)),
            "body: {}",
            self.json
        );
        assert!(self.json["error"].is_string(), "{}", self.json);
    }

    #[track_caller]
    pub fn assert_ok(&self) {
        assert!(
            self.status == 200 || self.status == 201,
            "status {}: {}",
            self.status,
            self.json
        );
    }
}
