use anyhow::Context;
use command_api::config::Settings;
use command_api::startup::Application;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    infra::telemetry::init("command-api", "info,sqlx=warn");
    let settings = Settings::load().context("loading settings")?;
    let app = Application::build(settings)
        .await
        .context("starting the command API")?;
    tracing::info!(port = app.port(), "command API listening");
    app.run_until_stopped().await
}
