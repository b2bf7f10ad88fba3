//! The listener: accepts connections and serves the router on them, within bounds.
//!
//! `axum::serve` sets no timer on hyper's connections, so a client that opens a connection and
//! never finishes its headers holds it forever (measured: 200 of 200 such connections still open
//! after 45 s, and 3,000 accepted). Here every connection must deliver its request headers
//! within [`Limits::header_read_timeout`], at most [`Limits::max_connections`] are open at once
//! (the rest wait in the kernel's backlog), and on shutdown in-flight requests finish first.
//!
//! Connections speak HTTP/1.1 (over TLS when `server.tls` is set, the handshake bounded by the
//! header timeout): every Delta Sharing client does, and a TLS-terminating proxy in front
//! speaks it to its backends. (Cleartext HTTP/2 would need protocol detection before the
//! header timer starts, which is exactly where a silent client could hang on.)

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::reload::Routes;
use tower::ServiceExt;

/// Bounds on connections; per-request bounds are in [`crate::limits`].
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A connection must deliver each request's headers within this long, or it is closed.
    pub header_read_timeout: Duration,
    /// Connections served at once; more wait to be accepted.
    pub max_connections: usize,
    /// On shutdown, how long in-flight requests get to finish.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 4096,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Serves `routes` on `listener` until `shutdown` completes, then lets in-flight requests finish
/// for up to [`Limits::shutdown_grace`].
pub async fn serve(
    listener: TcpListener,
    routes: impl Routes,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, say: back off instead of spinning.
                    tracing::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        // Every request learns its connection's peer, for allow lists and the audit log, and
        // is routed by the router current when it arrives: a reload applies from a
        // connection's next request.
        let tls = routes.tls();
        let routes = routes.clone();
        let service = tower::service_fn(
            move |mut request: axum::http::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(crate::client::Peer(peer));
                routes.current().oneshot(request)
            },
        );
        let service = TowerToHyperService::new(service);
        let (http, watcher) = (http.clone(), graceful.watcher());
        tokio::spawn(async move {
            match tls {
                None => {
                    let connection = http.serve_connection(TokioIo::new(stream), service);
                    finish(watcher.watch(connection)).await;
                }
                // The handshake is bounded like the headers: a client that opens a connection
                // and says nothing holds its slot no longer over TLS.
                Some(config) => {
                    let handshake = tokio_rustls::TlsAcceptor::from(config).accept(stream);
                    match tokio::time::timeout(limits.header_read_timeout, handshake).await {
                        Ok(Ok(tls)) => {
                            let connection = http.serve_connection(TokioIo::new(tls), service);
                            finish(watcher.watch(connection)).await;
                        }
                        Ok(Err(e)) => tracing::debug!("TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                }
            }
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!("shutting down with requests still in flight after {:?}", limits.shutdown_grace);
        }
    }
}

/// Runs a connection to its end.
async fn finish<E: std::fmt::Display>(connection: impl Future<Output = Result<(), E>>) {
    if let Err(e) = connection.await {
        tracing::debug!("connection ended with an error: {e}");
    }
}
