use query_api::startup::Application;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    infra::startup::main::<Application>("query-api", "info,sqlx=warn").await
}
