//! The reverse proxy for the routes of the allow-list (`routes::table`): reads go to the query API, writes
//! to the command API, webhooks and dead letters to the notifier. Responses stream back, request
//! bodies are read whole within the limit (nothing is re-encoded, so `Content-Length` and the bytes always
//! agree); hop-by-hop headers are dropped; the request id travels on. An upstream that
//! does not answer in time is 504, one that cannot be reached is 502, both problem+json.
//!
//! An event stream lives only as long as what let it open: it ends when its token expires, and within
//! a second of its session ending (logout, reuse of a refresh token, the account disabled) or its role
//! changing, so a client must come back and be let in again (a browser refreshes its token, or is
//! signed out).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use infra::auth::Role;
use infra::problem::Problem;
use uuid::Uuid;

use crate::client::{ClientIp, X_FORWARDED_FOR};
use crate::routes::table::Upstream;
use crate::sessions::{Grant, Grants};
use crate::state::AppState;

/// Longest an upstream's answer may go without a chunk once its head came.
const BODY_IDLE: Duration = Duration::from_secs(60);

/// How often an open event stream checks that its session still grants it.
const STREAM_RECHECK: Duration = Duration::from_secs(1);

/// The `Authorization` the services behind get instead of the client's (set by the authentication
/// layer): the gateway's own token for this request.
#[derive(Debug, Clone)]
pub struct ForwardedToken(pub HeaderValue);

/// What a request's token granted when it came in (set by the authentication layer): an event stream
/// holds on to it and ends when it no longer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamGrant {
    /// The session.
    pub session: Uuid,
    /// Its account.
    pub user: Uuid,
    /// The role the request was let in with.
    pub role: Role,
    /// The token's `exp` (Unix seconds).
    pub expires_at: u64,
}

/// Watches a stream's grant: [`Watch::ended`] resolves once the token has expired (with the leeway
/// every request gets) or the session no longer grants the same role.
struct Watch {
    grants: Arc<Grants>,
    grant: StreamGrant,
    until: tokio::time::Instant,
    check: tokio::time::Interval,
}

impl Watch {
    fn new(grants: Arc<Grants>, grant: StreamGrant) -> Self {
        // The verifier accepts the token through second `exp + leeway`; the stream ends when the next
        // one starts, so a client coming back then is refused and refreshes its token.
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        let left = (grant.expires_at + infra::auth::LEEWAY_SECS + 1).saturating_sub(now);
        let mut check = tokio::time::interval(STREAM_RECHECK);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Self {
            grants,
            grant,
            until: tokio::time::Instant::now() + Duration::from_secs(left),
            check,
        }
    }

    async fn ended(&mut self) {
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(self.until) => return,
                _ = self.check.tick() => {
                    match self.grants.current(self.grant.session, self.grant.user).await {
                        Ok(Grant::Active(role)) if role == self.grant.role => {}
                        Ok(_) => return,
                        // The grant cannot be read now; what let the stream in still stands.
                        Err(e) => tracing::warn!(error.message = %e, "checking a stream's session failed"),
                    }
                }
            }
        }
    }
}

/// Headers that belong to one connection, never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Headers named in `Connection` are hop-by-hop too.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::try_from(n.trim()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// The instances of `upstream`, starting with the one whose turn it is (round robin over requests).
fn bases(state: &AppState, upstream: Upstream) -> Vec<&str> {
    let (list, turn) = match upstream {
        Upstream::Command => (&state.upstreams.command_api, &state.turns[0]),
        Upstream::Query => (&state.upstreams.query_api, &state.turns[1]),
        Upstream::Notifier => (&state.upstreams.notifier, &state.turns[2]),
    };
    let mut all: Vec<&str> = crate::config::instances(list).collect();
    if all.len() > 1 {
        let turn = turn.fetch_add(1, Ordering::Relaxed) % all.len();
        all.rotate_left(turn);
    }
    all
}

/// Whether a request that failed once sent may go to the next instance: a read, or a write with an
/// `Idempotency-Key` (the command API answers a repeat with the first outcome, never a second one).
fn may_resend(parts: &axum::http::request::Parts) -> bool {
    parts.method.is_idempotent() || parts.headers.contains_key("idempotency-key")
}

