//! Admission of TCP connections: at most `max` open at once, and at most
//! `per_ip` from one client address, so that one client (slow or not)
//! cannot take every file descriptor while others wait. A connection over
//! either cap is closed as soon as it is accepted. Trusted proxies carry
//! many clients and are bound by the total only.
//!
//! Each admitted connection is also watched ([`activity`]): idle ones close,
//! and one whose client stops taking a response is cut off. Time is bounded
//! elsewhere too: HTTP/1 headers by hyper's header read timeout, bodies by
//! the envelope, TLS handshakes by the rustls acceptor (see `server`).

mod activity;

use std::collections::HashMap;
use std::future::{Ready, ready};
use std::io;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use axum_server::accept::Accept;
use ipnet::IpNet;
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use self::activity::Timeouts;
use self::activity::{Activity, Tracked, Watched};

/// File descriptors kept free for the database, hooks and logs.
const RESERVED_DESCRIPTORS: u64 = 128;

/// The acceptor that enforces the caps (an `axum_server` [`Accept`]).
#[derive(Clone)]
pub struct Admission(Arc<Shared>);

struct Shared {
    total: Arc<Semaphore>,
    per_ip: usize,
    open_by_ip: Mutex<HashMap<IpAddr, usize>>,
    uncapped: Vec<IpNet>,
    timeouts: Timeouts,
}

impl Admission {
    /// `max` is lowered to what the process's descriptor limit allows
    /// (after raising the soft limit to the hard one).
    pub fn new(max: usize, per_ip: usize, uncapped: Vec<IpNet>, timeouts: Timeouts) -> Self {
        let max = max.min(descriptor_budget());
        Self(Arc::new(Shared {
            total: Arc::new(Semaphore::new(max)),
            per_ip,
            open_by_ip: Mutex::default(),
            uncapped,
            timeouts,
        }))
    }

    /// Connections that may still open.
    pub fn available(&self) -> usize {
        self.0.total.available_permits()
    }

    /// A ticket for one connection from `peer`, or `None` over a cap.
    pub fn admit(&self, peer: IpAddr) -> Option<Ticket> {
        let permit = self.0.total.clone().try_acquire_owned().ok()?;
        let capped = !self.0.uncapped.iter().any(|net| net.contains(&peer));
        if capped {
            let mut open = self.lock();
            let count = open.entry(peer).or_default();
            if *count >= self.0.per_ip {
                return None;
            }
            *count += 1;
        }
        Some(Ticket {
            _permit: permit,
            peer: capped.then_some(peer),
            admission: self.clone(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.0.open_by_ip.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One admitted connection's share of the caps, returned when it drops.
pub struct Ticket {
    _permit: OwnedSemaphorePermit,
    peer: Option<IpAddr>,
    admission: Admission,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(peer) = self.peer {
            let mut open = self.admission.lock();
            if let Some(count) = open.get_mut(&peer) {
                *count -= 1;
                if *count == 0 {
                    open.remove(&peer);
                }
            }
        }
    }
}

impl<S> Accept<TcpStream, S> for Admission {
    type Stream = Watched<TcpStream>;
    type Service = Tracked<S>;
    type Future = Ready<io::Result<(Self::Stream, Self::Service)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        ready(stream.peer_addr().and_then(|peer| {
            let ticket = self.admit(peer.ip()).ok_or_else(|| {
                tracing::debug!(peer = %peer.ip(), "connection refused: connection limit");
                io::Error::other("connection limit reached")
            })?;
            // Responses are written whole; waiting to coalesce only adds latency.
            stream.set_nodelay(true)?;
            let activity = Activity::new(self.0.timeouts, ticket);
            Ok((
                Watched::new(stream, activity.clone()),
                Tracked::new(service, activity),
            ))
        }))
    }
}

/// How many connections the descriptor limit leaves room for, after
/// raising the soft limit as far as the hard one allows.
fn descriptor_budget() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    let soft = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return usize::MAX;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit.rlim_cur = limit.rlim_max;
            }
        }
        limit.rlim_cur
    };
    if soft == libc::RLIM_INFINITY {
        return usize::MAX;
    }
    usize::try_from(soft.saturating_sub(RESERVED_DESCRIPTORS).max(1)).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));
    const PROXY: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 9));
    const TIMEOUTS: Timeouts = Timeouts {
        idle: std::time::Duration::from_secs(10),
        send: std::time::Duration::from_secs(30),
    };

    #[test]
    fn caps_per_address_and_in_total_and_frees_on_drop() {
        let admission = Admission::new(4, 2, vec![IpNet::from(PROXY)], TIMEOUTS);
        let a1 = admission.admit(A).unwrap();
        let _a2 = admission.admit(A).unwrap();
        assert!(admission.admit(A).is_none(), "third from A");
        let _b1 = admission.admit(B).unwrap();
        let _p1 = admission.admit(PROXY).unwrap();
        assert!(admission.admit(PROXY).is_none(), "over the total");
        drop(a1);
        assert!(
            admission.admit(A).is_some(),
            "a closed connection frees its place"
        );
    }

    #[test]
    fn trusted_proxies_are_not_capped_per_address() {
        let admission = Admission::new(10, 1, vec![IpNet::from(PROXY)], TIMEOUTS);
        let held: Vec<_> = (0..5).map(|_| admission.admit(PROXY).unwrap()).collect();
        assert_eq!(admission.available(), 5);
        drop(held);
        assert_eq!(admission.available(), 10);
    }
}
