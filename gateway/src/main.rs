use gateway::startup::Application;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    infra::startup::main::<Application>("gateway", "info,sqlx=warn").await
}
