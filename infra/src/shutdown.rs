//! The future that resolves when the process is asked to stop (Ctrl-C or SIGTERM), and the watchdog
//! that makes the process exit within its bound after that, whatever clients or dependencies do.

use std::time::Duration;

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error.message = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error.message = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown requested");
}

/// Resolves on SIGINT or SIGTERM like [`shutdown_signal`], and starts a watchdog: if the process is
/// still running `bound` (plus a second for the last logs) later, it exits with status 1.
#[allow(clippy::exit)] // The watchdog's one job: the bound holds whatever is stuck.
pub async fn shutdown_signal_within(bound: Duration) {
    shutdown_signal().await;
    std::thread::spawn(move || {
        std::thread::sleep(bound + Duration::from_secs(1));
        tracing::error!(
            bound_ms = bound.as_millis() as u64,
            "shutdown did not finish within its bound; exiting"
        );
        std::process::exit(1);
    });
}
