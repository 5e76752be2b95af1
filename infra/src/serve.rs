//! Serving a router with a bounded, graceful shutdown, the one way every service listens.
//!
//! - Every connection has a header read timeout, which also closes a kept-alive connection left idle
//!   that long (hyper starts the timer whenever it waits for a request head).
//! - When `stop` resolves, `/readyz` answers 503 at once and the listener closes (no new connections)
//!   once the connections the kernel had already completed are taken. For a short linger (a tenth of the
//!   bound, at most 250 ms) open connections carry on, so a request already on its way is read rather
//!   than reset, and every response says `Connection: close`. Then every open connection is asked to
//!   finish its request in flight and close, and at [`HttpSettings::shutdown_timeout`] whatever is still
//!   open is dropped, whatever the clients do.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::settings::HttpSettings;

/// The most connections taken from the accept queue at the stop (Linux's default `somaxconn`).
const BACKLOG: usize = 4096;

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
                        [(header::CONNECTION, "close")],
                        axum::Json(serde_json::json!({"status": "draining"})),
                    )
                        .into_response();
                }
                let mut response = next.run(req).await;
                if draining {
                    // hyper closes the connection after this response: the client opens a new one
                    // (refused now) instead of sending its next request into a closing socket.
                    response
                        .headers_mut()
                        .insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
                response
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
        // A request head is read up to 64 KiB and 200 headers, so that one over the service's own limits
        // (`crate::http::HEAD_LIMIT`) is answered as a problem; past these hyper answers an empty 431.
        .max_header_size(64 * 1024)
        .max_headers(200)
        .keep_alive(true);
    let write_timeout = settings.write_timeout();
    let graceful = GracefulShutdown::new();
    let mut connections = tokio::task::JoinSet::new();
    let mut accept = |stream: tokio::net::TcpStream, peer: std::net::SocketAddr| {
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service =
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                router.clone().oneshot(req.map(axum::body::Body::new))
            });
        let stream = crate::io::WriteTimeout::new(stream, write_timeout);
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        connections.spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error.message = %e, "connection ended with an error");
            }
        });
        while connections.try_join_next().is_some() {}
    };
    let mut stop = std::pin::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => accept(stream, peer),
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error.message = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    let stopped = Instant::now();
    let bound = settings.shutdown_timeout();
    draining.0.store(true, Ordering::SeqCst);
    // Connections the kernel completed before the stop carry requests their clients already sent; closing
    // the listener would reset them. Take them first (a timeout of zero polls the accept once), as many
    // as a listen backlog holds, so clients that keep connecting cannot hold the listener open.
    for _ in 0..BACKLOG {
        match tokio::time::timeout(Duration::ZERO, listener.accept()).await {
            Ok(Ok((stream, peer))) => accept(stream, peer),
            _ => break,
        }
    }
    drop(listener);
    // Requests written into a kept-alive connection just before the stop may not be read yet: let the
    // connections run a little longer (each response now closes its connection) before the idle ones go.
    let linger = (bound / 10).min(Duration::from_millis(250));
    tokio::select! {
        () = tokio::time::sleep(linger) => {}
        () = async { while connections.join_next().await.is_some() {} } => {}
    }
    let rest = bound.saturating_sub(stopped.elapsed());
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("every connection finished"),
        () = tokio::time::sleep(rest) => {
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
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    fn settings() -> HttpSettings {
        HttpSettings::loopback(5_000, 300)
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

    /// Reads one HTTP/1.1 response head and its `Content-Length` body; the status line.
    async fn response(stream: &mut tokio::net::TcpStream) -> String {
        let mut buf = Vec::new();
        let mut byte = [0_u8; 1];
        while !buf.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte).await {
                Ok(1) => buf.push(byte[0]),
                _ => return format!("no answer: {:?}", String::from_utf8_lossy(&buf)),
            }
        }
        let head = String::from_utf8_lossy(&buf).to_lowercase();
        let length = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|l| l.trim().parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0_u8; length];
        let _ = stream.read_exact(&mut body).await;
        head.lines().next().unwrap_or_default().to_owned()
    }

    #[tokio::test]
    async fn connections_made_just_before_the_stop_are_answered_not_reset() {
        // Blocking connects complete in the kernel while the server task cannot run (this runtime has one
        // thread): at the stop the connections sit in the accept queue with their requests written. Each
        // must be taken and answered, not reset with the listener.
        for _ in 0..10 {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let router = Router::new().route("/", get(|| async { "ok" }));
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let server = tokio::spawn(async move {
                serve(listener, router, &settings(), async move {
                    let _ = rx.await;
                })
                .await
            });
            let mut queued = Vec::new();
            for _ in 0..4 {
                let mut stream = std::net::TcpStream::connect(addr).unwrap();
                std::io::Write::write_all(&mut stream, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                    .unwrap();
                stream.set_nonblocking(true).unwrap();
                queued.push(tokio::net::TcpStream::from_std(stream).unwrap());
            }
            tx.send(()).unwrap();
            for stream in &mut queued {
                let status = response(stream).await;
                assert!(status.contains("200"), "{status}");
            }
            server.await.unwrap().unwrap();
        }
    }
}
