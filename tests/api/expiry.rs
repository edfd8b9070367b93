//! Session lifetime, with tiny configured timeouts instead of long sleeps.

use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::harness::Server;

#[test]
fn asvs_7_3_2_absolute_lifetime_ends_even_an_active_session() {
    let srv = Server::start_with(&["--session-length", "1.5", "--session-idle-timeout", "60"]);
    let (_, token) = srv.signup("busy");
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1300) {
        assert_eq!(srv.me_status(&token), 200);
        sleep(Duration::from_millis(200));
    }
    sleep(Duration::from_millis(400));
    srv.get("/users/me")
        .token(&token)
        .send()
        .assert_error(400, 209);
}

#[test]
fn asvs_7_3_1_idle_sessions_expire_and_use_keeps_them_alive() {
    let srv = Server::start_with(&["--session-idle-timeout", "1"]);
    let (_, token) = srv.signup("idle");
    let (_, untouched) = srv.signup("untouched");
    for _ in 0..4 {
        sleep(Duration::from_millis(450));
        assert_eq!(srv.me_status(&token), 200, "use slides the idle window");
    }
    assert_eq!(
        srv.me_status(&untouched),
        400,
        "unused for 1.8 s > 1 s idle timeout"
    );
    sleep(Duration::from_millis(1200));
    srv.get("/sessions/me")
        .token(&token)
        .send()
        .assert_error(400, 209);
}

#[test]
fn reported_expiry_is_the_effective_one() {
    let srv = Server::start_with(&["--session-length", "100", "--session-idle-timeout", "10"]);
    let (_, token) = srv.signup("clock");
    let me = srv.get("/sessions/me").token(&token).send();
    let created = chrono_ms(me.json["createdAt"].as_str().unwrap());
    let expires = chrono_ms(me.json["expiresAt"]["iso"].as_str().unwrap());
    assert_eq!(
        expires - created,
        10_000,
        "idle expiry comes before the absolute one"
    );
}

fn chrono_ms(iso: &str) -> i64 {
    cloudcode_runtime::clock::from_iso(iso).unwrap()
}

#[test]
fn asvs_7_4_1_expired_sessions_are_purged_by_the_sweeper() {
    let srv = Server::start_with(&["--session-length", "0.5", "--session-sweep-interval", "0.2"]);
    let (_, _token) = srv.signup("swept");
    let count = || -> i64 { srv.sql("SELECT COUNT(*) FROM sessions")[0].parse().unwrap() };
    assert_eq!(count(), 1);
    // Generous for a loaded CI machine: the loop ends as soon as it is purged.
    let deadline = Instant::now() + Duration::from_secs(20);
    while count() > 0 && Instant::now() < deadline {
        sleep(Duration::from_millis(100));
    }
    assert_eq!(count(), 0, "not purged; the server's log:\n{}", srv.logs());
}
