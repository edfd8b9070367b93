//! Several server processes on one database (PostgreSQL in the
//! `api_postgres` suite, one SQLite file in `api`): whatever ends a session
//! through one node is refused by every node as soon as it has answered.

use serde_json::json;

use crate::harness::Server;

/// Three nodes; the second and third on the first one's database.
fn three_nodes() -> Vec<Server> {
    let first = Server::start();
    let database = first.database_uri();
    let others: Vec<Server> = (0..2)
        .map(|_| Server::start_with(&["--database-uri", &database]))
        .collect();
    std::iter::once(first).chain(others).collect()
}

fn assert_everywhere(nodes: &[Server], token: &str, status: u16, what: &str) {
    for (i, node) in nodes.iter().enumerate() {
        assert_eq!(node.me_status(token), status, "{what}: node {}", i + 1);
    }
}

#[test]
fn whatever_ends_a_session_on_one_node_is_refused_by_every_node_at_once() {
    let nodes = three_nodes();
    let (id, first_token) = nodes[0].signup("roamer");
    assert_everywhere(&nodes, &first_token, 200, "a signup's token");
    for round in 0..6 {
        let (via, other) = (&nodes[round % 3], &nodes[(round + 1) % 3]);
        // Logout through one node.
        let token = via.login("roamer", &format!("device-{round}"));
        assert_everywhere(&nodes, &token, 200, "a fresh login");
        other.post("/logout").token(&token).send().assert_ok();
        assert_everywhere(&nodes, &token, 400, "after logout");

        // logoutFromAllDevices through one node ends the others' sessions.
        let phone = via.login("roamer", "phone");
        let laptop = other.login("roamer", "laptop");
        let revoked = via
            .post("/functions/logoutFromAllDevices")
            .token(&laptop)
            .json(json!({"keepCurrent": true}))
            .send();
        revoked.assert_ok();
        assert_everywhere(&nodes, &phone, 400, "after logoutFromAllDevices");
        assert_everywhere(&nodes, &laptop, 200, "the kept session");

        // A password change through one node: the old token dies everywhere,
        // the rotated one works everywhere.
        let changed = other
            .put(&format!("/users/{id}"))
            .token(&laptop)
            .json(json!({"password": "pw-roamer"}))
            .send();
        changed.assert_ok();
        assert_everywhere(&nodes, &laptop, 200, "an unchanged password changes nothing");
        let changed = other
            .put(&format!("/users/{id}"))
            .token(&laptop)
            .json(json!({"password": format!("pw-roamer-{round}")}))
            .send();
        changed.assert_ok();
        assert_everywhere(&nodes, &laptop, 400, "the pre-change token");
        let rotated = changed.str("sessionToken");
        assert_everywhere(&nodes, &rotated, 200, "the rotated token");
        // Back to the password the helpers log in with.
        nodes[round % 3]
            .put(&format!("/users/{id}"))
            .token(&rotated)
            .json(json!({"password": "pw-roamer"}))
            .send()
            .assert_ok();
    }
    assert_everywhere(&nodes, &first_token, 400, "every password change ended it");
}

/// `kill -9` of one node in the middle of traffic loses nothing it
/// acknowledged: every signup it answered is there, its token valid, on
/// the nodes that live on.
#[test]
fn a_node_killed_mid_traffic_loses_no_acknowledged_write() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    let mut nodes = three_nodes();
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..3)
        .map(|worker| {
            let (acknowledged, stop) = (acknowledged.clone(), stop.clone());
            let base = nodes[1].base.clone();
            std::thread::spawn(move || {
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let answer = ureq::post(&format!("{base}/users"))
                        .set("X-Parse-Application-Id", crate::harness::APP_ID)
                        .send_json(json!({"username": format!("k{worker}-{i}"), "password": "pw"}))
                        .ok()
                        .and_then(|r| r.into_json::<serde_json::Value>().ok());
                    match answer.and_then(|v| v["sessionToken"].as_str().map(String::from)) {
                        Some(token) => acknowledged.lock().unwrap().push(token),
                        None => break,
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    nodes[1].kill();
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.join().unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap();
    assert!(acknowledged.len() > 5, "traffic ran: {}", acknowledged.len());
    for token in acknowledged.iter() {
        assert_eq!(nodes[0].me_status(token), 200, "an acknowledged signup");
        assert_eq!(nodes[2].me_status(token), 200, "an acknowledged signup");
    }
}
