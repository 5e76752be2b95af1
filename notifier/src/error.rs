//! The one mapping of a failed request to a problem+json response: `ApiError`, which handlers return
//! with `?`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use infra::amqp::AmqpError;
use infra::problem::Problem;

/// A failed request: a ready-made 4xx, or a failure that is 503 when the database or the broker is
/// away (worth a retry) and 500 otherwise.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A ready-made 4xx.
    #[error("{}", .0.detail)]
    Problem(Problem),
    /// The database.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// The broker.
    #[error(transparent)]
    Broker(#[from] AmqpError),
}

/// What handlers return.
pub type Result<T, E = ApiError> = std::result::Result<T, E>;

impl From<Problem> for ApiError {
    fn from(p: Problem) -> Self {
        Self::Problem(p)
    }
}

impl ApiError {
    /// A 404 with `code`.
    pub fn not_found(code: &str, detail: &str) -> Self {
        Self::Problem(Problem::new(StatusCode::NOT_FOUND, code, detail))
    }

    /// A 422 with `code`.
    pub fn unprocessable(code: &str, detail: impl Into<String>) -> Self {
        Self::Problem(Problem::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, detail) = match &self {
            Self::Problem(p) => return p.clone().into_response(),
            Self::Database(e) if infra::db::is_unavailable(e) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                "the database is unavailable; retry later",
            ),
            Self::Broker(AmqpError::Broker(_) | AmqpError::Timeout(_)) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "broker_unavailable",
                "the message broker is unavailable; retry later",
            ),
            _ => {
                tracing::error!(error.message = %self, error.cause_chain = ?self, "notifier request failed");
                let problem = Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "something went wrong on our side",
                );
                return problem.into_response();
            }
        };
        tracing::warn!(error.message = %self, "notifier request failed: {code}");
        Problem::new(status, code, detail).into_response()
    }
}
