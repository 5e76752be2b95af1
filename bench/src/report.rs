//! One row per scenario, printed as a table.

use std::collections::BTreeMap;
use std::io::Write;

use hdrhistogram::Histogram;

/// A scenario's result.
#[derive(Debug, Clone)]
pub struct Row {
    /// Scenario name.
    pub scenario: String,
    /// Concurrent clients.
    pub clients: usize,
    /// Operations completed successfully.
    pub ok: u64,
    /// Wall time.
    pub seconds: f64,
    /// Latency of successful operations, microseconds.
    pub latency: Option<Histogram<u64>>,
    /// Failures by HTTP status (or a name).
    pub errors: BTreeMap<String, u64>,
    /// A remark (ratios, targets).
    pub note: String,
}

impl Row {
    /// Operations per second.
    pub fn rate(&self) -> f64 {
        self.ok as f64 / self.seconds.max(1e-9)
    }
}

fn ms(h: Option<&Histogram<u64>>, q: f64) -> String {
    h.filter(|h| !h.is_empty()).map_or_else(
        || "-".to_owned(),
        |h| format!("{:.1}", h.value_at_quantile(q) as f64 / 1000.0),
    )
}

fn run(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Where the figures come from: the commit (and whether the tree had changes), the command, the machine.
pub fn provenance() -> String {
    let commit = run("git", &["rev-parse", "--short", "HEAD"]);
    let dirty = if run("git", &["status", "--porcelain", "--untracked-files=no"]).is_empty() {
        ""
    } else {
        " with uncommitted changes"
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or_else(
            || "?".to_owned(),
            |kb| format!("{:.0} GiB", kb as f64 / 1048576.0),
        );
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    format!(
        "commit `{commit}`{dirty}; command `scripts/bench {}`; machine: {cores} CPUs ({cpu}), {memory}, {}; Postgres, Redis, RabbitMQ and the harness on the same machine; {}",
        args.join(" "),
        run("uname", &["-sr"]),
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    )
}

/// One row as a Markdown table line.
pub fn line(r: &Row) -> String {
    let errors = if r.errors.is_empty() {
        "0".to_owned()
    } else {
        r.errors
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "| {} | {} | {} | {:.0} | {} | {} | {} | {} | {} |",
        r.scenario,
        r.clients,
        r.ok,
        r.rate(),
        ms(r.latency.as_ref(), 0.50),
        ms(r.latency.as_ref(), 0.95),
        ms(r.latency.as_ref(), 0.99),
        errors,
        r.note
    )
}

/// Prints rows to stderr as they come (so a run that fails later still shows them).
pub fn progress(rows: &[Row]) {
    for r in rows {
        eprintln!("bench: {}", line(r));
    }
}

/// Prints the table to stdout, under where it comes from.
pub fn print(rows: &[Row]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "\n{}", provenance())?;
    writeln!(
        out,
        "\n| scenario | clients | ok | ops/s | p50 ms | p95 ms | p99 ms | errors | note |\n|---|---:|---:|---:|---:|---:|---:|---|---|"
    )?;
    for r in rows {
        writeln!(out, "{}", line(r))?;
    }
    Ok(())
}

/// A fresh latency histogram (1 µs to 60 s, 3 significant digits).
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("constant, valid histogram bounds")
}
