//! HTTPS webhooks: the notifier checks every receiver's certificate against its roots (the system's, and
//! here a test CA added by `APP_WEBHOOKS__CA_FILE`, as an operator would add one) and the destination's
//! name. A
//! receiver with a trusted certificate for its address gets the signed delivery; one whose certificate
//! comes from an unknown CA, or names another host, never sees a request, and the delivery records why.
#![allow(clippy::unwrap_used)] // Tests fail loudly on unexpected errors; that is the point of a test.

#[path = "api/helpers.rs"]
#[allow(dead_code)] // The API tests' helpers, of which this test uses a part.
mod helpers;

use std::time::Duration;

use testkit::tls::TestCa;

use crate::helpers::{Receiver, spawn_app};

/// The delivery's attempts and last error, once it has been tried.
async fn tried(app: &helpers::TestApp, webhook: uuid::Uuid) -> (i32, String, String) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let row: Option<(i32, Option<String>, String)> = sqlx::query_as(
            "SELECT attempts, last_error, status FROM webhook_deliveries WHERE webhook_id = $1",
        )
        .bind(webhook)
        .fetch_optional(&app.db.pool)
        .await
        .unwrap();
        if let Some((attempts, Some(error), status)) = row
            && attempts > 0
        {
            return (attempts, error, status);
        }
        assert!(tokio::time::Instant::now() < deadline, "never tried");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_webhooks_reach_only_certificates_trusted_for_their_name() {
    let trusted = TestCa::new("Airline test CA");
    let stranger = TestCa::new("Someone else's CA");
    {
        let mut app = spawn_app().await;
        app.stop_notifier();
        app.settings.webhooks.ca_file = Some(trusted.pem_file());
        app.start_notifier().await;
        let good = Receiver::start_tls("127.0.0.1", trusted.server("127.0.0.1")).await;
        let unknown = Receiver::start_tls("127.0.0.1", stranger.server("127.0.0.1")).await;
        let misnamed = Receiver::start_tls("127.0.0.1", trusted.server("hooks.example.com")).await;
        let mut hooks = Vec::new();
        for receiver in [&good, &unknown, &misnamed] {
            let (id, secret) = app
                .create_webhook(&receiver.url, &["booking.BookingPlaced"])
                .await;
            receiver.set_secret(&secret);
            hooks.push(id);
        }
        let flight = app.flight().await;
        app.book(flight, &["10A"], "tls@example.com").await;
        app.relay_all().await;

        let delivered = good.wait_for(1).await;
        assert_eq!(delivered.len(), 1, "the trusted receiver got nothing");
        assert_eq!(
            delivered[0]["event_type"], "BookingPlaced",
            "{}",
            delivered[0]
        );
        assert_eq!(
            good.bad_signatures
                .load(std::sync::atomic::Ordering::SeqCst),
            0
        );
        for (receiver, hook, why) in [
            (&unknown, hooks[1], "UnknownIssuer"),
            (&misnamed, hooks[2], "not valid for name"),
        ] {
            let (attempts, error, status) = tried(&app, hook).await;
            assert!(
                attempts >= 1 && status != "delivered",
                "{status} after {attempts}"
            );
            assert!(error.contains(why), "{error}");
            assert_eq!(
                receiver.calls.load(std::sync::atomic::Ordering::SeqCst),
                0,
                "a request reached a receiver whose certificate was refused"
            );
        }
    }
}
