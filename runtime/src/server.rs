//! Start-up: open the store, bind, serve, and sweep dead sessions.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::ServiceExt;
use axum_server::tls_rustls::RustlsConfig;
use tokio::net::TcpListener;

use crate::Core;
use crate::auth::throttle::FORGET_AFTER;
use crate::clock::{Millis, SystemClock};
use crate::config::{Config, Database};
use crate::connections::{Admission, Timeouts};
use crate::sandbox::LoadError;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot open the database {path}: {source}")]
    Store { path: String, source: StoreError },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Hooks(#[from] LoadError),
    #[error("cannot load the TLS certificate and key ({cert}): {source}")]
    Tls {
        cert: String,
        source: std::io::Error,
    },
    #[error("server failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs the server until Ctrl-C or SIGTERM.
pub async fn serve(config: Config) -> Result<(), ServeError> {
    // What `cloudcode check` would say, said where the operator looks.
    crate::config::log_findings(crate::config::findings(&config));
    let opened = match &config.database {
        Database::Sqlite(path) => Store::open(path),
        Database::Postgres { uri, ca } => Store::connect(uri, ca.as_deref()).await,
    };
    let store = opened.map_err(|source| ServeError::Store {
        path: config.database.to_string(),
        source,
    })?;
    // Before the hooks are read: a change while they load is a change.
    let watched = config.watch_hooks.then(|| crate::reload::files(&config));
    let sandbox = crate::reload::load_hooks(&config).await?;
    crate::config::log_findings(crate::config::grant_findings(&sandbox.current()));
    let session_ends = store.watch_session_ends();
    let core = Core::new(store, config, Arc::new(SystemClock), sandbox);
    if let Some(ends) = session_ends {
        tokio::spawn(crate::service::hooks::run_session_end_hooks(
            core.clone(),
            ends,
        ));
    }
    let listener = TcpListener::bind(core.config.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: core.config.listen,
            source,
        })?;
    let addr = listener.local_addr()?;
    if core.config.insecure_http {
        tracing::warn!(
            "--insecure-http: plain HTTP is served to the network; session tokens and passwords cross it in clear text"
        );
    }
    let tls = match &core.config.tls_files {
        Some((cert, key)) => Some(RustlsConfig::from_pem_file(cert, key).await.map_err(
            |source| ServeError::Tls {
                cert: cert.display().to_string(),
                source,
            },
        )?),
        None => None,
    };
    let metrics =
        match core.config.metrics {
            Some(metrics_addr) => Some(TcpListener::bind(metrics_addr).await.map_err(
                |source| ServeError::Bind {
                    addr: metrics_addr,
                    source,
                },
            )?),
            None => None,
        };
    announce(
        &core,
        addr,
        metrics.as_ref().map(|l| l.local_addr()).transpose()?,
    );
    if let Some(listener) = metrics {
        let app = crate::http::metrics_app(core.clone());
        tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, app).await {
                tracing::error!(%error, "the metrics listener failed");
            }
        });
    }
    tokio::spawn(sweep_sessions(core.clone()));
    tokio::spawn(crate::reload::on_hangup(core.clone()));
    if let Some(watched) = watched {
        tokio::spawn(crate::reload::watch(core.clone(), watched));
    }
    let limits = core.config.connections;
    let admission = Admission::new(
        limits.max,
        limits.per_ip,
        core.config.trusted_proxies.clone(),
        Timeouts {
            // The documented idle time of HTTP/1 keep-alive, for every protocol.
            idle: limits.header_timeout,
            send: limits.send_timeout,
        },
    );
    tracing::info!(
        max_connections = admission.available(),
        per_ip = limits.per_ip,
        "accepting connections"
    );
    let handle = axum_server::Handle::new();
    let on_signal = handle.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        on_signal.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    // axum-server hands over hyper's body type; the app takes axum's.
    let app = tower::ServiceBuilder::new()
        .map_request(|request: axum::http::Request<hyper::body::Incoming>| {
            request.map(axum::body::Body::new)
        })
        .service(crate::http::app(core));
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    let listener = listener.into_std()?;
    match tls {
        None => {
            let server = axum_server::from_tcp(listener)?.acceptor(admission);
            bound_request_time(server, limits.header_timeout)
                .handle(handle)
                .serve(app)
                .await?
        }
        Some(tls) => {
            let server = axum_server::tls_rustls::from_tcp_rustls(listener, tls)?
                .map(|rustls| rustls.acceptor(admission));
            bound_request_time(server, limits.header_timeout)
                .handle(handle)
                .serve(app)
                .await?
        }
    }
    Ok(())
}

/// A client must send each HTTP/1 request's headers within `timeout`. A
/// connection that sends no request at all, whatever the protocol, is the
/// idle rule's (`connections::activity`): it starts at the accept.
fn bound_request_time<A: axum_server::Address, Acc>(
    mut server: axum_server::Server<A, Acc>,
    timeout: Duration,
) -> axum_server::Server<A, Acc> {
    server.http_builder().http1().header_read_timeout(timeout);
    server
}

/// Tells the operator (and test harnesses) where to connect. Never prints a secret.
fn announce(core: &Core, addr: SocketAddr, metrics: Option<SocketAddr>) {
    let config = &core.config;
    let mut out = std::io::stdout().lock();
    let scheme = if config.tls { "https" } else { "http" };
    let _ = writeln!(
        out,
        "cloudcode listening on {scheme}://{addr}{}",
        config.mount_path
    );
    let _ = writeln!(out, "  application id: {}", config.app_id);
    match &config.master_key_file {
        Some(path) => {
            let _ = writeln!(out, "  master key: in {}", path.display());
        }
        None => {
            let _ = writeln!(out, "  master key: from configuration");
        }
    }
    let _ = writeln!(out, "  database: {}", config.database);
    if let Some(metrics) = metrics {
        let _ = writeln!(out, "  metrics: http://{metrics}/metrics");
    }
    for hook in core.sandbox.current().hooks() {
        let _ = writeln!(
            out,
            "  hook {} ({}): functions {:?}, triggers {:?}; granted: {}; denied: {}",
            hook.name,
            hook.contract,
            hook.manifest.functions,
            hook.manifest.triggers(),
            hook.granted,
            hook.denied(),
        );
    }
    let _ = out.flush();
}

/// How long the session audit trail is kept.
const AUDIT_RETENTION: Millis = 90 * 24 * 3600 * 1000;

/// Purges expired sessions now and then; validation already refuses them,
/// this only keeps the table small. Also forgets rotated-out tokens older
/// than a session's lifetime, audit rows past their retention and login
/// failure counts too old to refuse anything.
async fn sweep_sessions(core: Core) {
    let mut ticker =
        tokio::time::interval(Duration::from_millis(core.config.sweep_interval as u64));
    loop {
        ticker.tick().await;
        let swept = sweep_once(&core).await;
        let result = if swept.is_ok() { "ok" } else { "error" };
        crate::metrics::get()
            .sweeps
            .get_or_create(&crate::metrics::SweepLabels { result })
            .inc();
        match swept {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "expired sessions purged"),
            Err(error) => tracing::warn!(%error, "session sweep failed"),
        }
    }
}

async fn sweep_once(core: &Core) -> Result<usize, StoreError> {
    let now = core.now();
    let policy = core.config.session_policy;
    let swept = core.store.sweep_expired_sessions(&policy, now).await?;
    core.store.purge_events(now - AUDIT_RETENTION).await?;
    core.store.forget_login_failures(now - FORGET_AFTER).await?;
    Ok(swept.len())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
