//! The token key pair: configured explicitly, or (development only) generated once and kept in a
//! directory outside the repository, so restarts and the other services agree on it.

use std::path::Path;

use anyhow::{Context, bail};
use secrecy::ExposeSecret;

use crate::config::Settings;

/// File names inside the development key directory.
pub const PRIVATE_FILE: &str = "jwt-private.pem";
/// The public half, which the APIs read.
pub const PUBLIC_FILE: &str = "jwt-public.pem";

/// The private key PEM to sign with. In production it must be configured; generated development keys
/// are refused there.
///
/// # Errors
/// Production without a configured key; unreadable files.
pub fn private_key(settings: &Settings) -> anyhow::Result<String> {
    let auth = &settings.auth;
    if let Some(pem) = &auth.private_key_pem {
        return Ok(pem.expose_secret().to_owned());
    }
    if let Some(path) = &auth.private_key_file {
        return std::fs::read_to_string(path).with_context(|| format!("reading {path}"));
    }
    if settings.is_production() {
        bail!(
            "production mode needs APP_AUTH__PRIVATE_KEY_PEM or APP_AUTH__PRIVATE_KEY_FILE (`airline keys --dir` makes a pair); development keys are refused"
        );
    }
    let (private, _) = ensure_dev_keys(&auth.dev_key_dir())?;
    Ok(private)
}

/// Reads the development key pair from `dir`, generating it on first use. Returns (private, public).
///
/// # Errors
/// When the directory cannot be written or read.
pub fn ensure_dev_keys(dir: &Path) -> anyhow::Result<(String, String)> {
    let private_path = dir.join(PRIVATE_FILE);
    let public_path = dir.join(PUBLIC_FILE);
    if !private_path.exists() || !public_path.exists() {
        write_pair(dir)?;
        tracing::warn!(dir = %dir.display(), "generated a development token key pair; never use it in production");
    }
    // Marked (also a pair generated before markers existed), so a production deployment recognises and
    // refuses these keys.
    let marker = dir.join(infra::production::DEVELOPMENT_MARKER);
    if !marker.exists() {
        std::fs::write(&marker, "").with_context(|| format!("marking {}", dir.display()))?;
    }
    let private = std::fs::read_to_string(&private_path)
        .with_context(|| format!("reading {}", private_path.display()))?;
    let public = std::fs::read_to_string(&public_path)
        .with_context(|| format!("reading {}", public_path.display()))?;
    Ok((private, public))
}

/// Writes a new key pair into `dir` (`jwt-private.pem` readable by the owner only, `jwt-public.pem`).
///
/// # Errors
/// When the directory cannot be written.
pub fn write_pair(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (private, public) = infra::auth::generate_key_pair()?;
    write_private(&dir.join(PRIVATE_FILE), &private)?;
    let public_path = dir.join(PUBLIC_FILE);
    std::fs::write(&public_path, &public)
        .with_context(|| format!("writing {}", public_path.display()))?;
    Ok(())
}

/// `airline keys`: a key pair for a deployment in `dir` (kept if one is there already), and its public
/// half copied into `public_dir` for the services that only verify.
///
/// # Errors
/// When a directory cannot be written or an existing key read.
pub fn make_pair(dir: &Path, public_dir: Option<&Path>) -> anyhow::Result<()> {
    let public_path = dir.join(PUBLIC_FILE);
    if !dir.join(PRIVATE_FILE).exists() || !public_path.exists() {
        write_pair(dir)?;
    }
    if let Some(public_dir) = public_dir {
        std::fs::create_dir_all(public_dir)
            .with_context(|| format!("creating {}", public_dir.display()))?;
        let public = std::fs::read_to_string(&public_path)
            .with_context(|| format!("reading {}", public_path.display()))?;
        std::fs::write(public_dir.join(PUBLIC_FILE), public)
            .with_context(|| format!("writing into {}", public_dir.display()))?;
    }
    Ok(())
}

#[cfg(unix)]
fn write_private(path: &Path, pem: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(pem.as_bytes())?;
    Ok(())
}

#[cfg(not(unix))]
fn write_private(path: &Path, pem: &str) -> anyhow::Result<()> {
    std::fs::write(path, pem).with_context(|| format!("writing {}", path.display()))
}
