//! Parse Dashboard against a real `cloudcode` process, driven in headless
//! Chromium (`tests/dashboard`, `node --test`). Installs the npm packages on
//! first use; needs Debian's Chromium (`apt-get install chromium`, or its
//! path in `CHROMIUM`) and says it skipped where there is none.

#[path = "api/harness.rs"]
#[allow(dead_code)]
mod harness;
#[path = "node.rs"]
mod node;
#[path = "api/postgres.rs"]
#[allow(dead_code)]
mod postgres;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use harness::{APP_ID, MASTER_KEY, Server};
use node::{npm_project, run};

const APP_NAME: &str = "cloudcode-e2e";
const OPERATOR: &str = "operator";
const OPERATOR_PASSWORD: &str = "operator-password-e2e";

fn chromium() -> Option<PathBuf> {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from("/usr/bin/chromium")))
        .filter(|path| path.exists())
}

/// The Dashboard's process, stopped when dropped.
struct Dashboard(Child);

impl Drop for Dashboard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn parse_dashboard_end_to_end() {
    let Some(chromium) = chromium() else {
        eprintln!(
            "skipped: the Parse Dashboard test needs Chromium (apt-get install chromium, or set CHROMIUM)"
        );
        return;
    };
    let dir = npm_project("dashboard", "parse-dashboard");
    let srv = Server::start();
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("dashboard.json");
    let apps = serde_json::json!({
        "apps": [{
            "serverURL": srv.base,
            "appId": APP_ID,
            "masterKey": MASTER_KEY,
            "appName": APP_NAME,
        }],
        "users": [{"user": OPERATOR, "pass": OPERATOR_PASSWORD}],
    });
    std::fs::write(&config, apps.to_string()).unwrap();
    let port = postgres::free_port();
    let log = std::fs::File::create(work.path().join("dashboard.log")).unwrap();
    let _dashboard = Dashboard(
        Command::new("node")
            .arg(dir.join("node_modules/parse-dashboard/bin/parse-dashboard"))
            .arg("--config")
            .arg(&config)
            // Plain HTTP on loopback only, as the README's recipe runs it.
            .args(["--allowInsecureHTTP", "--host", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .args(["--cookieSessionSecret", "e2e-cookie-secret"])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .expect("start parse-dashboard (is Node.js installed?)"),
    );
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while ureq::get(&format!("{url}/login")).call().is_err() {
        assert!(
            Instant::now() < deadline,
            "the Dashboard did not start: {}",
            std::fs::read_to_string(work.path().join("dashboard.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let suite = run(Command::new("node")
        .args(["--test", "--test-reporter=spec", "dashboard.test.mjs"])
        .current_dir(&dir)
        .env("CLOUDCODE_URL", &srv.base)
        .env("CLOUDCODE_APP_ID", APP_ID)
        .env("CLOUDCODE_MASTER_KEY", MASTER_KEY)
        .env("DASHBOARD_URL", &url)
        .env("DASHBOARD_APP_NAME", APP_NAME)
        .env("DASHBOARD_USER", OPERATOR)
        .env("DASHBOARD_PASSWORD", OPERATOR_PASSWORD)
        .env("CHROMIUM", &chromium));
    assert!(
        suite.status.success(),
        "the Parse Dashboard test failed; server log:\n{}\nDashboard log:\n{}",
        srv.logs(),
        std::fs::read_to_string(work.path().join("dashboard.log")).unwrap_or_default()
    );
}
