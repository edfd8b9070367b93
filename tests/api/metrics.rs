//! `--metrics-addr`: the Prometheus endpoint, scraped as Prometheus would,
//! while the server is driven through the API.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{LOADABLE_GUESTS, Server};

pub struct Scraper(pub String);

impl Scraper {
    fn text(&self) -> String {
        let response = ureq::get(&format!("http://{}/metrics", self.0))
            .call()
            .expect("the metrics endpoint answers");
        assert_eq!(
            response.content_type(),
            "application/openmetrics-text",
            "{:?}",
            response.header("content-type")
        );
        response.into_string().unwrap()
    }

    /// The value of one series (`name{labels}` as the text spells it), 0
    /// when the series does not exist yet.
    pub fn value(&self, series: &str) -> f64 {
        let text = self.text();
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .map_or(0.0, |v| v.parse().unwrap())
    }
}

#[test]
fn metrics_move_with_requests_sessions_logins_hooks_and_sweeps() {
    let srv = Server::start_with_hooks(
        LOADABLE_GUESTS,
        &[
            "--metrics-addr",
            "127.0.0.1:0",
            "--hook-function-timeout",
            "0.5",
            "--login-free-failures",
            "1",
            "--session-sweep-interval",
            "0.2",
        ],
    );
    let metrics = Scraper(srv.metrics_addr());
    let me = |status: u16| {
        format!(
            "cloudcode_http_requests_total{{method=\"GET\",route=\"/parse/users/me\",status=\"{status}\"}}"
        )
    };
    assert_eq!(metrics.value(&me(200)), 0.0);

    // Requests, by route template and status; a path no route serves.
    let (_, token) = srv.signup("metered");
    for _ in 0..3 {
        assert_eq!(srv.me_status(&token), 200);
    }
    srv.get("/users/me").send().assert_error(400, 209);
    srv.get("/no/such/route").send();
    assert_eq!(metrics.value(&me(200)), 3.0);
    assert_eq!(metrics.value(&me(400)), 1.0);
    assert_eq!(
        metrics.value(
            "cloudcode_http_request_duration_seconds_count{method=\"GET\",route=\"/parse/users/me\"}"
        ),
        4.0
    );
    assert!(metrics.value("cloudcode_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"}") >= 1.0);
    // The SDK's POST with `_method` counts as the method it asked for.
    srv.post("/users/me")
        .json(json!({"_method": "GET", "_SessionToken": token}))
        .send();
    assert_eq!(metrics.value(&me(200)), 4.0);

    // Sessions: started, ended by reason, alive now.
    let second = srv.login("metered", "laptop");
    assert_eq!(metrics.value("cloudcode_sessions_created_total"), 2.0);
    assert_eq!(metrics.value("cloudcode_sessions_live"), 2.0);
    srv.post("/logout").token(&second).send();
    assert_eq!(
        metrics.value("cloudcode_sessions_ended_total{reason=\"logged_out\"}"),
        1.0
    );
    assert_eq!(metrics.value("cloudcode_sessions_live"), 1.0);

    // Failed logins, then the throttle refusing them.
    for _ in 0..3 {
        srv.post("/login")
            .json(json!({"username": "metered", "password": "wrong"}))
            .send();
    }
    let failures = metrics.value("cloudcode_login_failures_total");
    let throttled = metrics.value("cloudcode_login_throttled_total");
    assert!(failures >= 1.0 && throttled >= 1.0, "{failures} {throttled}");
    assert_eq!(failures + throttled, 3.0);

    // Hooks, by outcome.
    let outcomes = [
        ("hello", "ok"),
        ("spin", "timeout"),
        ("bomb", "out_of_memory"),
        ("panic", "trap"),
    ];
    for (function, _) in outcomes {
        srv.post(&format!("/functions/{function}"))
            .json(json!({}))
            .send();
    }
    srv.post("/functions/logoutFromAllDevices")
        .json(json!({}))
        .send()
        .assert_error(400, 209);
    let text = metrics.text();
    let counted = |outcome: &str| {
        text.lines()
            .filter(|l| {
                l.starts_with("cloudcode_hook_invocations_total{")
                    && l.contains(&format!("entry=\"function\",outcome=\"{outcome}\""))
            })
            .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
            .sum::<f64>()
    };
    for (function, outcome) in outcomes {
        assert_eq!(counted(outcome), 1.0, "{function} as {outcome}:\n{text}");
    }
    assert_eq!(counted("error"), 1.0, "the hook's own error:\n{text}");
    assert!(text.contains("cloudcode_hook_slots{kind=\"function\"} 32"), "{text}");
    assert!(text.contains("cloudcode_hook_slots_in_use{kind=\"function\"} 0"), "{text}");
    assert!(text.contains("cloudcode_hook_duration_seconds_bucket{"), "{text}");

    // The sweeper's runs.
    let deadline = Instant::now() + Duration::from_secs(20);
    while metrics.value("cloudcode_sweeps_total{result=\"ok\"}") < 1.0 {
        assert!(Instant::now() < deadline, "no sweep counted");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Nothing of it on the API's own address.
    srv.get("/metrics").send().assert_error(404, 101);
    assert!(!text.contains(&token), "no token in the metrics");
}

/// A client may send any token as a method. Each counted under its own
/// name would add series the process keeps forever: memory that grows with
/// the requests of anyone who can reach the server.
#[test]
fn made_up_methods_are_counted_as_other_and_add_no_series() {
    let srv = Server::start_with(&["--metrics-addr", "127.0.0.1:0"]);
    let metrics = Scraper(srv.metrics_addr());
    // The request series only: a sweep may add its own meanwhile.
    let series = |text: &str| {
        text.lines()
            .filter(|l| l.starts_with("cloudcode_http_"))
            .count()
    };
    srv.req("MADEUP", "/health").send();
    srv.req("MADEUP", "/no/such/route").send();
    let before = series(&metrics.text());
    for i in 0..50 {
        let made_up = srv.req(&format!("MADEUP{i}"), "/health").send();
        assert_eq!(made_up.status, 405);
        srv.req(&format!("MADEUP{i}"), "/no/such/route").send();
    }
    let text = metrics.text();
    assert!(!text.contains("MADEUP"), "{text}");
    assert_eq!(series(&text), before, "{text}");
    assert_eq!(
        metrics.value(
            "cloudcode_http_requests_total{method=\"other\",route=\"/parse/health\",status=\"405\"}"
        ),
        51.0
    );
    assert_eq!(
        metrics.value(
            "cloudcode_http_request_duration_seconds_count{method=\"other\",route=\"unmatched\"}"
        ),
        51.0
    );
}

#[test]
fn the_metrics_listener_serves_only_get_metrics() {
    let srv = Server::start_with(&["--metrics-addr", "127.0.0.1:0"]);
    let addr = srv.metrics_addr();
    let post = ureq::post(&format!("http://{addr}/metrics")).call();
    assert!(matches!(post, Err(ureq::Error::Status(405, _))), "{post:?}");
    let other = ureq::get(&format!("http://{addr}/parse/users/me")).call();
    assert!(matches!(other, Err(ureq::Error::Status(404, _))), "{other:?}");
}
