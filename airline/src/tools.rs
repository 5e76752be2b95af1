//! The one-shot subcommands: migrate, admin create, replay, dead letters, SMTP sink.

use anyhow::{Context, bail};
use domain::values::EmailAddress;
use indicatif::{ProgressBar, ProgressStyle};
use infra::auth::Role;
use infra::settings::{DatabaseSettings, ServiceSettings};
use sqlx::PgPool;

use crate::cli::DeadLetterArgs;

async fn database() -> anyhow::Result<PgPool> {
    let settings = command_api::config::Settings::load().context("settings")?;
    migrated_pool(&settings.database, 4).await
}

/// A pool of at most `max_connections` on the settings' database, migrated.
///
/// # Errors
/// Postgres unreachable, or a migration that fails.
pub async fn migrated_pool(
    database: &DatabaseSettings,
    max_connections: u32,
) -> anyhow::Result<PgPool> {
    let pool = infra::db::options(database)
        .max_connections(max_connections)
        .connect_with(database.connect_options()?)
        .await
        .context("connecting to Postgres (DATABASE_URL)")?;
    infra::db::MIGRATOR
        .run(&pool)
        .await
        .context("running migrations")?;
    Ok(pool)
}

/// `airline migrate`.
///
/// # Errors
/// Unreachable database, failed migration.
pub async fn migrate() -> anyhow::Result<()> {
    database().await?;
    tracing::info!("migrations applied");
    Ok(())
}

/// `airline verify`: the report on standard output; an error (exit 1) when anything is violated.
///
/// # Errors
/// Database failures; violations.
pub async fn verify(grace_secs: u64) -> anyhow::Result<()> {
    use std::io::Write;
    let pool = database().await?;
    let report = airline::verify::run(&pool, std::time::Duration::from_secs(grace_secs)).await?;
    let mut out = std::io::stdout().lock();
    write!(out, "{report}")?;
    out.flush()?;
    if report.is_clean() {
        Ok(())
    } else {
        anyhow::bail!("{} invariant violations", report.violations())
    }
}

/// `airline admin create`.
///
/// # Errors
/// Bad email, weak password, database failures.
pub async fn create_admin(email: &str, password: &str) -> anyhow::Result<()> {
    let pool = database().await?;
    let email = EmailAddress::parse(email)?;
    match gateway::accounts::create(&pool, &email, password, Role::Admin).await {
        Ok(user) => tracing::info!(id = %user.id, email = %user.email, "admin created"),
        Err(gateway::accounts::AccountError::EmailTaken) => {
            let id: uuid::Uuid = sqlx::query_scalar("SELECT user_id FROM users WHERE email = $1")
                .bind(email.as_str())
                .fetch_one(&pool)
                .await?;
            gateway::accounts::set_role(&pool, id, Role::Admin).await?;
            tracing::info!(%id, email = %email, "the account exists; it is an admin now (password unchanged)");
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// `airline replay <subscription>`, with a progress bar.
///
/// # Errors
/// Unknown subscription, database failures.
pub async fn replay(name: &str) -> anyhow::Result<()> {
    let Some(projection) = projector::projections::Projection::from_name(name) else {
        bail!("unknown subscription {name:?}: use flights, bookings or analytics");
    };
    let settings = projector::config::Settings::load().context("projector settings")?;
    let pool = database().await?;
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} events  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let done = projector::replay::rebuild(
        &pool,
        projection,
        settings.projector.rebuild_batch_size,
        |p| {
            bar.set_length(p.total.max(p.done));
            bar.set_position(p.done);
            bar.set_message(format!("{:.0} events/s", p.rate()));
        },
    )
    .await?;
    bar.finish_with_message(format!("{:.0} events/s", done.rate()));
    tracing::info!(
        events = done.done,
        seconds = done.elapsed.as_secs_f64(),
        rate = done.rate(),
        "rebuilt {name}"
    );
    Ok(())
}

/// `airline dead-letters list|requeue <consumer>`.
///
/// # Errors
/// Bad arguments, broker failures.
pub async fn dead_letters(args: DeadLetterArgs) -> anyhow::Result<()> {
    if !["email", "webhooks"].contains(&args.consumer.as_str()) {
        bail!("consumers are email and webhooks");
    }
    let settings = notifier::config::Settings::load().context("notifier settings")?;
    match args.action.as_str() {
        "list" => {
            let letters =
                notifier::consumer::dead_letters(&settings.amqp, &args.consumer, 1000).await?;
            let json = serde_json::to_string_pretty(&letters)?;
            tracing::info!(count = letters.len(), "dead letters:\n{json}");
        }
        "requeue" => {
            let moved =
                notifier::consumer::requeue_dead_letters(&settings.amqp, &args.consumer).await?;
            tracing::info!(moved, "requeued");
        }
        other => bail!("unknown action {other:?}: use list or requeue"),
    }
    Ok(())
}

/// `airline smtp-sink`.
///
/// # Errors
/// Busy address.
pub async fn smtp_sink(addr: &str) -> anyhow::Result<()> {
    let sink = notifier::sink::SmtpSink::start(addr).await?;
    tracing::info!(url = %sink.url(), "SMTP sink listening; every message is logged");
    infra::shutdown::shutdown_signal().await;
    Ok(())
}
