//! Transport policy, before anything else sees a request: HTTPS only (TLS
//! here, or a trusted proxy that terminated it), the client's address, and
//! the security headers of every response.
//!
//! Plain HTTP is served only to loopback clients (local development) or with
//! the operator's explicit `--insecure-http`. Anything else gets 403 before
//! its body is read, so a token it carried is never accepted. There is no
//! redirect: an API client that leaked its token over HTTP should fail
//! loudly, not silently retry.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;

use crate::Core;
use crate::error::Error;

/// The client's address: the peer, or what a trusted proxy says it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub Option<IpAddr>);

const HSTS: &str = "max-age=31536000; includeSubDomains";

pub async fn layer(core: &Core, mut request: Request, next: Next) -> Response {
    let config = &core.config;
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let trusted = |ip: &IpAddr| config.trusted_proxies.iter().any(|net| net.contains(ip));
    let via_proxy = peer.as_ref().is_some_and(trusted);
    let secure = config.tls || (via_proxy && forwarded_https(request.headers()));
    let local = !via_proxy && peer.is_some_and(|ip| ip.is_loopback());
    let mut response = if secure || local || config.insecure_http {
        let client = if via_proxy {
            forwarded_client(request.headers(), &config.trusted_proxies).or(peer)
        } else {
            peer
        };
        request.extensions_mut().insert(ClientAddr(client));
        next.run(request).await
    } else {
        Error::HttpsRequired.into_response()
    };
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if secure {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    response
}

fn forwarded_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

/// The right-most address of `X-Forwarded-For` that is not a trusted proxy.
fn forwarded_client(headers: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    let chain: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|hop| hop.trim().parse().ok())
        .collect();
    chain
        .iter()
        .rev()
        .find(|ip| !trusted.iter().any(|net| net.contains(*ip)))
        .or(chain.first())
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_client_is_the_rightmost_untrusted_hop() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let h = headers(&[("x-forwarded-for", "203.0.113.9, 198.51.100.7, 10.0.0.2")]);
        assert_eq!(
            forwarded_client(&h, &trusted),
            Some("198.51.100.7".parse().unwrap())
        );
        let spoofed = headers(&[("x-forwarded-for", "garbage, 10.0.0.3")]);
        assert_eq!(
            forwarded_client(&spoofed, &trusted),
            Some("10.0.0.3".parse().unwrap())
        );
        assert_eq!(forwarded_client(&HeaderMap::new(), &trusted), None);
    }

    #[test]
    fn only_https_counts_as_forwarded_https() {
        assert!(forwarded_https(&headers(&[("x-forwarded-proto", "HTTPS")])));
        assert!(!forwarded_https(&headers(&[("x-forwarded-proto", "http")])));
        assert!(!forwarded_https(&HeaderMap::new()));
    }
}
