//! The process's one TLS crypto provider: rustls with ring, the only one this workspace builds (sqlx,
//! lapin, lettre and reqwest all use rustls; reqwest is built without a provider of its own). Installed
//! once, early, by every binary (through [`crate::telemetry::init`]) and every test harness; installing
//! it again does nothing.

/// Makes ring the process's rustls provider, if none is yet.
pub fn install() {
    // An `Err` means a provider is already installed: the same one, as nothing else installs any.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
