use projector::startup::Application;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    infra::startup::main::<Application>("projector", "info,sqlx=warn").await
}
