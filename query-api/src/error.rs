//! The query API's one error type.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use infra::http::ErrorChain;
use infra::problem::Problem;

/// Handlers' result.
pub type Result<T, E = ApiError> = std::result::Result<T, E>;

/// Everything a read can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A ready-made 4xx.
    #[error("{}", .0.detail)]
    Problem(Problem),
    /// Postgres cannot be reached.
    #[error("database unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// A bug or an unexpected failure.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    /// A 400 for a query parameter.
    pub fn bad_query(detail: impl Into<String>) -> Self {
        Self::Problem(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            detail,
        ))
    }

    /// A 404.
    pub fn not_found(code: &str, what: &str) -> Self {
        Self::Problem(Problem::new(
            StatusCode::NOT_FOUND,
            code,
            format!("{what} not found"),
        ))
    }
}

impl From<Problem> for ApiError {
    fn from(p: Problem) -> Self {
        Self::Problem(p)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        if infra::db::is_unavailable(&e) {
            Self::Unavailable(e.into())
        } else {
            Self::Internal(e.into())
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (problem, cause) = match self {
            Self::Problem(p) => (p, None),
            Self::Unavailable(cause) => (
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database_unavailable",
                    "the database is unavailable; retry later",
                ),
                Some(cause),
            ),
            Self::Internal(cause) => (
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "something went wrong on our side",
                ),
                Some(cause),
            ),
        };
        let mut response = problem.into_response();
        if let Some(cause) = cause {
            response
                .extensions_mut()
                .insert(ErrorChain(format!("{cause:#}")));
        }
        response
    }
}
