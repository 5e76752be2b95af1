//! The one mapping of a failed request to a problem+json response.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use infra::amqp::AmqpError;
use infra::problem::Problem;

/// A failed request: 503 when the database or the broker is away (worth a retry), 500 otherwise.
pub fn internal(e: impl std::error::Error + 'static) -> Response {
    let e: &(dyn std::error::Error + 'static) = &e;
    let broker_away = e
        .downcast_ref::<AmqpError>()
        .is_some_and(|a| matches!(a, AmqpError::Broker(_) | AmqpError::Timeout(_)));
    if infra::db::unavailable_in_chain(e) {
        tracing::warn!(error.message = %e, "notifier request failed: database unavailable");
        return Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "the database is unavailable; retry later",
        )
        .into_response();
    }
    if broker_away {
        tracing::warn!(error.message = %e, "notifier request failed: broker unavailable");
        return Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "broker_unavailable",
            "the message broker is unavailable; retry later",
        )
        .into_response();
    }
    tracing::error!(error.message = %e, "notifier request failed");
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "something went wrong on our side",
    )
    .into_response()
}
