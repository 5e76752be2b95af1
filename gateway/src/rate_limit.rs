//! Rate limits in Redis, shared by every gateway replica: fixed windows per policy and per principal
//! (signed in) or client IP (otherwise; always per IP for login and signup). Every limited response
//! carries `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`; a 429 carries `Retry-After`.
//!
//! When Redis is down the gateway lets requests through (fails open) and counts
//! `rate_limit_unavailable_total`: refusing every request would turn a cache outage into a full outage,
//! and login stays expensive (argon2id) either way.

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use infra::auth::Principal;
use infra::problem::Problem;

use crate::client::ClientIp;
use crate::config::Policy;
use crate::state::AppState;

static LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
static REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
static RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

fn policy<'a>(state: &'a AppState, method: &Method, path: &str) -> (&'static str, &'a Policy) {
    let limits = &state.limits;
    if path == "/api/v1/auth/signup" && method == Method::POST {
        ("signup", &limits.signup)
    } else if path.starts_with("/api/v1/auth/") && method == Method::POST {
        ("auth", &limits.auth)
    } else if (path == "/api/v1/flights" || path == "/api/v1/journeys") && method == Method::GET {
        ("search", &limits.search)
    } else if path.starts_with("/api/v1/bookings") && method != Method::GET {
        ("bookings", &limits.bookings)
    } else {
        ("default", &limits.default)
    }
}

/// The middleware; runs after authentication, so a verified principal is in the extensions.
pub async fn rate_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if !path.starts_with("/api/") {
        return next.run(req).await;
    }
    let (name, policy) = policy(&state, req.method(), path);
    let ip = ClientIp::of(&req).map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    let subject = match req.extensions().get::<Principal>() {
        Some(p) if name != "auth" && name != "signup" => format!("user:{}", p.user_id),
        _ => format!("ip:{ip}"),
    };
    let Some((count, reset)) = state
        .redis
        .hit(&format!("rl:{name}:{subject}"), policy.window_secs)
        .await
    else {
        metrics::counter!("rate_limit_unavailable_total").increment(1);
        return next.run(req).await;
    };
    let remaining = policy.limit.saturating_sub(count);
    if count > policy.limit {
        metrics::counter!("rate_limited_total", "policy" => name).increment(1);
        let mut response = Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "at most {} requests per {} s; retry in {reset} s",
                policy.limit, policy.window_secs
            ),
        )
        .into_response();
        set(&mut response, header::RETRY_AFTER, reset);
        headers(&mut response, policy.limit, 0, reset);
        return response;
    }
    let mut response = next.run(req).await;
    headers(&mut response, policy.limit, remaining, reset);
    response
}

fn headers(response: &mut Response, limit: u64, remaining: u64, reset: u64) {
    set(response, LIMIT.clone(), limit);
    set(response, REMAINING.clone(), remaining);
    set(response, RESET.clone(), reset);
}

fn set(response: &mut Response, name: HeaderName, value: u64) {
    response
        .headers_mut()
        .insert(name, HeaderValue::from(value));
}
