//! What a production deployment refuses to start with: well-known default credentials (`postgres`,
//! `guest:guest`) in its connection URLs, and a development token key: a key file in a directory
//! marked as holding generated development keys, or a key equal to one of those. `APP_ENVIRONMENT=production`
//! turns the checks on; every service runs them before it connects to anything.

use std::path::Path;

/// The marker file a directory of generated development keys carries.
pub const DEVELOPMENT_MARKER: &str = ".development-keys";

/// Whether this process runs as production (`APP_ENVIRONMENT=production`).
pub fn is_production() -> bool {
    crate::settings::env_var("APP_ENVIRONMENT")
        .is_some_and(|e| e.eq_ignore_ascii_case("production"))
}

/// A token key as a service is configured with it.
#[derive(Debug, Clone, Copy)]
pub enum Key<'a> {
    /// Inline PEM.
    Pem(&'a str),
    /// A file.
    File(&'a str),
}

/// What is wrong with a production configuration, one line per finding; empty when nothing is.
pub fn findings(urls: &[(&str, &str)], keys: &[Key<'_>], dev_dirs: &[&Path]) -> Vec<String> {
    let mut found = Vec::new();
    for (name, raw) in urls {
        if let Ok(url) = url::Url::parse(raw) {
            let (user, password) = (url.username(), url.password().unwrap_or_default());
            let default = matches!(
                (user, password),
                ("postgres", "postgres" | "" | "password") | ("guest", "guest") | (_, "password")
            );
            if default {
                found.push(format!(
                    "{name} carries the well-known default credentials of user `{user}`"
                ));
            }
        }
    }
    let dev_keys: Vec<String> = dev_dirs
        .iter()
        .filter(|d| d.join(DEVELOPMENT_MARKER).exists())
        .flat_map(|d| {
            ["jwt-private.pem", "jwt-public.pem"]
                .into_iter()
                .filter_map(|f| std::fs::read_to_string(d.join(f)).ok())
        })
        .map(|pem| pem.trim().to_owned())
        .collect();
    for key in keys {
        let (marked, pem) = match key {
            Key::Pem(pem) => (false, Some((*pem).to_owned())),
            Key::File(path) => {
                let marked = Path::new(path)
                    .parent()
                    .is_some_and(|d| d.join(DEVELOPMENT_MARKER).exists());
                (marked, std::fs::read_to_string(path).ok())
            }
        };
        let same = pem.is_some_and(|p| dev_keys.contains(&p.trim().to_owned()));
        if marked || same {
            found.push("the token key is a generated development key".to_owned());
        }
    }
    found
}

/// In production, refuses what [`findings`] finds, and the service's own `more` findings.
///
/// # Errors
/// The findings, all of them, when running as production.
pub fn refuse_development_defaults(
    service: &str,
    urls: &[(&str, &str)],
    keys: &[Key<'_>],
    (dev_dirs, more): (&[&Path], Vec<String>),
) -> anyhow::Result<()> {
    if !is_production() {
        return Ok(());
    }
    let mut found = findings(urls, keys, dev_dirs);
    found.extend(more);
    if found.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "{service} refuses to start in production: {}",
        found.join("; ")
    )
}

/// The token key a verifying service is configured with.
pub fn verifying_key(auth: &crate::settings::TokenSettings) -> Vec<Key<'_>> {
    match (&auth.public_key_pem, &auth.public_key_file) {
        (Some(pem), _) => vec![Key::Pem(pem)],
        (None, Some(file)) => vec![Key::File(file)],
        (None, None) => Vec::new(),
    }
}

/// Where development keys are generated unless `APP_AUTH__DEV_KEY_DIR` says otherwise:
/// `~/.local/share/airline`.
pub fn dev_key_dir() -> std::path::PathBuf {
    if let Some(dir) = crate::settings::env_var("APP_AUTH__DEV_KEY_DIR") {
        return dir.into();
    }
    let home = crate::settings::env_var("HOME").unwrap_or_else(|| ".".to_owned());
    Path::new(&home).join(".local/share/airline")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_credentials_and_development_keys_are_found() {
        let found = findings(
            &[
                ("DATABASE_URL", "postgres://postgres:postgres@db/airline"),
                ("AMQP_URL", "amqp://guest:guest@mq:5672/%2f"),
                ("REDIS_URL", "redis://cache:6379"),
            ],
            &[],
            &[],
        );
        assert_eq!(found.len(), 2, "{found:?}");
        let ok = findings(
            &[("DATABASE_URL", "postgres://airline:s3cr3t-Long@db/airline")],
            &[],
            &[],
        );
        assert!(ok.is_empty(), "{ok:?}");

        let dir = std::env::temp_dir().join(format!("keys-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("jwt-public.pem"), "PUBLIC\n").unwrap();
        let file = dir.join("jwt-public.pem").display().to_string();
        assert!(
            findings(&[], &[Key::File(&file)], &[&dir]).is_empty(),
            "unmarked"
        );
        std::fs::write(dir.join(DEVELOPMENT_MARKER), "").unwrap();
        assert_eq!(findings(&[], &[Key::File(&file)], &[&dir]).len(), 1);
        assert_eq!(findings(&[], &[Key::Pem("PUBLIC")], &[&dir]).len(), 1);
        assert!(findings(&[], &[Key::Pem("OTHER")], &[&dir]).is_empty());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
