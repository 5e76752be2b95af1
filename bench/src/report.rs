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

/// Prints the table to stdout.
pub fn print(rows: &[Row]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "\n| scenario | clients | ok | ops/s | p50 ms | p95 ms | p99 ms | errors | note |\n|---|---:|---:|---:|---:|---:|---:|---|---|"
    )?;
    for r in rows {
        let errors = if r.errors.is_empty() {
            "0".to_owned()
        } else {
            r.errors
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        writeln!(
            out,
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
        )?;
    }
    Ok(())
}

/// A fresh latency histogram (1 µs to 60 s, 3 significant digits).
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("constant, valid histogram bounds")
}
