use notifier::startup::Application;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    infra::startup::main::<Application>("notifier", "info,sqlx=warn,lapin=warn").await
}
