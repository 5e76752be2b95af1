use anyhow::Context;
use query_api::config::Settings;
use query_api::startup::Application;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    infra::telemetry::init("query-api", "info,sqlx=warn");
    let settings = Settings::load().context("loading settings")?;
    let app = Application::build(settings)
        .await
        .context("starting the query API")?;
    tracing::info!(port = app.port(), "query API listening");
    app.run_until_stopped().await
}
