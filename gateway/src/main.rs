use anyhow::Context;
use gateway::config::Settings;
use gateway::startup::Application;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    infra::telemetry::init("gateway", "info,sqlx=warn");
    let settings = Settings::load().context("loading settings")?;
    let app = Application::build(settings)
        .await
        .context("starting the gateway")?;
    tracing::info!(port = app.port(), "gateway listening");
    app.run_until_stopped().await
}
