//! The HTTP stack every service shares: request ids, tracing, timeouts, body limits, problem+json for
//! every error (with the request id, and the cause chain of 5xx logged once), JSON bodies whose
//! rejections are problems too, health and Prometheus metrics.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tower::ServiceBuilder;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::problem::{PROBLEM_JSON, Problem};
use crate::settings::HttpSettings;

/// The request id header, generated when the client sent none.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Put into a response's extensions by an error type: the full cause chain, logged once by the
/// middleware inside the request's span and never sent to the client.
#[derive(Debug, Clone)]
pub struct ErrorChain(pub String);

/// A JSON body whose rejections (syntax, wrong types, unknown fields, wrong media type, too large) are
/// problem+json 4xx.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppJson<T>(pub T);

impl<S, T> FromRequest<S> for AppJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_problem(&rejection)),
        }
    }
}

fn json_problem(rejection: &JsonRejection) -> Problem {
    let (status, code) = match rejection {
        JsonRejection::JsonDataError(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body"),
        JsonRejection::JsonSyntaxError(_) => (StatusCode::BAD_REQUEST, "malformed_json"),
        JsonRejection::MissingJsonContentType(_) => {
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
        }
        _ if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
        }
        _ => (StatusCode::BAD_REQUEST, "invalid_body"),
    };
    Problem::new(status, code, rejection.body_text())
}

impl<T: Serialize> IntoResponse for AppJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Wraps `router` in the shared layers and adds `/healthz` and `/metrics`. `/readyz` is the service's.
pub fn serve_stack(router: Router, settings: &HttpSettings) -> Router {
    let metrics_handle = crate::metrics::handle();
    router
        .route("/healthz", get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }))
        .route("/metrics", get(move || std::future::ready(metrics_handle.render())))
        .fallback(|| async { Problem::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .layer(
            // Outermost first. `problems` sits inside the request-id layers (it reads the id) and outside
            // the timeout and body limit, whose plain-text errors it turns into problem+json.
            ServiceBuilder::new()
                // No browser guesses a type from content or frames an answer (a proxied one keeps the
                // upstream's).
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ))
                .layer(SetResponseHeaderLayer::if_not_present(
                    header::X_FRAME_OPTIONS,
                    HeaderValue::from_static("DENY"),
                ))
                // A caller's request id is kept only if it is a sane one; otherwise a fresh one is made.
                .layer(middleware::map_request(drop_unfit_request_id))
                .layer(SetRequestIdLayer::new(REQUEST_ID.clone(), MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
                    let request_id = req
                        .headers()
                        .get(&REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    let matched = req
                        .extensions()
                        .get::<MatchedPath>()
                        .map_or(req.uri().path(), MatchedPath::as_str);
                    tracing::info_span!("http_request", request_id, method = %req.method(), matched_path = matched)
                }))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID.clone()))
                .layer(middleware::from_fn(problems))
                .layer(middleware::from_fn(refuse_large_heads))
                .layer(middleware::from_fn(record_metrics))
                .layer(middleware::from_fn_with_state(
                    settings.request_timeout(),
                    deadline,
                ))
                .layer(RequestBodyLimitLayer::new(settings.body_limit_bytes)),
        )
}

/// The most a request's headers may take (names, values and separators), and its URL: past them the
/// request is refused with 431 before anything reads it.
pub const HEAD_LIMIT: usize = 16 * 1024;
/// The longest URL (path and query) taken.
pub const URL_LIMIT: usize = 8 * 1024;
/// The most headers one request may carry.
pub const HEADER_COUNT_LIMIT: usize = 100;

/// 431 `headers_too_large` / `url_too_long` as a problem, for a request whose headers or URL are over
/// the limits above (RFC 6585 §5; 414 would be the older answer for a URL).
async fn refuse_large_heads(req: Request, next: middleware::Next) -> Response {
    let url = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    let headers = req.headers();
    let size: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    let (code, detail) = if url > URL_LIMIT {
        ("url_too_long", format!("the URL is over {URL_LIMIT} bytes"))
    } else if size > HEAD_LIMIT || headers.len() > HEADER_COUNT_LIMIT {
        (
            "headers_too_large",
            format!("the headers are over {HEAD_LIMIT} bytes or {HEADER_COUNT_LIMIT} fields"),
        )
    } else {
        return next.run(req).await;
    };
    metrics::counter!("http_heads_refused_total", "code" => code).increment(1);
    Problem::new(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, code, detail).into_response()
}

/// The longest request id taken from a caller.
const MAX_REQUEST_ID: usize = 128;

