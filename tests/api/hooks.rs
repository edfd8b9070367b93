//! Cloud Code over HTTP: the built-in hooks, dispatch, and hostile guests.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{APP_ID, LOADABLE_GUESTS, Server, component};

#[test]
fn asvs_7_5_2_logout_from_all_devices_kills_every_device_and_no_other_user() {
    let srv = Server::start();
    let (_, signup) = srv.signup("amy");
    let devices = ["phone", "laptop", "tablet"].map(|d| srv.login("amy", d));
    let (_, other_user) = srv.signup("ben");
    let r = srv
        .post("/functions/logoutFromAllDevices")
        .token(&devices[0])
        .json(json!({}))
        .send();
    assert_eq!((r.status, &r.json), (200, &json!({"result": 4})));
    for token in devices.iter().chain([&signup]) {
        assert_eq!(srv.me_status(token), 400);
    }
    assert_eq!(srv.me_status(&other_user), 200);
}

#[test]
fn logout_from_all_devices_can_keep_the_current_one() {
    let srv = Server::start();
    srv.signup("cat");
    let phone = srv.login("cat", "phone");
    let laptop = srv.login("cat", "laptop");
    let r = srv.sdk(
        "/functions/logoutFromAllDevices",
        json!({"_ApplicationId": APP_ID, "_SessionToken": phone, "keepCurrent": true}),
    );
    assert_eq!(r.json, json!({"result": 2}));
    assert_eq!(srv.me_status(&phone), 200);
    assert_eq!(srv.me_status(&laptop), 400);
}

#[test]
fn logout_from_all_devices_needs_a_session() {
    let srv = Server::start();
    srv.post("/functions/logoutFromAllDevices")
        .send()
        .assert_error(400, 209);
    srv.post("/functions/logoutFromAllDevices")
        .master()
        .send()
        .assert_error(400, 209);
}

#[test]
fn asvs_7_4_3_a_password_change_rotates_the_callers_token() {
    let srv = Server::start();
    let (id, _) = srv.signup("dan");
    let laptop = srv.login("dan", "laptop");
    let phone = srv.login("dan", "phone");
    let r = srv
        .put(&format!("/users/{id}"))
        .token(&laptop)
        .json(json!({"password": "n3w"}))
        .send();
    assert_eq!(r.status, 200, "{}", r.json);
    let new_token = r.str("sessionToken");
    assert_ne!(new_token, laptop);
    assert_eq!(srv.me_status(&laptop), 400, "the old token died");
    assert_eq!(srv.me_status(&new_token), 200);
    assert_eq!(srv.me_status(&phone), 400);
    let again = srv
        .put(&format!("/classes/_User/{id}"))
        .token(&new_token)
        .json(json!({"password": "n3w-again"}))
        .send();
    let newer = again.str("sessionToken");
    assert_eq!(srv.me_status(&new_token), 400);
    assert_eq!(srv.me_status(&newer), 200);
    let session = srv.get("/sessions/me").token(&newer).send();
    assert_eq!(
        session.json["installationId"], "laptop",
        "same session, new token"
    );
    let other_change = srv
        .put(&format!("/users/{id}"))
        .token(&newer)
        .json(json!({"nick": "d"}))
        .send();
    assert!(
        other_change.json.get("sessionToken").is_none(),
        "no password, no rotation"
    );
}

#[test]
fn unknown_functions_and_bad_parameters() {
    let srv = Server::start();
    let r = srv.post("/functions/nope").json(json!({})).send();
    r.assert_error(400, 141);
    assert_eq!(r.json["error"], "Invalid function: \"nope\"");
    srv.post("/functions/logoutFromAllDevices")
        .raw(b"[1]")
        .send()
        .assert_error(400, 107);
}

/// Serves the example and every misbehaving guest, with a short function budget.
fn hostile_server() -> Server {
    Server::start_with_hooks(LOADABLE_GUESTS, &["--hook-function-timeout", "0.5"])
}

#[test]
fn each_hostile_guest_fails_only_its_own_request() {
    let srv = hostile_server();
    let (_, token) = srv.signup("victim-of-nothing");
    for function in [
        "spin", "sleep", "bomb", "recurse", "panic", "huge", "connect",
    ] {
        let start = Instant::now();
        let r = srv
            .post(&format!("/functions/{function}"))
            .token(&token)
            .json(json!({}))
            .send();
        let elapsed = start.elapsed();
        r.assert_error(400, 141);
        assert_eq!(
            r.json["error"], "Cloud Code failed.",
            "no detail leaks to the client"
        );
        assert!(
            elapsed < Duration::from_secs(5),
            "{function} took {elapsed:?}"
        );
        let hello = srv.post("/functions/hello").json(json!({})).send();
        assert_eq!(
            hello.json,
            json!({"result": {"hello": "world"}}),
            "after {function}"
        );
    }
    let offline = srv.post("/functions/offline").send();
    assert_eq!(
        offline.json,
        json!({"result": "no network needed"}),
        "the guest with an unknown import still loads"
    );
    assert_eq!(srv.me_status(&token), 200);
    let logs = srv.logs();
    assert!(logs.contains("ran out of time"), "the detail is logged");
}

