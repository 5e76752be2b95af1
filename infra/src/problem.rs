//! RFC 9457 problem details: the one error body every service returns, with a stable snake_case `code`.
//! The request id is added by [`crate::http`]'s middleware, so constructors need not know it.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem as sent on the wire.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the problem type (stable; built from `code`).
    #[serde(rename = "type")]
    pub type_uri: String,
    /// Short summary of the problem type.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// Stable machine-readable code.
    pub code: String,
    /// What went wrong this time.
    pub detail: String,
    /// For a journey: the segment (from 0, in travel order) whose flight refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment: Option<usize>,
    /// For a booking class that closed: the cheapest class on sale for the party now, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub on_sale: Option<char>,
}

impl Problem {
    /// A problem with `status`, `code` and a human `detail`. 5xx details should stay generic.
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Self {
            type_uri: format!("https://airline.example/problems/{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            code: code.to_owned(),
            detail: detail.into(),
            segment: None,
            on_sale: None,
        }
    }

    /// The same problem, naming the booking class on sale now.
    #[must_use]
    pub fn with_on_sale(mut self, class: Option<char>) -> Self {
        self.on_sale = class;
        self
    }

    /// The same problem, about segment `segment` of a journey.
    #[must_use]
    pub fn on_segment(mut self, segment: usize) -> Self {
        self.segment = Some(segment);
        self
    }

    /// The status.
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }
}

/// The statuses any API operation can answer whatever it documents, each with the codes it carries.
const COMMON: &[(&str, &str)] = &[
    (
        "400",
        "Malformed request: `bad_path` (dot segments, encoded slashes), `invalid_query` (a parameter that \
         does not parse or is out of range, dates outside 1900-2199 included), `malformed_json`, \
         `invalid_body`, `invalid_if_match`.",
    ),
    (
        "401",
        "`unauthorized`: the token is missing where needed, invalid, expired, of an ended session or of a \
         disabled account.",
    ),
    (
        "429",
        "`rate_limited` (see `Retry-After` and the `RateLimit-*` headers).",
    ),
    (
        "503",
        "A dependency is away or the request timed out: `database_unavailable`, `broker_unavailable`, \
         `unavailable` (see `Retry-After`).",
    ),
];

/// What operations with a request body can answer too.
const WITH_BODY: &[(&str, &str)] = &[
    ("413", "`payload_too_large`: the body is over 64 KiB."),
    (
        "415",
        "`unsupported_media_type`: the body is not `application/json`.",
    ),
    (
        "422",
        "The body is well-formed JSON but not a valid request (`invalid_body` and the operation's own \
         codes).",
    ),
];

/// Makes an OpenAPI document tell the truth about errors: every 4xx and 5xx response is
/// `application/problem+json` with the [`Problem`] schema (and `request_id`), the statuses every
/// operation can answer are documented with the codes they carry, and `default` covers the rest.
pub fn document_problems(doc: &mut serde_json::Value) {
    use serde_json::{Value, json};
    let schema = json!({
        "type": "object",
        "description": "An RFC 9457 problem.",
        "required": ["type", "title", "status", "code", "detail"],
        "properties": {
            "type": {"type": "string", "description": "A URI naming the problem type, built from `code`."},
            "title": {"type": "string", "description": "The status's reason phrase."},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "code": {"type": "string", "pattern": "^[a-z_]+$", "description": "Stable machine-readable code."},
            "detail": {"type": "string", "description": "What went wrong this time."},
            "request_id": {"type": "string", "description": "The `x-request-id` of the request."}
        }
    });
    doc["components"]["schemas"]["Problem"] = schema;
    let problem = |description: &str| {
        json!({
            "description": description,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        })
    };
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, operation) in item.iter_mut() {
            if !matches!(
                method.as_str(),
                "get" | "put" | "post" | "delete" | "patch" | "head" | "options"
            ) {
                continue;
            }
            let with_body = operation.get("requestBody").is_some();
            let Some(responses) = operation
                .get_mut("responses")
                .and_then(Value::as_object_mut)
            else {
                continue;
            };
            for (status, response) in responses.iter_mut() {
                if status.starts_with('4') || status.starts_with('5') {
                    let description = response
                        .get("description")
                        .and_then(Value::as_str)
                        .filter(|d| !d.is_empty())
                        .unwrap_or("An error.")
                        .to_owned();
                    *response = problem(&description);
                }
            }
            let extra = COMMON.iter().chain(if with_body { WITH_BODY } else { &[] });
            for (status, description) in extra {
                responses
                    .entry((*status).to_owned())
                    .or_insert_with(|| problem(description));
            }
            responses
                .entry("default".to_owned())
                .or_insert_with(|| problem("Any other error, as a problem with its `code`."));
        }
    }
}

#[cfg(test)]
mod document_tests {
    use serde_json::json;

    #[test]
    fn errors_become_problems_and_the_common_statuses_are_documented() {
        let mut doc = json!({"paths": {"/x": {"post": {
            "requestBody": {"content": {"application/json": {}}},
            "responses": {
                "201": {"description": "made", "content": {"application/json": {}}},
                "409": {"description": "`taken`", "content": {"application/json": {}}}
            }
        }}}});
        super::document_problems(&mut doc);
        let responses = &doc["paths"]["/x"]["post"]["responses"];
        assert!(responses["201"]["content"]["application/json"].is_object());
        assert_eq!(
            responses["409"]["content"]["application/problem+json"]["schema"]["$ref"],
            "#/components/schemas/Problem"
        );
        assert_eq!(responses["409"]["description"], "`taken`");
        for status in ["400", "401", "413", "415", "422", "429", "503", "default"] {
            assert!(
                responses[status]["content"]["application/problem+json"].is_object(),
                "{status}"
            );
        }
        assert!(doc["components"]["schemas"]["Problem"]["properties"]["request_id"].is_object());
    }
}
