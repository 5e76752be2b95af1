//! Serving a router with a bounded, graceful shutdown, the one way every service listens.
//!
//! - Every connection has a header read timeout, which also closes a kept-alive connection left idle
//!   that long (hyper starts the timer whenever it waits for a request head).
//! - When `stop` resolves, `/readyz` answers 503 at once, the listener closes (no new connections), every
//!   open connection is asked to finish its request in flight and close, and after
//!   [`HttpSettings::shutdown_timeout`] whatever is still open is dropped, whatever the clients do.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::settings::HttpSettings;

/// Whether the server is draining; `/readyz` answers 503 while it is.
#[derive(Debug, Clone, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    /// True once shutdown began.
    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Serves `router` on `listener` until `stop` resolves, then drains within the settings' bound.
/// Requests carry [`ConnectInfo<SocketAddr>`].
///
/// # Errors
/// None so far (accept errors are logged and retried); kept fallible for callers' `?`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    settings: &HttpSettings,
    stop: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let draining = Draining::default();
    let flag = draining.clone();
    let router = router.layer(axum::middleware::from_fn(
        move |req: Request, next: axum::middleware::Next| {
            let draining = flag.is_draining();
            async move {
                if draining && req.uri().path() == "/readyz" {
                    return (
                        StatusCode::SERVICE_UNAVAILABLE,
                        axum::Json(serde_json::json!({"status": "draining"})),
                    )
                        .into_response();
                }
                next.run(req).await
            }
        },
    ));
    // HTTP/1 only: hyper-util's auto builder reads to detect an HTTP/2 preface first, without any
    // timer, so a client that connects and sends nothing would hold its connection forever. Nothing here
    // speaks h2c.
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_timeout())
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    let mut connections = tokio::task::JoinSet::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error.message = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service =
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                router.clone().oneshot(req.map(axum::body::Body::new))
            });
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        connections.spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error.message = %e, "connection ended with an error");
            }
        });
        while connections.try_join_next().is_some() {}
    }
    draining.0.store(true, Ordering::SeqCst);
    drop(listener);
    let bound = settings.shutdown_timeout();
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("every connection finished"),
        () = tokio::time::sleep(bound) => {
            tracing::warn!(bound_ms = bound.as_millis() as u64, "connections still open at the shutdown bound; closing them");
        }
    }
    connections.abort_all();
    Ok(())
}

/// [`serve`], with `workers` told to stop the moment `stop` resolves, while requests drain (both within
/// the settings' bound, side by side, so the whole stop takes one bound, not two).
///
/// # Errors
/// As [`serve`].
pub async fn serve_with_workers(
    listener: TcpListener,
    router: Router,
    settings: &HttpSettings,
    stop: impl Future<Output = ()> + Send + 'static,
    workers: crate::supervisor::Supervisor,
) -> anyhow::Result<()> {
    let (tx, mut rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        stop.await;
        let _ = tx.send(true);
    });
    let mut http_rx = rx.clone();
    let bound = settings.shutdown_timeout();
    let (served, ()) = tokio::join!(
        serve(listener, router, settings, async move {
            let _ = http_rx.wait_for(|s| *s).await;
        }),
        async move {
            let _ = rx.wait_for(|s| *s).await;
            workers.shutdown(bound).await;
        }
    );
    served
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    fn settings() -> HttpSettings {
        HttpSettings {
            host: "127.0.0.1".to_owned(),
            port: 0,
            request_timeout_ms: 5_000,
            body_limit_bytes: 1024,
            header_timeout_ms: 300,
            shutdown_timeout_ms: 1_000,
        }
    }

    #[tokio::test]
    async fn a_half_sent_header_is_cut_off_and_shutdown_is_bounded() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new().route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        );
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            serve(listener, router, &settings(), async move {
                let _ = rx.await;
            })
            .await
        });
        // Half a header: the connection is closed after the header timeout.
        let mut half = tokio::net::TcpStream::connect(addr).await.unwrap();
        half.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let started = Instant::now();
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), half.read_to_end(&mut buf)).await;
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "the half-sent request was held {:?}",
            started.elapsed()
        );
        // A client that connects and sends nothing is cut too.
        let mut silent = tokio::net::TcpStream::connect(addr).await.unwrap();
        let started = Instant::now();
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), silent.read_to_end(&mut buf)).await;
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "a silent client was held {:?}",
            started.elapsed()
        );
        // A request that never finishes does not hold shutdown past the bound.
        let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let started = Instant::now();
        tx.send(()).unwrap();
        server.await.unwrap().unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "shutdown took {:?}",
            started.elapsed()
        );
    }
}
