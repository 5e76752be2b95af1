//! `airline all`: every service in one process on its own port, sharing one pool and one key pair,
//! migrating first and stopping together on Ctrl-C or SIGTERM.

use std::net::SocketAddr;

use anyhow::Context;
use infra::settings::ServiceSettings;
use infra::settings::{HttpSettings, env_var};
use infra::startup::Launch;
use tokio::sync::watch;

use crate::cli::AllArgs;

fn addr(var: &str, default: &str) -> anyhow::Result<SocketAddr> {
    let raw = env_var(var).unwrap_or_else(|| default.to_owned());
    raw.parse()
        .with_context(|| format!("{var}={raw:?} is not host:port"))
}

fn listen(http: &mut HttpSettings, at: SocketAddr) {
    http.host = at.ip().to_string();
    http.port = at.port();
}

fn stopped(rx: &watch::Receiver<bool>) -> impl Future<Output = ()> + Send + 'static {
    let mut rx = rx.clone();
    async move {
        let _ = rx.wait_for(|stop| *stop).await;
    }
}

/// Runs everything until stopped.
///
/// # Errors
/// Bad settings, unreachable Postgres, failed migrations, busy ports.
pub async fn run(args: AllArgs) -> anyhow::Result<()> {
    let at = Addresses {
        gateway: addr("AIRLINE_GATEWAY_ADDR", "127.0.0.1:8080")?,
        command: addr("AIRLINE_COMMAND_API_ADDR", "127.0.0.1:8081")?,
        query: addr("AIRLINE_QUERY_API_ADDR", "127.0.0.1:8082")?,
        projector: addr("AIRLINE_PROJECTOR_ADDR", "127.0.0.1:8083")?,
        notifier: addr("AIRLINE_NOTIFIER_ADDR", "127.0.0.1:8084")?,
    };
    let mut gateway = gateway::config::Settings::load().context("gateway settings")?;
    let mut command = command_api::config::Settings::load().context("command API settings")?;
    let mut query = query_api::config::Settings::load().context("query API settings")?;
    let mut projector = projector::config::Settings::load().context("projector settings")?;
    let mut notifier = notifier::config::Settings::load().context("notifier settings")?;
    // The checks each service runs in production before it connects, here before the shared pool does.
    gateway::startup::Application::refuse_development_defaults(&gateway)?;
    command_api::startup::Application::refuse_development_defaults(&command)?;
    query_api::startup::Application::refuse_development_defaults(&query)?;
    projector::startup::Application::refuse_development_defaults(&projector)?;
    notifier::startup::Application::refuse_development_defaults(&notifier)?;
    listen(&mut gateway.http, at.gateway);
    listen(&mut command.http, at.command);
    listen(&mut query.http, at.query);
    listen(&mut projector.http, at.projector);
    listen(&mut notifier.http, at.notifier);

    // One shutdown bound for the whole process: the gateway drains first (three fifths of it), then the
    // services behind it drain and stop their workers in the rest; the watchdog enforces the total.
    let total = gateway.http.shutdown_timeout_ms;
    gateway.http.shutdown_timeout_ms = total * 3 / 5;
    for http in [
        &mut command.http,
        &mut query.http,
        &mut projector.http,
        &mut notifier.http,
    ] {
        http.shutdown_timeout_ms = total - total * 3 / 5;
    }
    // One pool serves all five services: 30 connections unless APP_DATABASE__MAX_CONNECTIONS says how
    // many (tests beside each other on one server keep it small).
    let database = &command.database;
    let max_connections = if env_var("APP_DATABASE__MAX_CONNECTIONS").is_some() {
        database.max_connections
    } else {
        30
    };
    let pool = crate::tools::migrated_pool(database, max_connections).await?;

    // One key pair: the gateway signs, every API verifies with the public half.
    let private = gateway::keys::private_key(&gateway)?;
    let public = infra::auth::public_key_of(&private)?;
    gateway.auth.private_key_pem = Some(private.into());
    command.auth.public_key_pem = Some(public.clone());
    query.auth.public_key_pem = Some(public.clone());
    notifier.auth.public_key_pem = Some(public);
    gateway.upstreams.command_api = format!("http://{}", at.command);
    gateway.upstreams.query_api = format!("http://{}", at.query);
    gateway.upstreams.notifier = format!("http://{}", at.notifier);
    gateway.upstreams.projector = format!("http://{}", at.projector);
    if env_var("SMTP_URL").is_none() {
        let at = env_var("AIRLINE_SMTP_SINK_ADDR").unwrap_or_else(|| "127.0.0.1:2525".to_owned());
        let sink = notifier::sink::SmtpSink::start(&at)
            .await
            .with_context(|| {
                format!(
                    "starting the built-in SMTP sink on {at} (set SMTP_URL to use a real server)"
                )
            })?;
        notifier.smtp.url = sink.url();
        tracing::info!(url = %sink.url(), "no SMTP_URL: mail goes to the built-in sink and is logged");
    }
    if args.seed_demo {
        crate::seed::seed(&pool, 30).await?;
    }

    let gateway_app = gateway::startup::Application::build_with(gateway, pool.clone()).await?;
    let command_app = command_api::startup::Application::build_with(command, pool.clone()).await?;
    let query_app = query_api::startup::Application::build_with(query, pool.clone()).await?;
    let projector_app =
        projector::startup::Application::build_with(projector, pool.clone()).await?;
    let notifier_app = notifier::startup::Application::build_with(notifier, pool).await?;

    // On SIGTERM the gateway drains first, while the services behind it still answer (so none of its
    // requests in flight meets a closed upstream), then the rest stop; the watchdog bounds it all.
    let bound = std::time::Duration::from_millis(total);
    let (tx, rx) = watch::channel(false);
    let (upstreams_tx, upstreams_rx) = watch::channel(false);
    tokio::spawn(async move {
        infra::shutdown::shutdown_signal_within(bound).await;
        let _ = tx.send(true);
    });
    tracing::info!(
        gateway = %format!("http://{}", at.gateway),
        docs = %format!("http://{}/docs/", at.gateway),
        "airline is up"
    );
    let gateway_run = async move {
        let result = gateway_app.run_until(stopped(&rx)).await;
        let _ = upstreams_tx.send(true);
        result
    };
    tokio::try_join!(
        gateway_run,
        command_app.run_until(stopped(&upstreams_rx)),
        query_app.run_until(stopped(&upstreams_rx)),
        projector_app.run_until(stopped(&upstreams_rx)),
        notifier_app.run_until(stopped(&upstreams_rx)),
    )?;
    tracing::info!("airline stopped");
    Ok(())
}

struct Addresses {
    gateway: SocketAddr,
    command: SocketAddr,
    query: SocketAddr,
    projector: SocketAddr,
    notifier: SocketAddr,
}
