//! What a request under an `Idempotency-Key` leaves behind: its claim on the key, and its response as
//! stored for replay. Plain values: the executor commits them with a decision's events, and the
//! middleware (`idempotency`) reads them back.

use axum::body::Bytes;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

const KEPT_HEADERS: [HeaderName; 3] = [header::CONTENT_TYPE, header::ETAG, header::LOCATION];

/// A request's hold on its key: only the current token's holder may store the outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyClaim {
    /// Whose key (the token's subject).
    pub principal: String,
    /// The key.
    pub key: String,
    /// This claim.
    pub token: Uuid,
}

/// A response as stored for replay.
#[derive(Debug, Clone)]
pub struct StoredResponse {
    /// Status code.
    pub status: u16,
    /// The headers kept (content type, ETag, Location).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The body.
    pub body: Bytes,
}

/// Marks a response whose outcome was committed with its decision.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OutcomeStored;

impl StoredResponse {
    /// 204 with nothing (a decision no one waits to read, as a worker's).
    pub fn no_content() -> Self {
        Self {
            status: StatusCode::NO_CONTENT.as_u16(),
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// JSON of the kept headers, as stored.
    pub fn headers_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.headers
                .iter()
                .filter(|(name, _)| KEPT_HEADERS.contains(name))
                .filter_map(|(name, value)| {
                    Some((
                        name.as_str().to_owned(),
                        serde_json::Value::String(value.to_str().ok()?.to_owned()),
                    ))
                })
                .collect(),
        )
    }

    /// The HTTP response; `stored` says its outcome was committed (the middleware leaves it be).
    pub fn into_response_marked(self, stored: bool) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK);
        let mut response = (status, self.body).into_response();
        for (name, value) in self.headers {
            response.headers_mut().insert(name, value);
        }
        if stored {
            response.extensions_mut().insert(OutcomeStored);
        }
        response
    }
}
