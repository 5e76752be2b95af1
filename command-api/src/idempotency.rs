//! `Idempotency-Key` on POSTs, stored in Postgres per principal with a fingerprint of the request.
//!
//! The middleware claims the key with a fresh token and a lease before the handler runs. The handler's
//! decision commits the response together with the events it caused (see the executor), so a crash
//! between the two cannot make a retry run twice: the same key and body replay the stored response byte
//! for byte; another body under the same key is 422; a key whose request is still running is 409 with
//! `Retry-After`, never stored. A request that commits nothing (a 4xx or 5xx) releases its claim, so the
//! client may retry it. While a request runs its lease is renewed (every third of it), so only a claim
//! whose process died lets its lease run out, and that one is taken over by a retry; the
//! old holder then cannot commit, because the outcome is written only under the current token. A request
//! dropped before its decision was queued (the client hung up) releases its claim at once; one refused
//! because the executor's queues are full never claims.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use infra::http::Committing;
use infra::problem::Problem;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::outcome::OutcomeStored;
pub use crate::outcome::{IdempotencyClaim, StoredResponse};
use crate::state::AppState;

/// The request header.
pub static IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// Set on a replayed response.
pub static REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

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
    let Some(principal) = infra::auth::bearer_token(req.headers())
        .and_then(|t| state.verifier.verify(t).ok())
        .map(|c| c.sub.to_string())
    else {
        return next.run(req).await;
    };
    // Full queues refuse before anything is claimed: the retry finds the key free.
    if state.executor.is_full() {
        return crate::error::ApiError::Overloaded.into_response();
    }
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
    let claim = match claim(&state, &principal, &key, &fingerprint).await {
        Ok(Claim::Ours(token)) => IdempotencyClaim {
            principal,
            key,
            token,
        },
        Ok(Claim::Replay(response)) => return response,
        Ok(Claim::Refused(response)) => return response,
        Err(e) => return crate::error::ApiError::from(e).into_response(),
    };
    let mut req = Request::from_parts(parts, Body::from(bytes));
    req.extensions_mut().insert(claim.clone());
    // A client that hangs up before its decision is queued leaves nothing to wait for: the claim goes
    // at once, so its retry runs instead of meeting `idempotency_key_in_flight` for a whole lease.
    let committing = req.extensions().get::<Committing>().cloned();
    let mut abandoned = ReleaseIfAbandoned {
        state: Some(state.clone()),
        claim: claim.clone(),
        committing,
    };
    // While the request runs, its process is alive: the claim's lease is renewed, so a retry never takes
    // over a request that is only slow (queued behind others, say); a process that dies stops renewing.
    let response = {
        let run = next.run(req);
        tokio::pin!(run);
        let every =
            (state.booking.idempotency_lease() / 3).max(std::time::Duration::from_millis(50));
        let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            tokio::select! {
                response = &mut run => break response,
                _ = renew.tick() => {
                    if let Err(e) = renew_lease(&state, &claim).await {
                        tracing::warn!(error.message = %e, "could not renew an idempotency claim's lease");
                    }
                }
            }
        }
    };
    abandoned.state = None;
    if response.extensions().get::<OutcomeStored>().is_some() {
        return response;
    }
    // Nothing was committed under the claim (a refusal or a failure): let a retry run again.
    if let Err(e) = release(&state, &claim).await {
        tracing::warn!(error.message = %e, "could not release an idempotency claim; it lapses with its lease");
    }
    response
}

/// Releases a claim whose request was dropped (its client went away) before its decision was queued.
struct ReleaseIfAbandoned {
    /// `None` once the request ran to its end.
    state: Option<AppState>,
    claim: IdempotencyClaim,
    committing: Option<Committing>,
}

