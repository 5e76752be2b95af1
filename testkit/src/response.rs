//! A response read whole (status, headers, bytes), with the assertions the API tests share.

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

/// A response whose body has been read.
pub struct Response {
    /// Its status.
    pub status: StatusCode,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body.
    pub bytes: Vec<u8>,
}

/// Sends `request` and reads the whole response; panics when nothing answers.
pub async fn send(request: reqwest::RequestBuilder) -> Response {
    let response = request.send().await.expect("the request was not answered");
    Response {
        status: response.status(),
        headers: response.headers().clone(),
        bytes: response
            .bytes()
            .await
            .expect("cannot read the response body")
            .to_vec(),
    }
}

impl Response {
    /// The body as JSON; `null` when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }

    /// The `ETag` header; empty when there is none.
    pub fn etag(&self) -> String {
        self.headers
            .get("etag")
            .map(|v| v.to_str().expect("a visible-ASCII ETag").to_owned())
            .unwrap_or_default()
    }

    /// Status and JSON body.
    pub fn into_parts(self) -> (StatusCode, Value) {
        let body = self.json();
        (self.status, body)
    }

    /// Status, headers and JSON body.
    pub fn into_triple(self) -> (StatusCode, HeaderMap, Value) {
        let body = self.json();
        (self.status, self.headers, body)
    }

    /// Asserts a problem+json body with this status and code, carrying the request id.
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(
            self.status.as_u16(),
            status,
            "body: {}",
            String::from_utf8_lossy(&self.bytes)
        );
        let ct = self
            .headers
            .get("content-type")
            .expect("no content-type")
            .to_str()
            .expect("a visible-ASCII content-type");
        assert_eq!(ct, "application/problem+json");
        let body = self.json();
        assert_eq!(body["code"], code, "body: {body}");
        assert_eq!(body["status"], status);
        assert!(
            !body["request_id"].as_str().unwrap_or_default().is_empty(),
            "no request id: {body}"
        );
    }
}
