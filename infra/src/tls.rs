//! The process's one TLS crypto provider, and the client configuration every outgoing HTTPS call uses.
//!
//! The crypto provider: rustls with ring, the only one this workspace builds (sqlx,
//! lapin, lettre and reqwest all use rustls; reqwest is built without a provider of its own). Installed
//! once, early, by every binary (through [`crate::telemetry::init`]) and every test harness; installing
//! it again does nothing.

/// Makes ring the process's rustls provider, if none is yet.
pub fn install() {
    // An `Err` means a provider is already installed: the same one, as nothing else installs any.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// TLS 1.2 and 1.3 by rustls with ring, trusting the system's roots as `rustls-native-certs` finds them
/// (`SSL_CERT_FILE` and `SSL_CERT_DIR` first, then the platform's store) and those of `extra_roots`. A
/// system root that cannot be read is logged and skipped; with none at all every HTTPS call fails, and
/// that is said at start. `purpose` names the calls in the logs (`webhook`, `payment`).
///
/// # Errors
/// `extra_roots` unreadable or not PEM certificates.
pub fn client_config(
    extra_roots: Option<&std::path::Path>,
    purpose: &str,
) -> anyhow::Result<rustls::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::warn!(error.message = %error, "a system root certificate could not be read");
    }
    let mut certs = found.certs;
    if let Some(path) = extra_roots {
        let extra = CertificateDer::pem_file_iter(path)
            .and_then(|all| all.collect::<Result<Vec<_>, _>>())
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        anyhow::ensure!(!extra.is_empty(), "{} holds no certificate", path.display());
        certs.extend(extra);
    }
    let mut roots = rustls::RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        tracing::error!(
            purpose,
            "no root certificates: every https:// {purpose} call will be refused"
        );
    }
    tracing::info!(purpose, roots = added, ignored, "TLS roots loaded");
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
