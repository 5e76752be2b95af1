//! `airline`: every service of the airline backend in one binary.

mod all;
mod cli;
mod seed;
mod tools;

use clap::Parser;
use infra::startup::launch;

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
        Action::Gateway => launch::<gateway::startup::Application>().await,
        Action::CommandApi => launch::<command_api::startup::Application>().await,
        Action::QueryApi => launch::<query_api::startup::Application>().await,
        Action::Projector => launch::<projector::startup::Application>().await,
        Action::Notifier => launch::<notifier::startup::Application>().await,
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
