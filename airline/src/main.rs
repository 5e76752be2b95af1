//! `airline`: every service of the airline backend in one binary.

mod all;
mod cli;
mod seed;
mod tools;

use anyhow::Context;
use clap::Parser;

use crate::cli::{Action, Cli};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    infra::telemetry::init("airline", "info,sqlx=warn,lapin=warn,tower_http=warn");
    // With the `failpoints` feature, FAILPOINTS (e.g. `executor.after_commit=1*return(abort)`) arms them;
    // without it this does nothing.
    let _failpoints = fail::FailScenario::setup();
    match cli.command.unwrap_or(Action::All(cli::AllArgs::default())) {
        Action::All(args) => all::run(args).await,
        Action::Gateway => {
            let settings = gateway::config::Settings::load().context("gateway settings")?;
            gateway::startup::Application::build(settings)
                .await?
                .run_until_stopped()
                .await
        }
        Action::CommandApi => {
            let settings = command_api::config::Settings::load().context("command API settings")?;
            command_api::startup::Application::build(settings)
                .await?
                .run_until_stopped()
                .await
        }
        Action::QueryApi => {
            let settings = query_api::config::Settings::load().context("query API settings")?;
            query_api::startup::Application::build(settings)
                .await?
                .run_until_stopped()
                .await
        }
        Action::Projector => {
            let settings = projector::config::Settings::load().context("projector settings")?;
            projector::startup::Application::build(settings)
                .await?
                .run_until_stopped()
                .await
        }
        Action::Notifier => {
            let settings = notifier::config::Settings::load().context("notifier settings")?;
            notifier::startup::Application::build(settings)
                .await?
                .run_until_stopped()
                .await
        }
        Action::Migrate => tools::migrate().await,
        Action::Admin(cli::AdminCommand::Create(args)) => {
            tools::create_admin(&args.email, &args.password).await
        }
        Action::SeedDemo(args) => seed::run(args).await,
        Action::Replay(args) => tools::replay(&args.subscription).await,
        Action::DeadLetters(args) => tools::dead_letters(args).await,
        Action::SmtpSink(args) => tools::smtp_sink(&args.addr).await,
        Action::Verify(args) => tools::verify(args.grace_secs).await,
        Action::Keys(args) => {
            gateway::keys::make_pair(&args.dir, args.public_dir.as_deref())?;
            tracing::info!(dir = %args.dir.display(), "token key pair ready");
            Ok(())
        }
    }
}