/// Between calls nothing wakes an idle server (the epoch ticker sleeps; it
/// woke a thousand times a second), yet a guest that spins after the
/// server idled is still stopped by its deadline.
#[test]
fn an_idle_server_sleeps_and_still_stops_a_spinning_guest() {
    let srv = hostile_server();
    let hello = srv.post("/functions/hello").json(json!({})).send();
    assert_eq!(hello.json, json!({"result": {"hello": "world"}}));
    std::thread::sleep(Duration::from_millis(500));
    let before = context_switches(srv.pid());
    std::thread::sleep(Duration::from_secs(1));
    let woken = context_switches(srv.pid()) - before;
    assert!(woken < 100, "{woken} wake-ups in an idle second");

    let start = Instant::now();
    srv.post("/functions/spin")
        .json(json!({}))
        .send()
        .assert_error(400, 141);
    assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
    assert!(srv.logs().contains("ran out of time"));
}

/// Context switches of all of a process's threads so far.
fn context_switches(pid: u32) -> u64 {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap();
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("status")).ok())
        .map(|status| {
            status
                .lines()
                .filter(|line| line.contains("ctxt_switches:"))
                .filter_map(|line| line.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum::<u64>()
        })
        .sum()
}

/// Printing, clocks, sleeping and hash-map seeds come from WASI; a hook
/// built with today's Rust imports them at a newer patch version (0.2.6)
/// than it calls them by, and the host links yet another (0.2.12).
#[test]
fn hooks_can_use_what_the_standard_library_takes_from_wasi() {
    let srv = Server::start_with_hooks(&["guest-std"], &[]);
    let r = srv.post("/functions/std").json(json!({})).send();
    assert_eq!(r.status, 200, "{}", r.json);
    let result = &r.json["result"];
    assert!(result["sleptMs"].as_u64().unwrap() >= 20, "{result}");
    assert_eq!(result["entries"], 2);
    let host_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let guest_now = result["unixSeconds"].as_u64().unwrap();
    assert!(
        host_now.abs_diff(guest_now) < 60,
        "{guest_now} vs {host_now}"
    );
    let logs = srv.logs();
    for printed in ["printed by a hook", "complained by a hook"] {
        assert!(logs.contains(printed), "{printed:?} not in the log");
    }
}

