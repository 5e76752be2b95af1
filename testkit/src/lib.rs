//! One harness for every crate's integration tests and the bench: a service started on a
//! [`TestDatabase`] with test settings, a test key pair and its tokens, the response wrapper with its
//! assertions, seeding of reference data and flights, and waiting (bounded, never a fixed sleep) for a
//! projection or the relay to catch up. It panics with a message where a test would fail anyway; it has
//! no business rules and is never a dependency of production code.

pub mod auth;
pub mod bodies;
pub mod projection;
pub mod response;
pub mod seed;
pub mod settings;
pub mod spawn;
pub mod stripe;
pub mod tls;

pub use infra::testing::{StallingProxy, TestDatabase, admin_options, database_url};

pub use crate::auth::{AUDIENCE, GATEWAY_AUDIENCE, ISSUER, Keys};
pub use crate::response::{Response, send};

/// Installs the process's TLS provider, and the tests' tracing output when `TEST_LOG` is set; tests are
/// silent otherwise.
pub fn init_test_log() {
    infra::tls::install();
    if std::env::var("TEST_LOG").is_ok() {
        infra::telemetry::init("test", "info");
    }
}

/// `REDIS_URL`; panics with a clear message when it is unset.
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").expect("REDIS_URL must point at a Redis server")
}

/// `AMQP_URL`; panics with a clear message when it is unset.
pub fn amqp_url() -> String {
    std::env::var("AMQP_URL").expect("AMQP_URL must point at RabbitMQ")
}