/// Removes a caller's `X-Request-Id` that is not 1–128 letters, digits or `-_.`: it becomes the
/// events' correlation id and every log line's, so it must not carry markup, spaces or kilobytes.
async fn drop_unfit_request_id(mut req: Request) -> Request {
    let fit = req.headers().get(&REQUEST_ID).is_none_or(|v| {
        let b = v.as_bytes();
        (1..=MAX_REQUEST_ID).contains(&b.len())
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c))
    });
    if !fit {
        req.headers_mut().remove(&REQUEST_ID);
    }
    req
}

/// Set on a request once its outcome is on its way to a commit (a decision queued): from then on, the
/// request's answer is that outcome, however long it takes, never a timeout that would hide it.
#[derive(Debug, Clone, Default)]
pub struct Committing(Arc<AtomicBool>);

impl Committing {
    /// The request's outcome is now decided by what it queued.
    pub fn mark(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Whether [`Committing::mark`] was called.
    pub fn is_marked(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// The request timeout: past it a request is answered 503, unless it is [`Committing`], when it waits
/// for its outcome (bounded by the queue it waits in), or its body has not arrived in full, when it is
/// the client's delay: 408.
async fn deadline(
    axum::extract::State(timeout): axum::extract::State<Duration>,
    req: Request,
    next: Next,
) -> Response {
    let committing = Committing::default();
    let (mut parts, body) = req.into_parts();
    parts.extensions.insert(committing.clone());
    let received = Arc::new(AtomicBool::new(http_body::Body::is_end_stream(&body)));
    let body = axum::body::Body::new(Watched {
        inner: body,
        received: Arc::clone(&received),
    });
    let run = next.run(Request::from_parts(parts, body));
    tokio::pin!(run);
    tokio::select! {
        response = &mut run => response,
        () = tokio::time::sleep(timeout) => {
            if committing.is_marked() {
                metrics::counter!("http_timeouts_waited_total").increment(1);
                run.await
            } else if !received.load(Ordering::Acquire) {
                // The client, not the service, is late: its body has not arrived in full.
                Problem::new(
                    StatusCode::REQUEST_TIMEOUT,
                    "request_timeout",
                    "the request body did not arrive in time",
                )
                .into_response()
            } else {
                StatusCode::SERVICE_UNAVAILABLE.into_response()
            }
        }
    }
}

/// A request body that notes when it has been read to its end.
struct Watched {
    inner: axum::body::Body,
    received: Arc<AtomicBool>,
}

impl http_body::Body for Watched {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, std::task::Poll::Ready(None)) || self.inner.is_end_stream() {
            self.received.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Turns every error response into problem+json carrying the request id, and logs 5xx causes once.
async fn problems(req: Request, next: Next) -> Response {
    let request_id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    // A 503 readiness answer is a report (which worker, which dependency), not an error to hide.
    let readiness = req.uri().path() == "/readyz";
    let response = next.run(req).await;
    let status = response.status();
    if readiness || (!status.is_client_error() && !status.is_server_error()) {
        return response;
    }
    if let Some(ErrorChain(chain)) = response.extensions().get::<ErrorChain>() {
        tracing::error!(error.cause_chain = %chain, status = status.as_u16(), "request failed");
    }
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    let (mut parts, body) = response.into_parts();
    let mut problem = if is_problem {
        match axum::body::to_bytes(body, 64 * 1024).await {
            Ok(bytes) => serde_json::from_slice::<serde_json::Value>(&bytes).unwrap_or_default(),
            Err(_) => serde_json::Value::Null,
        }
    } else {
        serde_json::Value::Null
    };
    if !problem.is_object() {
        problem = serde_json::to_value(generic_problem(status)).unwrap_or_default();
    }
    problem["request_id"] = serde_json::Value::String(request_id);
    if status == StatusCode::SERVICE_UNAVAILABLE && !parts.headers.contains_key(header::RETRY_AFTER)
    {
        // Every 503 here is a dependency away or a timeout: worth retrying soon.
        parts
            .headers
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    Response::from_parts(parts, axum::body::Body::from(problem.to_string()))
}

fn generic_problem(status: StatusCode) -> Problem {
    let (code, detail) = match status {
        StatusCode::NOT_FOUND => ("not_found", "no such resource"),
        StatusCode::METHOD_NOT_ALLOWED => {
            ("method_not_allowed", "this route does not take that method")
        }
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "the request body is too large"),
        StatusCode::SERVICE_UNAVAILABLE => ("unavailable", "the service could not answer in time"),
        s if s.is_server_error() => ("internal_error", "something went wrong on our side"),
        _ => ("bad_request", "the request could not be processed"),
    };
    Problem::new(status, code, detail)
}

/// A bounded label: a method outside the standard ones would add a series per invented name.
fn method_label(method: &axum::http::Method) -> &'static str {
    const STANDARD: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT",
    ];
    STANDARD
        .into_iter()
        .find(|m| *m == method.as_str())
        .unwrap_or("other")
}

async fn record_metrics(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(req.method()).to_owned();
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(req).await;
    let labels = [
        ("method", method),
        ("path", path),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(started.elapsed().as_secs_f64());
    response
}

/// The `ETag` value for an aggregate version: `"<version>"`.
pub fn etag(version: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

/// The version an `If-Match` header asks for: `None` when absent or `*`.
///
/// # Errors
/// A 400 problem when the header is not a quoted version (a weak tag is not a precondition on writes).
pub fn if_match(headers: &axum::http::HeaderMap) -> Result<Option<u64>, Problem> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let raw = value.to_str().unwrap_or_default().trim();
    if raw == "*" {
        return Ok(None);
    }
    raw.strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .and_then(|v| v.parse::<u64>().ok())
        .map(Some)
        .ok_or_else(|| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_if_match",
                "If-Match must be an ETag from this API, like \"3\"",
            )
        })
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use tower::ServiceExt;

    use super::*;

    fn settings() -> HttpSettings {
        HttpSettings::loopback(1_000, 1_000)
    }

    async fn call(
        router: Router,
        path: &str,
    ) -> (StatusCode, Option<HeaderValue>, serde_json::Value) {
        let response = router
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let retry = response.headers().get(header::RETRY_AFTER).cloned();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, retry, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn a_body_that_never_arrives_is_408_and_a_service_that_never_answers_503() {
        let router = serve_stack(
            Router::new()
                .route(
                    "/read",
                    axum::routing::post(
                        |body: axum::body::Bytes| async move { body.len().to_string() },
                    ),
                )
                .route("/stuck", get(std::future::pending::<&'static str>)),
            &HttpSettings::loopback(100, 1_000),
        );
        // Half a body, then nothing: the client is late.
        let half = futures::StreamExt::chain(
            futures::stream::iter([Ok::<_, std::io::Error>(axum::body::Bytes::from_static(
                b"{\"a\":",
            ))]),
            futures::stream::pending(),
        );
        let request = Request::post("/read")
            .body(Body::from_stream(half))
            .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let problem: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(problem["code"], "request_timeout", "{problem}");
        // A whole body read in time is answered; a handler that never answers is the service's fault.
        let request = Request::post("/read").body(Body::from("{}")).unwrap();
        assert_eq!(
            router.clone().oneshot(request).await.unwrap().status(),
            StatusCode::OK
        );
        let (status, _, body) = call(router, "/stuck").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["code"], "unavailable", "{body}");
    }

    #[tokio::test]
    async fn a_callers_request_id_is_kept_only_if_it_is_fit_to_store() {
        let router = serve_stack(
            Router::new().route("/x", get(|| async { "ok" })),
            &settings(),
        );
        let id_for = |sent: &str| {
            let router = router.clone();
            let request = Request::get("/x")
                .header(&REQUEST_ID, sent)
                .body(Body::empty())
                .unwrap();
            async move {
                let response = router.oneshot(request).await.unwrap();
                response.headers()[&REQUEST_ID].to_str().unwrap().to_owned()
            }
        };
        assert_eq!(id_for("trace-42.a_b").await, "trace-42.a_b");
        assert_eq!(id_for(&"x".repeat(128)).await, "x".repeat(128));
        for unfit in ["<b>html</b>", "has space", "a:b", &"x".repeat(129)] {
            let given = id_for(unfit).await;
            assert_ne!(given, unfit);
            assert!(uuid::Uuid::parse_str(&given).is_ok(), "{given}");
        }
    }

    #[tokio::test]
    async fn a_503_is_a_problem_with_retry_after_but_a_readiness_report_stays_a_report() {
        let report = || async {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({"status": "not_ready", "workers": [{"name": "w"}]})),
            )
        };
        let router = serve_stack(
            Router::new()
                .route("/readyz", get(report))
                .route("/other", get(report)),
            &settings(),
        );
        let (status, _, body) = call(router.clone(), "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["workers"][0]["name"], "w", "{body}");
        let (status, retry, body) = call(router, "/other").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["code"], "unavailable", "{body}");
        assert_eq!(retry.as_ref().map(HeaderValue::as_bytes), Some(&b"1"[..]));
    }
}
