//! `Idempotency-Key` on POSTs, stored in Postgres per principal with a fingerprint of the request:
//! the same key and body replays the first response byte for byte; another body under the same key is
//! 422; a key whose first request is still running is 409. 5xx responses are not stored, so the client
//! can retry them. An in-flight row older than [`ABANDONED_AFTER_SECS`] (its process died) is taken over.

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use infra::auth::JwtVerifier;
use infra::problem::Problem;
use sha2::{Digest, Sha256};

use crate::state::AppState;

/// The request header.
pub static IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// Set on a replayed response.
pub static REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// An in-flight key older than this is considered abandoned.
pub const ABANDONED_AFTER_SECS: i64 = 60;

const KEPT_HEADERS: [HeaderName; 3] = [header::CONTENT_TYPE, header::ETAG, header::LOCATION];

/// The middleware.
pub async fn idempotency(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let key = match key_of(req.headers()) {
        Ok(Some(key)) => key,
        Ok(None) => return next.run(req).await,
        Err(problem) => return problem.into_response(),
    };
    // Unauthenticated requests are refused by the handler; there is no principal to scope a key to.
    let Some(principal) = principal_of(req.headers(), &state.verifier) else {
        return next.run(req).await;
    };
    let (parts, body) = req.into_parts();
    let Ok(bytes) = to_bytes(body, usize::MAX).await else {
        return Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is too large",
        )
        .into_response();
    };
    let fingerprint = fingerprint(&parts.method, parts.uri.path(), &bytes);
    match claim(&state, &principal, &key, &fingerprint).await {
        Ok(Claim::Ours) => {}
        Ok(Claim::Replay(response)) => return response,
        Ok(Claim::Refused(problem)) => return problem.into_response(),
        Err(e) => return crate::error::ApiError::from(e).into_response(),
    }
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    match store(&state, &principal, &key, response).await {
        Ok(response) => response,
        Err(e) => crate::error::ApiError::from(e).into_response(),
    }
}

fn key_of(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(value) = headers.get(&IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(k) if (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(k.to_owned()))
        }
        _ => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_idempotency_key",
            "Idempotency-Key must be 1-255 visible ASCII characters",
        )),
    }
}

fn principal_of(headers: &HeaderMap, verifier: &JwtVerifier) -> Option<String> {
    let token = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?;
    verifier
        .verify(token.trim())
        .ok()
        .map(|c| c.sub.to_string())
}

/// The request fingerprint stored with a key: SHA-256 over method, path and body.
pub fn fingerprint(method: &Method, path: &str, body: &[u8]) -> Vec<u8> {
    let mut hash = Sha256::new();
    hash.update(method.as_str());
    hash.update([0]);
    hash.update(path);
    hash.update([0]);
    hash.update(body);
    hash.finalize().to_vec()
}

enum Claim {
    Ours,
    Replay(Response),
    Refused(Problem),
}

type StoredRow = (
    Vec<u8>,
    String,
    Option<i16>,
    Option<serde_json::Value>,
    Option<Vec<u8>>,
    bool,
);

async fn claim(
    state: &AppState,
    principal: &str,
    key: &str,
    fingerprint: &[u8],
) -> Result<Claim, sqlx::Error> {
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (principal, key, fingerprint, state) VALUES ($1, $2, $3, 'in_flight') \
         ON CONFLICT DO NOTHING",
    )
    .bind(principal)
    .bind(key)
    .bind(fingerprint)
    .execute(&state.pool)
    .await?;
    if inserted.rows_affected() == 1 {
        return Ok(Claim::Ours);
    }
    let row: Option<StoredRow> = sqlx::query_as(
        "SELECT fingerprint, state, response_status, response_headers, response_body, \
                created_at < now() - make_interval(secs => $3) \
         FROM idempotency_keys WHERE principal = $1 AND key = $2",
    )
    .bind(principal)
    .bind(key)
    .bind(ABANDONED_AFTER_SECS as f64)
    .fetch_optional(&state.pool)
    .await?;
    let Some((stored_fingerprint, row_state, status, headers, body, abandoned)) = row else {
        // Deleted between the two statements (a 5xx was just cleared): let the caller retry.
        return Ok(Claim::Refused(in_flight()));
    };
    if stored_fingerprint != fingerprint {
        return Ok(Claim::Refused(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different request",
        )));
    }
    if row_state == "in_flight" {
        if abandoned && take_over(state, principal, key).await? {
            return Ok(Claim::Ours);
        }
        return Ok(Claim::Refused(in_flight()));
    }
    Ok(Claim::Replay(replay(status, headers, body)))
}

async fn take_over(state: &AppState, principal: &str, key: &str) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE idempotency_keys SET created_at = now() \
         WHERE principal = $1 AND key = $2 AND state = 'in_flight' \
           AND created_at < now() - make_interval(secs => $3)",
    )
    .bind(principal)
    .bind(key)
    .bind(ABANDONED_AFTER_SECS as f64)
    .execute(&state.pool)
    .await?;
    Ok(updated.rows_affected() == 1)
}

fn in_flight() -> Problem {
    Problem::new(
        StatusCode::CONFLICT,
        "idempotency_key_in_flight",
        "a request with this Idempotency-Key is still being processed",
    )
}

fn replay(
    status: Option<i16>,
    headers: Option<serde_json::Value>,
    body: Option<Vec<u8>>,
) -> Response {
    let status = status
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let mut response = (status, body.unwrap_or_default()).into_response();
    if let Some(serde_json::Value::Object(map)) = headers {
        for (name, value) in map {
            if let (Ok(name), Some(Ok(value))) = (
                HeaderName::try_from(name.as_str()),
                value.as_str().map(HeaderValue::from_str),
            ) {
                response.headers_mut().insert(name, value);
            }
        }
    }
    response
        .headers_mut()
        .insert(REPLAYED.clone(), HeaderValue::from_static("true"));
    response
}

async fn store(
    state: &AppState,
    principal: &str,
    key: &str,
    response: Response,
) -> Result<Response, sqlx::Error> {
    let (parts, body) = response.into_parts();
    let bytes: Bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
    if parts.status.is_server_error() {
        sqlx::query("DELETE FROM idempotency_keys WHERE principal = $1 AND key = $2")
            .bind(principal)
            .bind(key)
            .execute(&state.pool)
            .await?;
    } else {
        let headers: serde_json::Map<String, serde_json::Value> = KEPT_HEADERS
            .iter()
            .filter_map(|name| {
                let value = parts.headers.get(name)?.to_str().ok()?;
                Some((
                    name.as_str().to_owned(),
                    serde_json::Value::String(value.to_owned()),
                ))
            })
            .collect();
        sqlx::query(
            "UPDATE idempotency_keys SET state = 'completed', response_status = $3, response_headers = $4, \
             response_body = $5 WHERE principal = $1 AND key = $2",
        )
        .bind(principal)
        .bind(key)
        .bind(parts.status.as_u16() as i16)
        .bind(serde_json::Value::Object(headers))
        .bind(bytes.as_ref())
        .execute(&state.pool)
        .await?;
    }
    Ok(Response::from_parts(parts, Body::from(bytes)))
}
