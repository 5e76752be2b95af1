//! The command line.

use clap::{Args, Parser, Subcommand};

const ENVIRONMENT: &str = "\
Environment (every variable has a working local default):
  DATABASE_URL   Postgres            postgres://postgres:postgres@127.0.0.1:5432/airline
  REDIS_URL      Redis               redis://127.0.0.1:6379
  AMQP_URL       RabbitMQ            amqp://guest:guest@127.0.0.1:5672/%2f
  SMTP_URL       outgoing mail       (unset for `all`: a built-in sink on AIRLINE_SMTP_SINK_ADDR,
                                      default 127.0.0.1:2525, logs each mail)
  AIRLINE_GATEWAY_ADDR, AIRLINE_COMMAND_API_ADDR, AIRLINE_QUERY_API_ADDR,
  AIRLINE_PROJECTOR_ADDR, AIRLINE_NOTIFIER_ADDR   where `all` listens (127.0.0.1:8080 to 8084)
  APP_<SECTION>__<KEY>  any other setting, e.g. APP_BOOKING__HOLD_MINUTES=30, APP_ENVIRONMENT=production
  RUST_LOG, LOG_FORMAT=json   logging";

/// The airline booking backend.
#[derive(Debug, Parser)]
#[command(name = "airline", version, about, after_help = ENVIRONMENT)]
pub struct Cli {
    /// What to run (default: `all`).
    #[command(subcommand)]
    pub command: Option<Action>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Action {
    /// Every service in one process (migrating first): gateway, command API, query API, projector, notifier.
    #[command(after_help = ENVIRONMENT)]
    All(AllArgs),
    /// The public gateway only (accounts, tokens, rate limits, routing). Reads APP_HTTP__PORT (8080).
    Gateway,
    /// The command API only (migrates at start). Reads APP_HTTP__PORT (8081).
    CommandApi,
    /// The query API only. Reads APP_HTTP__PORT (8082).
    QueryApi,
    /// The projector and the relay only. Reads APP_HTTP__PORT (8083).
    Projector,
    /// The notifier only. Reads APP_HTTP__PORT (8084), SMTP_URL.
    Notifier,
    /// Applies the database migrations. Reads DATABASE_URL.
    Migrate,
    /// Account administration.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Loads demo data (airports, aircraft, about 1,000 flights, an admin, a customer, some bookings).
    /// Safe to run again. Reads DATABASE_URL.
    SeedDemo(SeedArgs),
    /// Rebuilds a read model from the start of the event log while reads go on. Reads DATABASE_URL,
    /// REDIS_URL.
    Replay(ReplayArgs),
    /// Lists or requeues the notifier's dead letters. Reads AMQP_URL.
    DeadLetters(DeadLetterArgs),
    /// Runs only the built-in SMTP sink, logging every message it receives.
    SmtpSink(SinkArgs),
    /// Checks the consistency invariants with SQL straight over the event log and the payments ledger
    /// (seats vs bookings, payments captured or voided, refunds per fare rules, money per flight); prints
    /// a report and exits non-zero on any violation. Reads DATABASE_URL.
    Verify(VerifyArgs),
    /// Creates a development token key pair in a directory (if missing) for separately run services.
    Keys(KeysArgs),
}

/// `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Payment steps younger than this many seconds are reported as pending, not as violations (a live
    /// system has some in flight; payment recovery finishes stragglers after 30 s). 0 counts everything.
    #[arg(long, default_value_t = 60)]
    pub grace_secs: u64,
}

/// `keys`.
#[derive(Debug, Args)]
pub struct KeysArgs {
    /// Where `jwt-private.pem` and `jwt-public.pem` go (an existing pair there is kept).
    #[arg(long)]
    pub dir: std::path::PathBuf,
    /// Also copy `jwt-public.pem` here, for the services that only verify tokens.
    #[arg(long)]
    pub public_dir: Option<std::path::PathBuf>,
}

/// `all`.
#[derive(Debug, Default, Args)]
pub struct AllArgs {
    /// Load the demo data first.
    #[arg(long)]
    pub seed_demo: bool,
}

/// `admin ...`.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Creates an admin account (or makes an existing account admin). Reads DATABASE_URL.
    Create(AdminArgs),
}

/// `admin create`.
#[derive(Debug, Args)]
pub struct AdminArgs {
    /// Email.
    #[arg(long)]
    pub email: String,
    /// Password (12+ characters, three kinds of characters).
    #[arg(long, env = "AIRLINE_ADMIN_PASSWORD", hide_env_values = true)]
    pub password: String,
}

/// `seed-demo`.
#[derive(Debug, Args)]
pub struct SeedArgs {
    /// Days of flights from today.
    #[arg(long, default_value_t = 30)]
    pub days: u32,
}

/// `replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// `flights`, `bookings` or `analytics`.
    pub subscription: String,
}

/// `dead-letters`.
#[derive(Debug, Args)]
pub struct DeadLetterArgs {
    /// `list` or `requeue`.
    pub action: String,
    /// `email` or `webhooks`.
    pub consumer: String,
}

/// `smtp-sink`.
#[derive(Debug, Args)]
pub struct SinkArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:2525")]
    pub addr: String,
}
