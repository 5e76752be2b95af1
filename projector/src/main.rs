use anyhow::Context;
use projector::config::Settings;
use projector::startup::Application;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    infra::telemetry::init("projector", "info,sqlx=warn");
    let settings = Settings::load().context("loading settings")?;
    let app = Application::build(settings)
        .await
        .context("starting the projector")?;
    tracing::info!(port = app.port(), "projector running");
    app.run_until_stopped().await
}