impl Drop for ReleaseIfAbandoned {
    fn drop(&mut self) {
        let Some(state) = self.state.take() else {
            return;
        };
        if self.committing.as_ref().is_some_and(Committing::is_marked) {
            return; // The decision commits its outcome under the claim.
        }
        let claim = self.claim.clone();
        metrics::counter!("idempotency_claims_abandoned_total").increment(1);
        tokio::spawn(async move {
            if let Err(e) = release(&state, &claim).await {
                tracing::warn!(error.message = %e, "could not release an abandoned idempotency claim; it lapses with its lease");
            }
        });
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
    Ours(Uuid),
    Replay(Response),
    Refused(Response),
}

type StoredRow = (
    Vec<u8>,
    String,
    Option<i16>,
    Option<serde_json::Value>,
    Option<Vec<u8>>,
    f64,
);

async fn claim(
    state: &AppState,
    principal: &str,
    key: &str,
    fingerprint: &[u8],
) -> Result<Claim, sqlx::Error> {
    let token = Uuid::now_v7();
    let lease = state.booking.idempotency_lease().as_secs_f64();
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (principal, key, fingerprint, state, claim, lease_until) \
         VALUES ($1, $2, $3, 'in_flight', $4, now() + make_interval(secs => $5)) ON CONFLICT DO NOTHING",
    )
    .bind(principal)
    .bind(key)
    .bind(fingerprint)
    .bind(token)
    .bind(lease)
    .execute(&state.pool)
    .await?;
    if inserted.rows_affected() == 1 {
        return Ok(Claim::Ours(token));
    }
    let row: Option<StoredRow> = sqlx::query_as(
        "SELECT fingerprint, state, response_status, response_headers, response_body, \
                extract(epoch FROM lease_until - now())::float8 \
         FROM idempotency_keys WHERE principal = $1 AND key = $2",
    )
    .bind(principal)
    .bind(key)
    .fetch_optional(&state.pool)
    .await?;
    let Some((stored_fingerprint, row_state, status, headers, body, lease_left)) = row else {
        // Released between the two statements: the caller may retry at once.
        return Ok(Claim::Refused(in_flight(1)));
    };
    if stored_fingerprint != fingerprint {
        return Ok(Claim::Refused(
            Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this Idempotency-Key was used with a different request",
            )
            .into_response(),
        ));
    }
    if row_state == "in_flight" {
        if lease_left <= 0.0 && take_over(state, principal, key, token, lease).await? {
            return Ok(Claim::Ours(token));
        }
        return Ok(Claim::Refused(in_flight(lease_left.ceil().max(1.0) as u64)));
    }
    Ok(Claim::Replay(replay(status, headers, body)))
}

async fn take_over(
    state: &AppState,
    principal: &str,
    key: &str,
    token: Uuid,
    lease: f64,
) -> Result<bool, sqlx::Error> {
    let updated = sqlx::query(
        "UPDATE idempotency_keys SET claim = $3, lease_until = now() + make_interval(secs => $4) \
         WHERE principal = $1 AND key = $2 AND state = 'in_flight' AND lease_until <= now()",
    )
    .bind(principal)
    .bind(key)
    .bind(token)
    .bind(lease)
    .execute(&state.pool)
    .await?;
    Ok(updated.rows_affected() == 1)
}

/// Extends a claim still ours and in flight by a whole lease from now.
async fn renew_lease(state: &AppState, claim: &IdempotencyClaim) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE idempotency_keys SET lease_until = now() + make_interval(secs => $4) \
         WHERE principal = $1 AND key = $2 AND claim = $3 AND state = 'in_flight'",
    )
    .bind(&claim.principal)
    .bind(&claim.key)
    .bind(claim.token)
    .bind(state.booking.idempotency_lease().as_secs_f64())
    .execute(&state.pool)
    .await?;
    Ok(())
}

async fn release(state: &AppState, claim: &IdempotencyClaim) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM idempotency_keys WHERE principal = $1 AND key = $2 AND claim = $3 AND state = 'in_flight'",
    )
    .bind(&claim.principal)
    .bind(&claim.key)
    .bind(claim.token)
    .execute(&state.pool)
    .await?;
    Ok(())
}

fn in_flight(retry_after_secs: u64) -> Response {
    let mut response = Problem::new(
        StatusCode::CONFLICT,
        "idempotency_key_in_flight",
        "a request with this Idempotency-Key is still being processed; retry later",
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
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
