//! HTTPS, trusted proxies, security headers, and login throttling.

use std::sync::Arc;
use std::thread::sleep;
use std::time::Duration;

use serde_json::json;

use crate::harness::{Resp, Server};

fn assert_https_required(r: &Resp) {
    assert_eq!(
        (r.status, &r.json),
        (403, &json!({"code": 119, "error": "HTTPS is required."}))
    );
}

#[test]
fn asvs_12_2_1_https_with_a_certificate_and_hsts() {
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let mut srv = Server::start_with(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    assert!(srv.base.starts_with("https://127.0.0.1:"), "{}", srv.base);
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certified.cert.der().clone()).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    srv.tls = Some(Arc::new(client));

    let (_, token) = srv.signup("tess");
    let me = srv.get("/users/me").token(&token).send();
    assert_eq!(me.status, 200);
    let hsts = me
        .header("strict-transport-security")
        .expect("HSTS on every TLS response");
    assert!(hsts.contains("max-age=31536000"));
    let health = srv.get("/health").no_app_id().send();
    assert!(health.header("strict-transport-security").is_some());

    let plain = srv.base.replacen("https://", "http://", 1);
    let refused = ureq::get(&format!("{plain}/health"))
        .timeout(Duration::from_secs(5))
        .call();
    assert!(
        !matches!(refused, Ok(ref r) if r.status() == 200),
        "plain HTTP on the TLS port must not work"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn asvs_4_1_2_plain_http_behind_a_proxy_is_refused_without_redirect() {
    let srv = Server::start_with(&["--trusted-proxies", "127.0.0.1"]);
    // Loopback is now the proxy: only requests it marks as HTTPS are served.
    let signup = srv
        .post("/users")
        .header("X-Forwarded-Proto", "https")
        .json(json!({"username": "pat", "password": "pw"}))
        .send();
    assert_eq!(signup.status, 201);
    let token = signup.str("sessionToken");
    let plain = srv.get("/users/me").token(&token).send();
    assert_https_required(&plain);
    assert!(plain.location.is_none(), "no redirect");
    assert_https_required(
        &srv.get("/users/me")
            .token(&token)
            .header("X-Forwarded-Proto", "http")
            .send(),
    );
    let secure = srv
        .get("/users/me")
        .token(&token)
        .header("X-Forwarded-Proto", "https")
        .send();
    assert_eq!(secure.status, 200);
    assert!(secure.header("strict-transport-security").is_some());
}

#[test]
fn loopback_development_without_tls_gets_no_hsts_but_security_headers() {
    let srv = Server::start();
    let r = srv.get("/classes/Thing").send();
    assert_eq!(r.status, 200);
    assert!(r.header("strict-transport-security").is_none());
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert!(r.header("server").is_none(), "no server version leak");
    let error = srv.get("/users/me").token("r:bad").send();
    assert_eq!(error.header("cache-control"), Some("no-store"));
}

#[test]
fn a_public_plain_http_bind_refuses_to_start() {
    let log = Server::try_start(&["--host", "0.0.0.0"])
        .err()
        .expect("must refuse");
    assert!(log.contains("refusing to serve plain HTTP"), "{log}");
}

fn login(srv: &Server, user: &str, password: &str) -> Resp {
    srv.post("/login")
        .json(json!({"username": user, "password": password}))
        .send()
}

#[test]
fn asvs_6_3_1_failed_logins_back_off_per_account_even_for_the_right_password() {
    let srv = Server::start_with(&["--login-free-failures", "2"]);
    srv.signup("quin");
    for _ in 0..3 {
        login(&srv, "quin", "wrong").assert_error(404, 101);
    }
    let throttled = login(&srv, "quin", "pw-quin");
    throttled.assert_error(429, 155);
    login(&srv, "QUIN", "pw-quin").assert_error(429, 155);
    assert_eq!(
        login(&srv, "someone-else", "x").status,
        404,
        "other accounts are not affected"
    );
    sleep(Duration::from_millis(1100));
    assert_eq!(
        login(&srv, "quin", "pw-quin").status,
        200,
        "the back-off ends"
    );
    login(&srv, "quin", "wrong").assert_error(404, 101);
    login(&srv, "quin", "wrong").assert_error(404, 101);
    assert_eq!(
        login(&srv, "quin", "pw-quin").status,
        200,
        "success reset the count"
    );
}

#[test]
fn asvs_2_2_1_at_most_n_failures_per_account_per_hour() {
    let srv = Server::start_with(&[
        "--login-free-failures",
        "1000",
        "--login-max-failures-per-hour",
        "3",
    ]);
    srv.signup("rex");
    for _ in 0..3 {
        login(&srv, "rex", "wrong").assert_error(404, 101);
    }
    login(&srv, "rex", "pw-rex").assert_error(429, 155);
}

#[test]
fn asvs_6_3_8_unknown_accounts_are_throttled_exactly_like_real_ones() {
    let srv = Server::start_with(&["--login-free-failures", "1"]);
    srv.signup("sal");
    let real: Vec<_> = (0..3).map(|_| login(&srv, "sal", "wrong")).collect();
    let ghost: Vec<_> = (0..3).map(|_| login(&srv, "ghost", "wrong")).collect();
    for (r, g) in real.iter().zip(&ghost) {
        assert_eq!((r.status, &r.json), (g.status, &g.json));
    }
    assert_eq!(real[2].status, 429);
}

#[test]
fn failures_are_also_counted_per_client_address_from_trusted_proxies() {
    let srv = Server::start_with(&[
        "--trusted-proxies",
        "127.0.0.1",
        "--login-max-failures-per-ip",
        "3",
    ]);
    let from = |ip: &str, user: &str, password: &str| {
        srv.post("/login")
            .header("X-Forwarded-Proto", "https")
            .header("X-Forwarded-For", ip)
            .json(json!({"username": user, "password": password}))
            .send()
    };
    let signup = srv
        .post("/users")
        .header("X-Forwarded-Proto", "https")
        .json(json!({"username": "ted", "password": "pw"}))
        .send();
    assert_eq!(signup.status, 201);
    for user in ["a", "b", "c"] {
        from("203.0.113.7", user, "x").assert_error(404, 101);
    }
    from("203.0.113.7", "ted", "pw").assert_error(429, 155);
    assert_eq!(
        from("198.51.100.4", "ted", "pw").status,
        200,
        "another address is not affected"
    );
}
