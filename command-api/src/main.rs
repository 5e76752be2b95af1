use command_api::startup::Application;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    infra::startup::main::<Application>("command-api", "info,sqlx=warn").await
}
