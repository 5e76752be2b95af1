//! In production every service refuses to start with the development key pair or with default
//! credentials, and the command API with the test payment provider, before it connects to anything;
//! with a deployment's own key, credentials and payment provider it starts.
#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors; that is the point of a test.

use std::path::Path;
use std::time::Duration;

const SERVICES: [&str; 5] = [
    "gateway",
    "command-api",
    "query-api",
    "projector",
    "notifier",
];

/// The refusals also hold for everything in one process (it would bind fixed ports if it started, so it
/// is only run where it must refuse).
const REFUSING: [&str; 6] = [
    "gateway",
    "command-api",
    "query-api",
    "projector",
    "notifier",
    "all",
];

/// Runs `airline <service>` with `env` for at most a few seconds; its exit (None: still running, so
/// killed) and what it wrote.
async fn run(service: &str, env: &[(&str, String)]) -> (Option<i32>, String) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_airline"));
    command
        .arg(service)
        .env("APP_ENVIRONMENT", "production")
        .env("APP_HTTP__PORT", "0")
        .env("LOG_FORMAT", "json")
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().unwrap();
    let exited = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
    let code = match exited {
        Ok(status) => Some(status.unwrap().code().unwrap_or(-1)),
        Err(_) => {
            child.kill().await.unwrap();
            None
        }
    };
    let output = child.wait_with_output().await.unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (code, text)
}

fn keys_env(dir: &Path, db: &str, amqp: &str) -> Vec<(&'static str, String)> {
    vec![
        ("APP_AUTH__DEV_KEY_DIR", dir.display().to_string()),
        (
            "APP_AUTH__PRIVATE_KEY_FILE",
            dir.join("jwt-private.pem").display().to_string(),
        ),
        (
            "APP_AUTH__PUBLIC_KEY_FILE",
            dir.join("jwt-public.pem").display().to_string(),
        ),
        ("DATABASE_URL", db.to_owned()),
        ("AMQP_URL", amqp.to_owned()),
        ("REDIS_URL", "redis://127.0.0.1:1".to_owned()),
        ("APP_PAYMENTS__PROVIDER", "stripe".to_owned()),
        (
            "APP_PAYMENTS__STRIPE_API_KEY",
            "sk_test_not_a_real_key".to_owned(),
        ),
        (
            "APP_PAYMENTS__STRIPE_BASE_URL",
            "https://127.0.0.1:1".to_owned(),
        ),
    ]
}

// Nothing listens on port 1: a service that gets past the checks fails to connect (or waits), later.
const GOOD_DB: &str = "postgres://airline:Long-Random-Secret-1@127.0.0.1:1/airline";
const GOOD_AMQP: &str = "amqp://airline:Long-Random-Secret-2@127.0.0.1:1/%2f";

#[tokio::test]
async fn every_service_refuses_the_development_key_pair_in_production() {
    let dir = std::env::temp_dir().join(format!("airline-dev-keys-{}", uuid::Uuid::new_v4()));
    gateway::keys::ensure_dev_keys(&dir).unwrap();
    for service in REFUSING {
        let (code, text) = run(service, &keys_env(&dir, GOOD_DB, GOOD_AMQP)).await;
        if service == "projector" {
            // It holds no token key; its URLs are fine, so it gets past the checks.
            assert!(!text.contains("refuses to start"), "{service}: {text}");
            continue;
        }
        assert!(code.is_some_and(|c| c != 0), "{service} started: {text}");
        assert!(
            text.contains("refuses to start in production"),
            "{service}: {text}"
        );
        assert!(text.contains("development key"), "{service}: {text}");
    }
    // The same key copied out of the marked directory is still recognised by its content.
    let copy = std::env::temp_dir().join(format!("airline-copied-keys-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&copy).unwrap();
    for f in ["jwt-private.pem", "jwt-public.pem"] {
        std::fs::copy(dir.join(f), copy.join(f)).unwrap();
    }
    let mut env = keys_env(&copy, GOOD_DB, GOOD_AMQP);
    env[0].1 = dir.display().to_string();
    let (code, text) = run("query-api", &env).await;
    assert!(code.is_some_and(|c| c != 0), "{text}");
    assert!(text.contains("development key"), "{text}");
    std::fs::remove_dir_all(dir).unwrap();
    std::fs::remove_dir_all(copy).unwrap();
}

#[tokio::test]
async fn every_service_refuses_default_credentials_in_production_and_takes_its_own() {
    let dir = std::env::temp_dir().join(format!("airline-keys-{}", uuid::Uuid::new_v4()));
    gateway::keys::make_pair(&dir, None).unwrap();
    let defaults = keys_env(
        &dir,
        "postgres://postgres:postgres@127.0.0.1:1/airline",
        "amqp://guest:guest@127.0.0.1:1/%2f",
    );
    for service in REFUSING {
        let (code, text) = run(service, &defaults).await;
        assert!(code.is_some_and(|c| c != 0), "{service} started: {text}");
        assert!(
            text.contains("refuses to start in production"),
            "{service}: {text}"
        );
        assert!(text.contains("default credentials"), "{service}: {text}");
    }
    // A deployment's own pair (from `airline keys`) and credentials pass the checks.
    for service in SERVICES {
        let (_, text) = run(service, &keys_env(&dir, GOOD_DB, GOOD_AMQP)).await;
        assert!(!text.contains("refuses to start"), "{service}: {text}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn the_command_api_refuses_the_test_payment_provider_in_production() {
    let dir = std::env::temp_dir().join(format!("airline-keys-{}", uuid::Uuid::new_v4()));
    gateway::keys::make_pair(&dir, None).unwrap();
    let mut test_cards = keys_env(&dir, GOOD_DB, GOOD_AMQP);
    test_cards.retain(|(k, _)| !k.starts_with("APP_PAYMENTS__"));
    for service in ["command-api", "all"] {
        let (code, text) = run(service, &test_cards).await;
        assert!(code.is_some_and(|c| c != 0), "{service} started: {text}");
        assert!(
            text.contains("refuses to start in production")
                && text.contains("test one, which moves no money"),
            "{service}: {text}"
        );
    }
    // Stripe without its key is refused too, by saying what is missing.
    let mut keyless = keys_env(&dir, GOOD_DB, GOOD_AMQP);
    keyless.retain(|(k, _)| *k != "APP_PAYMENTS__STRIPE_API_KEY");
    let (code, text) = run("command-api", &keyless).await;
    assert!(code.is_some_and(|c| c != 0), "started: {text}");
    assert!(
        text.contains("APP_PAYMENTS__STRIPE_API_KEY is required"),
        "{text}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
