//! Only the gateway's word counts behind it: the services accept only the token the gateway signs per
//! request after checking the session (its own audience, the client's current role). A client's token
//! sent straight to the command or query API is refused there, so a logged-out, demoted or disabled
//! account gets 401 or 403 on every port; and a stream opened there ends when the token that opened it
//! ends.

use std::time::Duration;

use infra::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{dead_upstream, generous, real_apis, spawn_gateway, upstreams};
use crate::revocation::{access, admin_account, call};

#[tokio::test]
async fn a_clients_own_token_is_refused_on_every_service_port_before_and_after_it_ends() {
    let dead = dead_upstream();
    let bare = spawn_gateway(upstreams(&dead, &dead, &dead), generous()).await;
    let (command, query) = real_apis(&bare.private_pem, &bare.db).await;
    let mut settings = bare.settings.clone();
    settings.upstreams = upstreams(&command, &query, &dead);
    let gw = crate::helpers::start(&settings, &bare.db).await;
    let app = bare;
    let pair = admin_account(&app, "ops@example.com").await;
    let token = access(&pair);
    let airport = |code: &str| json!({"code": code, "name": code, "city": "Paris", "country": "FR", "time_zone": "Europe/Paris"});

    // Through the gateway it is an admin's token: both services take what the gateway forwards.
    let (status, body) = call(
        &app,
        &gw,
        Method::POST,
        "/api/v1/airports",
        &token,
        Some(airport("CDG")),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = call(&app, &gw, Method::GET, "/api/v1/bookings", &token, None).await;
    assert_eq!(status, 200, "{body}");
    // Straight to the services, the very same live token is not the gateway's word.
    let writes = (
        command.as_str(),
        Method::POST,
        "/api/v1/airports",
        Some(airport("ORY")),
    );
    let reads = (query.as_str(), Method::GET, "/api/v1/bookings", None);
    let feed = (
        query.as_str(),
        Method::GET,
        "/api/v1/analytics/revenue",
        None,
    );
    for (base, method, path, body) in [writes.clone(), reads.clone(), feed.clone()] {
        let (status, problem) = call(&app, base, method, path, &token, body).await;
        assert_eq!(
            (status, &problem["code"]),
            (StatusCode::UNAUTHORIZED, &json!("unauthorized")),
            "{path}: {problem}"
        );
    }
    // Logged out: refused at the gateway, and still refused everywhere else.
    let response = app
        .client
        .post(format!("{gw}/api/v1/auth/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let (status, _) = call(&app, &gw, Method::GET, "/api/v1/bookings", &token, None).await;
    assert_eq!(status, 401);
    for (base, method, path, body) in [writes, reads, feed] {
        let (status, _) = call(&app, base, method, path, &token, body).await;
        assert_eq!(status, 401, "{path}");
    }
}

#[tokio::test]
async fn a_stream_opened_on_the_query_api_ends_when_its_token_does() {
    let dead = dead_upstream();
    let app = spawn_gateway(upstreams(&dead, &dead, &dead), generous()).await;
    let (_, query) = real_apis(&app.private_pem, &app.db).await;
    // What the gateway forwards, living one more second.
    let user = uuid::Uuid::new_v4();
    let claims = testkit::auth::claims(user, Role::Admin, testkit::AUDIENCE, 1);
    let token = testkit::auth::sign(&app.signer, &claims);
    let mut stream = app
        .client
        .get(format!("{query}/api/v1/events"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    // It ends by itself once the token is no longer accepted (exp plus the leeway), well before the
    // bound; a stream that never ended would hit it.
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        while stream.chunk().await.unwrap().is_some() {}
    })
    .await;
    assert!(ended.is_ok(), "the stream outlived its token");
    // And a stream cannot be opened with a client's token at all.
    let client_claims = testkit::auth::claims(user, Role::Admin, testkit::GATEWAY_AUDIENCE, 900);
    let client_token = testkit::auth::sign(&app.signer, &client_claims);
    let refused = app
        .client
        .get(format!("{query}/api/v1/events"))
        .bearer_auth(&client_token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
}
