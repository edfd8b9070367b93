//! Replacing the hooks while serving (`SIGHUP`, `--watch-hooks`), and the
//! master-key listing of what is loaded (`GET /cloudcode/hooks`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Server, component, grant_all};

fn listed(srv: &Server) -> Vec<Value> {
    let r = srv.get("/cloudcode/hooks").master().send();
    assert_eq!(r.status, 200, "{}", r.json);
    r.json["results"].as_array().unwrap().clone()
}

fn files(srv: &Server) -> Vec<String> {
    listed(srv)
        .iter()
        .map(|h| {
            let file = h["file"].as_str().unwrap();
            file.rsplit('/').next().unwrap().to_string()
        })
        .collect()
}

/// Sends `SIGHUP` and waits until the log tells of the reload's outcome
/// (`needle`), the `count`-th time it appears.
fn hang_up(srv: &Server, needle: &str, count: usize) {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &srv.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    wait_for(|| srv.logs().matches(needle).count() >= count, &format!("{needle} #{count}"));
}

fn wait_for(done: impl Fn() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

#[test]
fn the_listing_tells_each_hooks_contract_grant_and_triggers_to_the_master_key_only() {
    let srv = Server::start_with_hooks(&["guest-lifecycle"], &[]);
    srv.get("/cloudcode/hooks").send().assert_error(400, 119);
    let (_, token) = srv.signup("nosy");
    srv.get("/cloudcode/hooks")
        .token(&token)
        .send()
        .assert_error(400, 119);
    let hooks = listed(&srv);
    assert_eq!(hooks.len(), 3, "{hooks:?}");
    assert_eq!(hooks[0]["file"], "builtin:logout-from-all-devices");
    assert_eq!(hooks[0]["granted"], json!(["sessions:revoke"]));
    let guest = &hooks[2];
    assert!(guest["file"].as_str().unwrap().ends_with("guest-lifecycle.wasm"));
    assert_eq!(guest["contract"], "cloudcode:hooks@0.2.0");
    assert_eq!(guest["functions"], json!(["revokeMine"]));
    assert_eq!(guest["triggers"], json!(["beforeLogin", "afterSessionEnd"]));
    assert_eq!(guest["requested"], json!(["sessions:revoke", "log"]));
    assert_eq!(guest["granted"], json!(["sessions:revoke", "log"]));
    assert_eq!(guest["denied"], json!([]));
    let bytes = std::fs::read(component("guest-lifecycle")).unwrap();
    let digest = sha256_hex(&bytes);
    assert_eq!(guest["sha256"], digest);
    assert!(guest["loadedAt"].as_str().unwrap().ends_with('Z'));
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Reloading adds a function, removes one, and a broken file leaves the
/// old set serving; meanwhile clients keep calling a function every set
/// has, and not one of their requests fails.
#[test]
fn sighup_swaps_the_hooks_whole_and_no_request_fails_for_it() {
    let srv = Arc::new(Server::start_with_hooks(&["hello-hook"], &[]));
    let dir = srv.hooks_dir().to_path_buf();
    let config = dir.join("grant-all.toml");
    srv.signup("caller");
    let token = srv.login("caller", "phone");

    let stop = Arc::new(AtomicBool::new(false));
    // If an assertion below fails, the clients stop too, and the last of
    // them to let go of the server ends its process.
    let _stop_clients = StopOnDrop(stop.clone());
    let calls = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (srv, stop, calls) = (srv.clone(), stop.clone(), calls.clone());
            std::thread::spawn(move || {
                let mut failures = Vec::new();
                // Bounded: the test stops it, or 60 s pass.
                let deadline = Instant::now() + Duration::from_secs(60);
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    let r = srv
                        .post("/functions/hello")
                        .json(json!({"name": "reload"}))
                        .send();
                    if (r.status, &r.json) != (200, &json!({"result": {"hello": "reload"}})) {
                        failures.push(format!("{} {}", r.status, r.json));
                    }
                    calls.fetch_add(1, Ordering::Relaxed);
                }
                failures
            })
        })
        .collect();

    // Add a hook (and its grant): its function appears.
    srv.post("/functions/revokeMine")
        .token(&token)
        .send()
        .assert_error(400, 141);
    std::fs::copy(component("guest-lifecycle"), dir.join("guest-lifecycle.wasm")).unwrap();
    std::fs::write(&config, grant_all(&["hello-hook", "guest-lifecycle"])).unwrap();
    hang_up(&srv, "hooks reloaded", 1);
    assert!(files(&srv).contains(&"guest-lifecycle.wasm".to_string()));
    let r = srv.post("/functions/revokeMine").token(&token).send();
    assert_eq!((r.status, &r.json), (200, &json!({"result": 1})), "the signup session");

    // A broken file: nothing changes, and the log names the file.
    std::fs::write(dir.join("broken.wasm"), b"\0asm not a component").unwrap();
    hang_up(&srv, "hooks not reloaded", 1);
    let logs = srv.logs();
    assert!(logs.contains("broken.wasm: not a valid WebAssembly component"), "{logs}");
    assert_eq!(
        srv.post("/functions/revokeMine").token(&token).send().status,
        200,
        "the old set keeps serving"
    );
    std::fs::remove_file(dir.join("broken.wasm")).unwrap();

    // A hooks config that does not parse: nothing changes either.
    std::fs::write(&config, "[hooks.\"hello-hook.wasm\"]\ngrant = [\"everything\"]\n").unwrap();
    hang_up(&srv, "hooks not reloaded", 2);
    assert!(srv.logs().contains("unknown capability \"everything\""));
    assert_eq!(
        srv.post("/functions/revokeMine").token(&token).send().status,
        200,
        "the old set keeps serving"
    );

    // Remove the hook: its function is gone, the others stay.
    std::fs::remove_file(dir.join("guest-lifecycle.wasm")).unwrap();
    std::fs::write(&config, grant_all(&["hello-hook"])).unwrap();
    hang_up(&srv, "hooks reloaded", 2);
    assert!(!files(&srv).contains(&"guest-lifecycle.wasm".to_string()));
    srv.post("/functions/revokeMine")
        .token(&token)
        .send()
        .assert_error(400, 141);

    stop.store(true, Ordering::Relaxed);
    let failures: Vec<String> = clients.into_iter().flat_map(|c| c.join().unwrap()).collect();
    assert!(failures.is_empty(), "{failures:?}");
    assert!(calls.load(Ordering::Relaxed) > 20, "the clients kept calling");
}

struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[test]
fn watch_hooks_reloads_when_a_file_changes() {
    let srv = Server::start_with_hooks(&["hello-hook"], &["--watch-hooks"]);
    let dir = srv.hooks_dir().to_path_buf();
    std::fs::write(
        dir.join("grant-all.toml"),
        grant_all(&["hello-hook", "guest-lifecycle"]),
    )
    .unwrap();
    std::fs::copy(component("guest-lifecycle"), dir.join("guest-lifecycle.wasm")).unwrap();
    wait_for(
        || files(&srv).contains(&"guest-lifecycle.wasm".to_string()),
        &format!("the watcher to load the new file: {}", srv.logs()),
    );
    assert!(srv.logs().contains("hook files changed: reloading the hooks"));
}
