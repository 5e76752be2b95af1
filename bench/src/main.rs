//! The benchmark harness: starts an isolated system (its own database, Redis prefix and exchange), drives
//! it over HTTP with many concurrent clients, and prints one table. After the write scenarios it checks
//! from the event log that no seat was held or sold twice; a violation fails the run.

mod baseline;
mod feed;
mod log;
mod mail;
mod report;
mod scenarios;
mod system;
mod verify;

use clap::Parser;

/// Benchmark options.
#[derive(Debug, Parser)]
#[command(
    name = "bench",
    about = "Load-test the airline backend and print a table"
)]
pub struct Options {
    /// Concurrent clients.
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// Fresh flights booked full in the hot-flight scenario.
    #[arg(long, default_value_t = 5)]
    pub hot_flights: usize,
    /// Flights in the spread scenario.
    #[arg(long, default_value_t = 1000)]
    pub flights: usize,
    /// Seconds per timed scenario (spread, search).
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Events generated for the rebuild and relay scenarios.
    #[arg(long, default_value_t = 1_000_000)]
    pub log_events: i64,
    /// Bookings placed and then mailed in the mail scenario.
    #[arg(long, default_value_t = 5_000)]
    pub mails: u64,
    /// Event-feed streams held open in the feed scenario.
    #[arg(long, default_value_t = 1000)]
    pub feed_clients: usize,
    /// Only these scenarios (comma-separated: hot,spread,search,visibility,feed,mail,rebuild,relay).
    #[arg(long)]
    pub only: Option<String>,
}

impl Options {
    fn wants(&self, scenario: &str) -> bool {
        self.only
            .as_deref()
            .is_none_or(|o| o.split(',').any(|s| s.trim() == scenario))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    infra::telemetry::init("bench", "warn");
    let options = Options::parse();
    let system = system::System::start().await?;
    let mut rows = Vec::new();
    if options.wants("hot") {
        rows.push(scenarios::hot_flight(&system, &options).await?);
        rows.push(baseline::naive_hot_flight(&system, &options).await?);
    }
    if options.wants("spread") {
        rows.push(scenarios::spread(&system, &options).await?);
    }
    if options.wants("hot") || options.wants("spread") {
        verify::no_double_booking(&system.pool).await?;
    }
    if options.wants("search") {
        rows.extend(scenarios::search(&system, &options).await?);
    }
    if options.wants("visibility") {
        rows.push(scenarios::visibility(&system).await?);
    }
    if options.wants("feed") {
        rows.push(feed::feed(&system, options.feed_clients).await?);
    }
    if options.wants("mail") {
        rows.push(mail::mail(&system, options.mails).await?);
    }
    if options.wants("rebuild") || options.wants("relay") {
        log::generate(&system, options.log_events).await?;
    }
    if options.wants("rebuild") {
        rows.push(log::rebuild(&system).await?);
    }
    if options.wants("relay") {
        rows.push(log::relay(&system).await?);
    }
    report::print(&rows)?;
    Ok(())
}
