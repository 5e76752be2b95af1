//! Starting a service in this process on loopback, on a test database's pool, running until the test
//! (its runtime) ends or until a given `stop` resolves.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use command_api::clock::Clock;
use command_api::payments::PaymentProvider;
use command_api::state::AppState;
use infra::startup::Launch;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio::task::JoinHandle;

use crate::TestDatabase;

/// What a spawned service's task returns.
pub type Running = JoinHandle<anyhow::Result<()>>;

fn address(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}

/// A pool of its own on `db`, as a second process would have.
pub async fn own_pool(db: &TestDatabase, max_connections: u32) -> PgPool {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .connect_with(db.options.clone())
        .await
        .expect("cannot connect to the test database")
}

/// A command API with `clock` and `payments`, its workers not running (tests drive the sweeper and
/// payment recovery by hand); its address and state.
pub async fn command_api(
    settings: command_api::config::Settings,
    pool: PgPool,
    clock: Arc<dyn Clock>,
    payments: Arc<dyn PaymentProvider>,
) -> (String, AppState) {
    let app = command_api::startup::Application::build_from(settings, pool, clock, payments)
        .await
        .expect("the command API did not start");
    let state = app.state().clone();
    let address = address(app.port());
    tokio::spawn(app.run_without_workers(std::future::pending()));
    (address, state)
}

/// A query API; its address.
pub async fn query_api(settings: query_api::config::Settings, pool: PgPool) -> String {
    let app = query_api::startup::Application::build_with(settings, pool)
        .await
        .expect("the query API did not start");
    let address = address(app.port());
    tokio::spawn(app.run_until(std::future::pending()));
    address
}

/// A gateway; its address.
pub async fn gateway(settings: gateway::config::Settings, pool: PgPool) -> String {
    let app = gateway::startup::Application::build_with(settings, pool)
        .await
        .expect("the gateway did not start");
    let address = address(app.port());
    tokio::spawn(app.run_until(std::future::pending()));
    address
}

/// A notifier (its consumers and its webhook API) until `stop`; its address and task.
pub async fn notifier(
    settings: notifier::config::Settings,
    pool: PgPool,
    stop: impl Future<Output = ()> + Send + 'static,
) -> (String, Running) {
    let app = notifier::startup::Application::build_with(settings, pool)
        .await
        .expect("the notifier did not start");
    let address = address(app.port());
    (address, tokio::spawn(app.run_until(stop)))
}

/// A projector (every projection and the relay) until `stop`; its task.
pub async fn projector(
    settings: projector::config::Settings,
    pool: PgPool,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Running {
    let app = projector::startup::Application::build_with(settings, pool)
        .await
        .expect("the projector did not start");
    tokio::spawn(app.run_until(stop))
}

/// Waits until `GET {base}/readyz` answers 200, polling for at most `within` (another task or process
/// gets ready on its own time, so this is a bounded poll, not a sleep).
pub async fn wait_ready(base: &str, within: Duration) {
    let client = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let ready = client.get(format!("{base}/readyz")).send().await;
        if ready.is_ok_and(|r| r.status() == 200) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{base} never became ready"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
