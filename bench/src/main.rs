//! The benchmark harness: starts an isolated system (its own database, Redis prefix and exchange), drives
//! it over HTTP with many concurrent clients, and prints one table. After the write scenarios it checks
//! from the event log that no seat was held or sold twice; a violation fails the run.

mod baseline;
mod feed;
mod journeys;
mod log;
mod mail;
mod process;
mod report;
mod scenarios;
mod search;
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
    /// Also search against query APIs reading from a local streaming replica (`scripts/bench --replica`
    /// starts it with `scripts/replica`).
    #[arg(long)]
    pub replica: bool,
    /// Only these scenarios (comma-separated: rss,several,hot,spread,search,feed,mail,rebuild,relay); spread
    /// includes write → visible under its load.
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
    let mut rows: Vec<report::Row> = Vec::new();
    let mut shown = 0;
    let mut show = |rows: &[report::Row]| {
        report::progress(&rows[shown..]);
        shown = rows.len();
    };
    if options.wants("rss") {
        rows.extend(process::rss(&options).await?);
    }
    if options.wants("several") {
        rows.extend(process::several(&options).await?);
    }
    let replica_port = if options.replica {
        Some(
            std::env::var("BENCH_REPLICA_PORT")
                .ok()
                .and_then(|p| p.parse().ok())
                .ok_or_else(|| {
                    anyhow::anyhow!("--replica needs the replica scripts/bench --replica starts")
                })?,
        )
    } else {
        None
    };
    show(&rows);
    let system = system::System::start(replica_port).await?;
    let mut seen = Vec::new();
    if options.wants("hot") {
        let (mut row, flights) = scenarios::hot_flight(&system, &options).await?;
        row.note = system.catch_up().await?.to_string();
        seen.push(verify::Seen {
            scenario: "hot flight".to_owned(),
            flights,
            booked: row.ok,
        });
        let (mut baseline, flights) = baseline::hot_flight(&system, &options).await?;
        baseline.note = format!("{}; {}", baseline.note, system.catch_up().await?);
        seen.push(verify::Seen {
            scenario: "baseline".to_owned(),
            flights,
            booked: baseline.ok,
        });
        let times = row.rate() / baseline.rate().max(1e-9);
        row.note = format!("{:.1}x the fair baseline; {}", times, row.note);
        rows.push(row);
        rows.push(baseline);
    }
    show(&rows);
    if options.wants("spread") {
        let (mut row, visible, flights, probes, probed) =
            scenarios::spread(&system, &options).await?;
        row.note = format!("{}; {}", row.note, system.catch_up().await?);
        seen.push(verify::Seen {
            scenario: "spread".to_owned(),
            flights,
            booked: row.ok,
        });
        seen.push(verify::Seen {
            scenario: "visibility probe".to_owned(),
            flights: probes,
            booked: probed,
        });
        rows.push(row);
        rows.push(visible);
    }
    show(&rows);
    if options.wants("journeys") {
        let (journeys, singles, flights) = journeys::contended(&system, &options).await?;
        let (booked_journeys, booked_singles) = (journeys.ok, singles.ok);
        seen.push(verify::Seen {
            scenario: "journeys".to_owned(),
            flights,
            booked: booked_journeys * 2 + booked_singles,
        });
        rows.push(journeys);
        rows.push(singles);
    }
    show(&rows);
    if !seen.is_empty() {
        let ledger = verify::ledger(&system.pool, &seen).await?;
        if let Some(last) = rows.last_mut() {
            last.note = format!("{}; {ledger}", last.note);
        }
    }
    show(&rows);
    if options.wants("search") {
        rows.extend(search::search(&system, &options).await?);
    }
    show(&rows);
    if options.wants("feed") {
        rows.push(feed::feed(&system, options.feed_clients).await?);
    }
    show(&rows);
    if options.wants("mail") {
        rows.push(mail::mail(&system, options.mails).await?);
    }
    show(&rows);
    if options.wants("rebuild") || options.wants("relay") {
        system.stop_workers().await;
        log::generate(&system, options.log_events).await?;
    }
    if options.wants("rebuild") {
        rows.push(log::rebuild(&system).await?);
    }
    show(&rows);
    if options.wants("relay") {
        rows.push(log::relay(&system).await?);
    }
    show(&rows);
    system.stop_workers().await;
    report::print(&rows)?;
    Ok(())
}