/// Forwards the request (a route of the allow-list, its path already checked) and streams the answer
/// back. The request body is read first, within the body limit, so a body over it (chunked too) is a
/// 413 here rather than a broken upstream request; API bodies are small JSON documents.
pub async fn forward(state: AppState, upstream: Upstream, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    // A write sent to the command API may commit however long its queue: it waits for the answer (up
    // to the write timeout), never cut short by this gateway's own request timeout.
    let write = upstream == Upstream::Command && !parts.method.is_safe();
    let timeout = if write {
        if let Some(committing) = parts.extensions.get::<infra::http::Committing>() {
            committing.mark();
        }
        state.upstreams.write_timeout()
    } else {
        state.upstreams.timeout()
    };
    let resend = may_resend(&parts);
    let grant = parts.extensions.get::<StreamGrant>().copied();
    let bases = bases(&state, upstream);
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut headers = parts.headers.clone();
    strip_hop_by_hop(&mut headers);
    headers.remove(header::HOST);
    // The client's own token never goes further than here: the services take only the gateway's.
    match parts.extensions.get::<ForwardedToken>() {
        Some(ForwardedToken(token)) => headers.insert(header::AUTHORIZATION, token.clone()),
        None => headers.remove(header::AUTHORIZATION),
    };
    // The services behind see the client's address (the socket peer, or behind trusted proxies the
    // client they forwarded for), never what the client claims.
    if let Some(ClientIp(ip)) = parts.extensions.get::<ClientIp>()
        && let Ok(value) = HeaderValue::from_str(&ip.to_string())
    {
        headers.insert(X_FORWARDED_FOR.clone(), value);
    } else {
        headers.remove(&X_FORWARDED_FOR);
    }
    let body = match axum::body::to_bytes(body, state.body_limit_bytes).await {
        Ok(bytes) => bytes,
        Err(e) => return unreadable_body(&e),
    };
    // The timeout bounds the wait for the answer's head; its body then streams for as long as it runs
    // (an event stream does not end), passed on chunk by chunk, never buffered. An instance that refuses
    // the connection never saw the request, so the next one gets it; one that dropped the connection
    // (a process killed under a kept-alive connection) passes a request that may be sent again to the
    // next. One that is only slow is not skipped: what it is doing may still commit.
    let mut sent = None;
    for (i, base) in bases.iter().enumerate() {
        let url = format!("{}{path_and_query}", base.trim_end_matches('/'));
        let answer = tokio::time::timeout(
            timeout,
            state
                .client
                .request(parts.method.clone(), &url)
                .headers(headers.clone())
                .body(body.clone())
                .send(),
        )
        .await;
        match answer {
            Ok(Err(e)) if e.is_connect() && i + 1 < bases.len() => {
                tracing::warn!(error.message = %e, url, "an upstream instance refused; trying the next");
            }
            Ok(Err(e)) if resend && !e.is_timeout() && i + 1 < bases.len() => {
                tracing::warn!(error.message = %e, url, "an upstream instance failed; sending again to the next");
            }
            answer => {
                sent = Some((answer, url));
                break;
            }
        }
    }
    let Some((sent, url)) = sent else {
        return failure(false, &"no upstream instance is configured", "");
    };
    let upstream_response = match sent {
        Ok(Ok(r)) => r,
        Ok(Err(e)) if e.is_timeout() && write => return unknown_outcome(&e, &url),
        Ok(Err(e)) => return failure(e.is_timeout(), &e, &url),
        Err(elapsed) if write => return unknown_outcome(&elapsed, &url),
        Err(elapsed) => return failure(true, &elapsed, &url),
    };
    let status = upstream_response.status();
    let mut headers = upstream_response.headers().clone();
    strip_hop_by_hop(&mut headers);
    let is_stream = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    let watch = grant
        .filter(|_| is_stream)
        .map(|g| Watch::new(state.grants.clone(), g));
    // An upstream that goes silent mid-body (event streams send a heartbeat every 15 s) is cut; a
    // stream whose grant has ended is closed.
    let body = upstream_response.bytes_stream();
    let stream = futures::stream::unfold((body, watch), |(mut body, mut watch)| async move {
        let next = tokio::time::timeout(BODY_IDLE, body.next());
        let next = match watch.as_mut() {
            None => next.await,
            Some(w) => tokio::select! {
                next = next => next,
                () = w.ended() => {
                    metrics::counter!("gateway_streams_ended_total", "reason" => "grant").increment(1);
                    return None;
                }
            },
        };
        match next {
            Ok(Some(chunk)) => Some((chunk.map_err(std::io::Error::other), (body, watch))),
            Ok(None) => None,
            Err(_) => Some((
                Err(std::io::Error::other("the upstream stopped sending")),
                (body, watch),
            )),
        }
    });
    let mut response = Response::new(Body::from_stream(stream));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

fn unreadable_body(e: &axum::Error) -> Response {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut too_large = false;
    while let Some(c) = cause {
        too_large |= c.is::<http_body_util::LengthLimitError>();
        cause = c.source();
    }
    if too_large {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is over the limit",
        )
        .into_response()
    } else {
        Problem::new(
            StatusCode::BAD_REQUEST,
            "unreadable_body",
            "the request body could not be read",
        )
        .into_response()
    }
}

/// 504 for a write the command API took but did not answer in time: it may have committed.
fn unknown_outcome(e: &dyn std::fmt::Display, url: &str) -> Response {
    tracing::warn!(error.message = %e, url, "a write's answer did not come in time");
    metrics::counter!("upstream_failures_total", "code" => "upstream_timeout").increment(1);
    Problem::new(
        StatusCode::GATEWAY_TIMEOUT,
        "upstream_timeout",
        "the write was not answered in time and may have been carried out: send it again with the same \
         Idempotency-Key to learn its outcome",
    )
    .into_response()
}

fn failure(timed_out: bool, e: &dyn std::fmt::Display, url: &str) -> Response {
    let (status, code, detail) = if timed_out {
        (
            StatusCode::GATEWAY_TIMEOUT,
            "upstream_timeout",
            "the service behind the gateway did not answer in time",
        )
    } else {
        (
            StatusCode::BAD_GATEWAY,
            "upstream_unavailable",
            "the service behind the gateway cannot be reached",
        )
    };
    tracing::warn!(error.message = %e, url, "upstream request failed");
    metrics::counter!("upstream_failures_total", "code" => code).increment(1);
    Problem::new(status, code, detail).into_response()
}
