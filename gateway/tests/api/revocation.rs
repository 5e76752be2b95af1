//! Revocation takes effect on the next request: role changes, disabled accounts, logout, refresh token
//! rotation and reuse.
//!
//! Past 400 lines on purpose: one test per way a session or role can end, sharing one setup.

use std::time::Duration;

use infra::auth::Role;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, dead_upstream, generous, spawn_gateway, upstreams};

pub(crate) const PASSWORD: &str = "Correct-Horse-42";

pub(crate) async fn admin_account(app: &TestApp, email: &str) -> Value {
    gateway::accounts::create(
        &app.db.pool,
        &domain::values::EmailAddress::parse(email).unwrap(),
        PASSWORD,
        Role::Admin,
    )
    .await
    .unwrap();
    login(app, &app.address, email).await
}

pub(crate) async fn login(app: &TestApp, address: &str, email: &str) -> Value {
    let response = app
        .client
        .post(format!("{address}/api/v1/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

pub(crate) async fn call(
    app: &TestApp,
    address: &str,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app
        .client
        .request(method, format!("{address}{path}"))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub(crate) fn access(pair: &Value) -> String {
    pair["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_demoted_admin_loses_the_role_at_once_and_cannot_take_it_back() {
    let (app, gw) = crate::helpers::over_real_apis().await;
    let root = admin_account(&app, "root@example.com").await;
    let eve = admin_account(&app, "eve@example.com").await;
    let (root_token, eve_token) = (access(&root), access(&eve));
    let eve_id = eve["user"]["id"].as_str().unwrap().to_owned();
    let root_id = root["user"]["id"].as_str().unwrap().to_owned();
    let airport = |code: &str| json!({"code": code, "name": code, "city": "Paris", "country": "FR", "time_zone": "Europe/Paris"});
    // Eve is an admin: the command API takes her write, and the gateway caches her grant.
    let (status, body) = call(
        &app,
        &gw,
        reqwest::Method::POST,
        "/api/v1/airports",
        &eve_token,
        Some(airport("CDG")),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    let (status, body) = call(
        &app,
        &gw,
        reqwest::Method::PUT,
        &format!("/api/v1/users/{eve_id}/role"),
        &root_token,
        Some(json!({"role": "customer"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // Her unexpired admin token now carries the customer role everywhere, on the very next request.
    let (status, body) = call(
        &app,
        &gw,
        reqwest::Method::POST,
        "/api/v1/airports",
        &eve_token,
        Some(airport("ORY")),
    )
    .await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::FORBIDDEN, &json!("forbidden")),
        "{body}"
    );
    let (status, body) = call(
        &app,
        &gw,
        reqwest::Method::PUT,
        &format!("/api/v1/users/{eve_id}/role"),
        &eve_token,
        Some(json!({"role": "admin"})),
    )
    .await;
    assert_eq!(status, 403, "she re-promoted herself: {body}");
    let (status, me) = call(
        &app,
        &gw,
        reqwest::Method::GET,
        "/api/v1/auth/me",
        &eve_token,
        None,
    )
    .await;
    assert_eq!(
        (status, &me["role"]),
        (StatusCode::OK, &json!("customer")),
        "{me}"
    );

    // Root is the last admin now, and cannot step down or be disabled.
    for (path, body) in [
        (
            format!("/api/v1/users/{root_id}/role"),
            json!({"role": "customer"}),
        ),
        (
            format!("/api/v1/users/{root_id}/status"),
            json!({"disabled": true}),
        ),
    ] {
        let (status, problem) = call(
            &app,
            &gw,
            reqwest::Method::PUT,
            &path,
            &root_token,
            Some(body),
        )
        .await;
        assert_eq!(
            (status, &problem["code"]),
            (StatusCode::CONFLICT, &json!("last_admin")),
            "{problem}"
        );
    }
    let (status, me) = call(
        &app,
        &gw,
        reqwest::Method::GET,
        "/api/v1/auth/me",
        &root_token,
        None,
    )
    .await;
    assert_eq!((status, &me["role"]), (StatusCode::OK, &json!("admin")));

    // Disabled: every token of hers is refused, and she cannot sign in.
    let (status, body) = call(
        &app,
        &gw,
        reqwest::Method::PUT,
        &format!("/api/v1/users/{eve_id}/status"),
        &root_token,
        Some(json!({"disabled": true})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = call(
        &app,
        &gw,
        reqwest::Method::GET,
        "/api/v1/bookings",
        &eve_token,
        None,
    )
    .await;
    assert_eq!(status, 401);
    let response = app
        .client
        .post(format!("{gw}/api/v1/auth/login"))
        .json(&json!({"email": "eve@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "account_disabled");
    let (status, _) = call(
        &app,
        &gw,
        reqwest::Method::POST,
        "/api/v1/auth/refresh",
        &root_token,
        Some(json!({"refresh_token": eve["refresh_token"]})),
    )
    .await;
    assert_eq!(status, 401);
    // Enabled again: she can sign in anew, but what she held before stays dead.
    let (status, _) = call(
        &app,
        &gw,
        reqwest::Method::PUT,
        &format!("/api/v1/users/{eve_id}/status"),
        &root_token,
        Some(json!({"disabled": false})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = call(
        &app,
        &gw,
        reqwest::Method::GET,
        "/api/v1/bookings",
        &eve_token,
        None,
    )
    .await;
    assert_eq!(status, 401, "enabling the account revived an old session");
    let again = login(&app, &gw, "eve@example.com").await;
    let (status, me) = call(
        &app,
        &gw,
        reqwest::Method::GET,
        "/api/v1/auth/me",
        &access(&again),
        None,
    )
    .await;
    assert_eq!((status, &me["role"]), (StatusCode::OK, &json!("customer")));
}

#[tokio::test]
async fn a_change_made_through_one_gateway_reaches_the_others_cache() {
    let dead = dead_upstream();
    let app = spawn_gateway(upstreams(&dead, &dead, &dead), generous()).await;
    let other = crate::helpers::start(&app.settings, &app.db).await;
    let root = admin_account(&app, "root@example.com").await;
    let eve = admin_account(&app, "eve@example.com").await;
    let eve_id = eve["user"]["id"].as_str().unwrap().to_owned();
    let eve_token = access(&eve);
    // Asked on a route gated by the role the gateway forwards: promoting herself, a no-op while she is
    // an admin, 403 once she is not. The other gateway reads and caches her admin grant first, once its
    // session listener hears (it caches nothing before): wait for that, not for the clock.
    let promote = format!("/api/v1/users/{eve_id}/role");
    let admin_role = json!({"role": "admin"});
    wait_listening(&app, &other).await;
    for _ in 0..3 {
        let (status, body) = call(
            &app,
            &other,
            reqwest::Method::PUT,
            &promote,
            &eve_token,
            Some(admin_role.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, _) = call(
        &app,
        &app.address,
        reqwest::Method::PUT,
        &promote,
        &access(&root),
        Some(json!({"role": "customer"})),
    )
    .await;
    assert_eq!(status, 200);
    // The notification is sent at commit; the other gateway drops its entry when it arrives.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    loop {
        let (status, body) = call(
            &app,
            &other,
            reqwest::Method::PUT,
            &promote,
            &eve_token,
            Some(admin_role.clone()),
        )
        .await;
        if status == StatusCode::FORBIDDEN {
            break;
        }
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "the other gateway still grants admin"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn logout_ends_the_session_and_its_refresh_token() {
    let dead = dead_upstream();
    let app = spawn_gateway(upstreams(&dead, &dead, &dead), generous()).await;
    let pair = app.signup("ada@example.com").await;
    let token = access(&pair);
    let (status, _) = call(
        &app,
        &app.address,
        reqwest::Method::GET,
        "/api/v1/auth/me",
        &token,
        None,
    )
    .await;
    assert_eq!(status, 200);
    let other_session = login(&app, &app.address, "ada@example.com").await;
    let response = app
        .client
        .post(format!("{}/api/v1/auth/logout", app.address))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let (status, body) = call(
        &app,
        &app.address,
        reqwest::Method::GET,
        "/api/v1/auth/me",
        &token,
        None,
    )
    .await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::UNAUTHORIZED, &json!("unauthorized"))
    );
    let (status, _, body) = app
        .post(
            "/api/v1/auth/refresh",
            None,
            &json!({"refresh_token": pair["refresh_token"]}),
        )
        .await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::UNAUTHORIZED, &json!("invalid_refresh_token"))
    );
    // Only that session: the other sign-in still works.
    let (status, _) = call(
        &app,
        &app.address,
        reqwest::Method::GET,
        "/api/v1/auth/me",
        &access(&other_session),
        None,
    )
    .await;
    assert_eq!(status, 200);
    // A token without a session is refused.
    let (id, _) = app.user_with_token(Role::Customer).await;
    let bare = app.token(id, Role::Customer, "airline-api", 900);
    let (status, _) = call(
        &app,
        &app.address,
        reqwest::Method::GET,
        "/api/v1/auth/me",
        &bare,
        None,
    )
    .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_reused_one_ends_the_whole_family() {
    let dead = dead_upstream();
    let app = spawn_gateway(upstreams(&dead, &dead, &dead), generous()).await;
    let first = app.signup("ada@example.com").await;
    let app = &app;
    let refresh = |token: &Value| {
        let body = json!({"refresh_token": token});
        async move {
            let (status, _, body) = app.post("/api/v1/auth/refresh", None, &body).await;
            (status, body)
        }
    };
    let (status, second) = refresh(&first["refresh_token"]).await;
    assert_eq!(status, 200, "{second}");
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_eq!(second["user"]["email"], "ada@example.com");
    let (status, third) = refresh(&second["refresh_token"]).await;
    assert_eq!(status, 200, "{third}");
    let (status, _) = call(
        app,
        &app.address,
        reqwest::Method::GET,
        "/api/v1/auth/me",
        &access(&third),
        None,
    )
    .await;
    assert_eq!(status, 200);
    // A client that always sends its bearer header refreshes even when that access token is invalid
    // (expired, or of an ended session): the refresh token in the body is what counts.
    let (status, _, fourth) = app
        .post(
            "/api/v1/auth/refresh",
            Some("expired.or.garbage"),
            &json!({"refresh_token": third["refresh_token"]}),
        )
        .await;
    assert_eq!(status, 200, "{fourth}");
    let third = fourth;

    // The first token again: someone kept a copy. The session ends for everyone holding any of it.
    let (status, body) = refresh(&first["refresh_token"]).await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::UNAUTHORIZED, &json!("refresh_token_reused"))
    );
    for pair in [&first, &second, &third] {
        let (status, _) = call(
            app,
            &app.address,
            reqwest::Method::GET,
            "/api/v1/auth/me",
            &access(pair),
            None,
        )
        .await;
        assert_eq!(status, 401);
    }
    let (status, body) = refresh(&third["refresh_token"]).await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::UNAUTHORIZED, &json!("invalid_refresh_token"))
    );
    let (status, body) = refresh(&json!("rt_made_up")).await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::UNAUTHORIZED, &json!("invalid_refresh_token"))
    );
    // Two uses of one token at once: one rotates, the other is reuse and ends that session.
    let fresh = login(app, &app.address, "ada@example.com").await;
    let (a, b) = tokio::join!(
        refresh(&fresh["refresh_token"]),
        refresh(&fresh["refresh_token"])
    );
    let mut statuses = [a.0.as_u16(), b.0.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 401]);
    let winner = if a.0 == 200 { a.1 } else { b.1 };
    let (status, _) = call(
        app,
        &app.address,
        reqwest::Method::GET,
        "/api/v1/auth/me",
        &access(&winner),
        None,
    )
    .await;
    assert_eq!(status, 401, "the race left a live session");
}

#[tokio::test]
async fn an_account_keeps_a_bounded_number_of_sessions() {
    let dead = dead_upstream();
    let app = spawn_gateway(upstreams(&dead, &dead, &dead), generous()).await;
    let (user, _) = app.user_with_token(Role::Customer).await;
    let pool = &app.db.pool;
    let ttl = Duration::from_secs(3600);
    let first = gateway::sessions::open(pool, user, ttl).await.unwrap();
    // An old session that ended two days ago, as pruning finds it.
    let ended = gateway::sessions::open(pool, user, ttl).await.unwrap();
    sqlx::query(
        "UPDATE sessions SET revoked_at = now() - interval '2 days', revoked_reason = 'logout' \
         WHERE session_id = $1",
    )
    .bind(ended.session_id)
    .execute(pool)
    .await
    .unwrap();
    let mut last = None;
    for _ in 0..gateway::sessions::MAX_LIVE_SESSIONS {
        last = Some(gateway::sessions::open(pool, user, ttl).await.unwrap());
    }
    let live: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sessions WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(user)
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(live, gateway::sessions::MAX_LIVE_SESSIONS);
    let grants = gateway::sessions::Grants::new(pool.clone());
    let grant = |sid| grants.current(sid, user);
    assert_eq!(
        grant(first.session_id).await.unwrap(),
        gateway::sessions::Grant::Revoked,
        "the oldest live session ended"
    );
    let last = last.unwrap();
    assert_eq!(
        grant(last.session_id).await.unwrap(),
        gateway::sessions::Grant::Active(Role::Customer)
    );
    let pruned: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions WHERE session_id = $1")
        .bind(ended.session_id)
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(pruned, 0, "a session ended a day ago is deleted");
}

/// Until the gateway at `base` reports its session listener as having made progress (it beats once it
/// listens).
async fn wait_listening(app: &crate::helpers::TestApp, base: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let report: serde_json::Value = app
            .client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let listening = report["workers"].as_array().is_some_and(|workers| {
            workers
                .iter()
                .any(|w| w["name"] == "session-listener" && !w["last_progress_secs_ago"].is_null())
        });
        if listening {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the listener never started: {report}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
