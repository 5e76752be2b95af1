use anyhow::Context;
use notifier::config::Settings;
use notifier::startup::Application;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    infra::telemetry::init("notifier", "info,sqlx=warn,lapin=warn");
    let settings = Settings::load().context("loading settings")?;
    let app = Application::build(settings)
        .await
        .context("starting the notifier")?;
    tracing::info!(port = app.port(), "notifier running");
    app.run_until_stopped().await
}
