//! Tracing setup: `RUST_LOG` filters, JSON lines when `LOG_FORMAT=json` (compose, production), pretty
//! lines otherwise.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::settings::env_var;

/// Installs the global subscriber once; later calls do nothing (tests call it many times).
pub fn init(service: &str, default_filter: &str) {
    crate::tls::install();
    // lapin logs every message the broker returns, payload and all, at WARN; the relay logs one line per
    // batch of returned events instead.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!("{default_filter},lapin::returned_messages=error"))
    });
    let json = env_var("LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(FmtSpan::NONE)
        .with_writer(std::io::stderr);
    let result = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
    if result.is_ok() {
        tracing::debug!(service, "telemetry initialised");
    }
}
