//! Races: many logins against logoutFromAllDevices and a password change.

use serde_json::{Value, json};

use crate::harness::Server;

const ROUNDS: usize = 10;
const LOGINS: usize = 50;

/// A server whose login throttle never refuses: throttling would hide the
/// races (every late attempt would fail on its own).
fn unthrottled_server() -> Server {
    Server::start_with(&[
        "--login-free-failures",
        "1000000",
        "--login-max-failures-per-hour",
        "1000000",
        "--login-max-failures-per-ip",
        "1000000",
    ])
}

#[test]
fn fifty_logins_racing_logout_all_and_a_password_change_leave_no_stale_session() {
    let srv = unthrottled_server();
    let mut logins_before_change = 0;
    for round in 0..ROUNDS {
        let name = format!("racer{round}");
        let (id, _) = srv.signup(&name);
        let changer = srv.login(&name, "changer");
        let srv = &srv;
        let (rotated, succeeded) = std::thread::scope(|s| {
            let logins: Vec<_> = (0..LOGINS)
                .map(|i| {
                    let name = name.clone();
                    s.spawn(move || {
                        srv.post("/login")
                            .installation(&format!("device-{i}"))
                            .json(json!({"username": name, "password": format!("pw-{name}")}))
                            .send()
                    })
                })
                .collect();
            let logout_all = s.spawn(|| {
                srv.post("/functions/logoutFromAllDevices")
                    .token(&changer)
                    .json(json!({"keepCurrent": true}))
                    .send()
            });
            let change = s.spawn(|| {
                srv.put(&format!("/users/{id}"))
                    .token(&changer)
                    .json(json!({"password": "changed"}))
                    .send()
            });
            let mut succeeded = 0;
            for login in logins {
                let r = login.join().unwrap();
                assert!(matches!(r.status, 200 | 404), "{} {}", r.status, r.json);
                succeeded += usize::from(r.status == 200);
            }
            let logout = logout_all.join().unwrap();
            assert!(matches!(logout.status, 200 | 400), "{}", logout.json);
            let change = change.join().unwrap();
            assert_eq!(change.status, 200, "{}", change.json);
            (change.str("sessionToken"), succeeded)
        });
        logins_before_change += succeeded;

        let sessions = srv.get("/sessions?limit=10000").master().send();
        let alive: Vec<&Value> = sessions.json["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["user"]["objectId"] == id.as_str())
            .collect();
        let changer_session = srv
            .get("/sessions/me")
            .token(&rotated)
            .send()
            .str("objectId");
        assert!(
            alive
                .iter()
                .all(|s| s["objectId"] == changer_session.as_str()),
            "round {round}: a session opened with the old password survived: {alive:?}"
        );
        assert_eq!(srv.me_status(&rotated), 200);
    }
    assert!(
        logins_before_change > 0,
        "the race never let a login through"
    );
}

/// Failed and successful logins of one account at once: a success clears
/// the account's count while failures are adding to it, and every attempt
/// still gets a login answer (never a 500).
#[test]
fn failures_and_successes_of_one_account_racing_never_fail_the_server() {
    let srv = unthrottled_server();
    srv.signup("flipper");
    let srv = &srv;
    std::thread::scope(|s| {
        let attempts: Vec<_> = (0..48)
            .map(|i| {
                s.spawn(move || {
                    (0..4)
                        .map(|j| {
                            let password = if (i + j) % 2 == 0 { "pw-flipper" } else { "wrong" };
                            srv.post("/login")
                                .installation(&format!("flip-{i}"))
                                .json(json!({"username": "flipper", "password": password}))
                                .send()
                                .status
                        })
                        .collect::<Vec<u16>>()
                })
            })
            .collect();
        for attempt in attempts {
            for status in attempt.join().unwrap() {
                assert!(matches!(status, 200 | 404), "{status}");
            }
        }
    });
}

/// Many requests reading different tokens at once: on PostgreSQL their
/// lookups share statements (a batch per shared connection), so this is
/// where one request could be answered with another's row. Each must get
/// its own user, and a logged-out or unknown token never a user at all.
#[test]
fn concurrent_token_reads_each_get_their_own_user() {
    let srv = Server::start();
    let users: Vec<(String, String, String)> = (0..6)
        .map(|i| {
            let name = format!("reader{i}");
            let (id, token) = srv.signup(&name);
            (name, id, token)
        })
        .collect();
    let (_, ended) = srv.signup("ended");
    srv.post("/logout").token(&ended).send();
    let srv = &srv;
    std::thread::scope(|s| {
        for thread in 0..8 {
            let users = &users;
            let ended = &ended;
            s.spawn(move || {
                for round in 0..40 {
                    let (name, id, token) = &users[(thread + round) % users.len()];
                    match round % 4 {
                        0 => {
                            let me = srv.get("/users/me").token(token).send();
                            assert_eq!((me.status, &me.json["username"]), (200, &json!(name)));
                        }
                        1 => {
                            let by_id = srv.get(&format!("/users/{id}")).token(token).send();
                            assert_eq!(by_id.json["sessionToken"], json!(token), "{}", by_id.json);
                        }
                        2 => srv.get("/users/me").token(ended).send().assert_error(400, 209),
                        _ => srv
                            .get("/users/me")
                            .token(&format!("r:unknown{thread}x{round}"))
                            .send()
                            .assert_error(400, 209),
                    }
                }
            });
        }
    });
}