/// Guests run on the async executor, so a spinning guest must give it back:
/// more spinning guests than worker threads, and the server still answers.
#[test]
fn spinning_guests_do_not_stall_other_requests() {
    let srv = Server::start_with_hooks(LOADABLE_GUESTS, &["--hook-function-timeout", "4"]);
    let (_, token) = srv.signup("bystander");
    let spinners: Vec<_> = (0..4)
        .map(|_| {
            let request = srv.post("/functions/spin").json(json!({}));
            std::thread::spawn(move || request.send())
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..5 {
        assert_eq!(srv.me_status(&token), 200);
        let hello = srv.post("/functions/hello").json(json!({})).send();
        assert_eq!(hello.json, json!({"result": {"hello": "world"}}));
    }
    assert!(
        spinners.iter().all(|s| !s.is_finished()),
        "the requests above were answered while every guest still spun"
    );
    for spinner in spinners {
        spinner.join().unwrap().assert_error(400, 141);
    }
}

#[test]
fn a_guest_cannot_reach_another_users_sessions() {
    let srv = hostile_server();
    let (_, attacker) = srv.signup("mallory");
    let (victim, victim_token) = srv.signup("victor");
    for function in ["steal", "peek"] {
        let r = srv
            .post(&format!("/functions/{function}"))
            .token(&attacker)
            .json(json!({"userId": victim}))
            .send();
        r.assert_error(400, 141);
    }
    assert_eq!(srv.me_status(&victim_token), 200);
    assert_eq!(srv.me_status(&attacker), 200);
    let rotate = srv
        .post("/functions/rotate")
        .token(&attacker)
        .json(json!({}))
        .send();
    rotate.assert_error(400, 119);
    assert_eq!(
        srv.me_status(&attacker),
        200,
        "no rotation outside afterSave(_User)"
    );
    assert!(srv.logs().contains("another user's sessions"));
}

#[test]
fn a_failing_after_save_leaves_the_save_standing() {
    let srv = hostile_server();
    let r = srv.post("/classes/Fragile").json(json!({"n": 1})).send();
    assert_eq!(r.status, 201, "{}", r.json);
    let id = r.str("objectId");
    let update = srv
        .put(&format!("/classes/Fragile/{id}"))
        .json(json!({"n": 2}))
        .send();
    assert_eq!(update.status, 200);
    assert_eq!(
        srv.get(&format!("/classes/Fragile/{id}")).send().json["n"],
        2
    );
    assert!(srv.logs().contains("afterSave hook failed"));
}

#[test]
fn the_example_lists_my_devices_over_http() {
    let srv = hostile_server();
    srv.signup("fay");
    let phone = srv.login("fay", "phone");
    srv.login("fay", "laptop");
    let r = srv
        .post("/functions/mySessions")
        .token(&phone)
        .json(json!({}))
        .send();
    let devices = r.json["result"].as_array().unwrap();
    assert_eq!(devices.len(), 3, "signup, phone and laptop");
    assert!(!r.json.to_string().contains(&phone));
}

#[test]
fn bad_hooks_stop_the_server_with_a_clear_error() {
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a [u8])], &'a [&'a str]);
    let cases: [Case; 3] = [
        (
            &["guest-duplicate-function"],
            &[],
            &[
                "guest-duplicate-function.wasm",
                "logoutFromAllDevices",
                "twice",
            ],
        ),
        (
            &["guest-future-contract"],
            &[],
            &[
                "guest-future-contract.wasm",
                "incompatible",
                "cloudcode:hooks@0.1.0",
            ],
        ),
        (
            &[],
            &[("broken.wasm", b"\0asm not really a component")],
            &["broken.wasm", "not a valid WebAssembly component"],
        ),
    ];
    for (components, files, expected) in cases {
        let log = Server::try_start_with_hooks(components, files, &[])
            .err()
            .expect("must refuse to start");
        for needle in expected {
            assert!(log.contains(needle), "{needle:?} not in: {log}");
        }
    }
}

/// `cloudcode check-hook` loads a component as the server would and says,
/// in a hook author's words, what it offers or why it cannot load.
#[test]
fn check_hook_reports_what_the_server_would_load() {
    let check = |file: &std::path::Path| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_cloudcode"))
            .arg("check-hook")
            .arg(file)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, _) = check(&component("hello-hook"));
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains("contract: cloudcode:hooks@0.2.0"),
        "{stdout}"
    );
    assert!(stdout.contains("functions: hello, mySessions"), "{stdout}");
    assert!(stdout.contains("asks for: sessions:read, log"), "{stdout}");
    assert!(
        stdout.contains("provide (calls to them fail): (none)"),
        "{stdout}"
    );

    let (code, stdout, _) = check(&component("guest-unknown-import"));
    assert_eq!(code, Some(0));
    assert!(
        stdout.contains("hostile:unknown-import/network"),
        "{stdout}"
    );

    let (code, _, stderr) = check(&component("guest-future-contract"));
    assert_eq!(code, Some(1));
    assert!(stderr.contains("cloudcode:hooks/hooks@1.0.0"), "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let core_module = dir.path().join("core.wasm");
    std::fs::write(&core_module, b"\0asm\x01\0\0\0").unwrap();
    let (code, _, stderr) = check(&core_module);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("--target wasm32-wasip2"), "{stderr}");

    let (code, _, stderr) = check(&dir.path().join("missing.wasm"));
    assert_eq!(code, Some(1));
    assert!(stderr.contains("cannot read"), "{stderr}");
}

/// A hook crate whose `[lib]` is not a `cdylib` builds no component: the
/// build says so and how to fix it, even when an older component of the
/// same name still lies in the target directory (it is never picked up).
#[test]
fn a_hook_crate_without_cdylib_is_refused_with_the_fix_not_an_old_component() {
    use cloudcode_runtime::sandbox::guest_build;
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let target = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("rlib-only");
    let stale = target.join("wasm32-wasip2/release/guest_rlib_only.wasm");
    std::fs::create_dir_all(stale.parent().unwrap()).unwrap();
    std::fs::copy(crate::harness::component("hello-hook"), &stale).unwrap();
    let error = guest_build::build_packages(workspace, &["guest-rlib-only"], &target)
        .expect_err("no component");
    assert!(error.contains("crate-type = [\"cdylib\"]"), "{error}");
}
