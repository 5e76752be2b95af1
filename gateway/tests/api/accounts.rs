use std::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use infra::auth::Role;
use serde_json::json;
use uuid::Uuid;

use crate::helpers::{dead_upstream, generous, real_apis, spawn_gateway, upstreams};

async fn gateway() -> crate::helpers::TestApp {
    let dead = dead_upstream();
    spawn_gateway(upstreams(&dead, &dead, &dead), generous()).await
}

#[tokio::test]
async fn signup_login_and_me() {
    let app = gateway().await;
    let signed_up = app.signup("  Ada@Example.com ").await;
    assert_eq!(signed_up["token_type"], "Bearer");
    assert_eq!(signed_up["expires_in"], 900);
    assert_eq!(signed_up["user"]["email"], "ada@example.com");
    assert_eq!(signed_up["user"]["role"], "customer");

    let (status, headers, login) = app
        .post(
            "/api/v1/auth/login",
            None,
            &json!({"email": "ADA@example.com", "password": "Correct-Horse-42"}),
        )
        .await;
    assert_eq!(status, 200, "{login}");
    assert_eq!(
        headers["cache-control"], "no-store",
        "tokens are not cached"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    let token = login["access_token"].as_str().unwrap();
    let (status, _, me) = app.get("/api/v1/auth/me", Some(token)).await;
    assert_eq!(status, 200);
    assert_eq!(me["email"], "ada@example.com");
    assert_eq!(me["id"], signed_up["user"]["id"]);

    // The token carries the claims the APIs require.
    let payload = token.split('.').nth(1).unwrap();
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    assert_eq!(claims["iss"], "airline-gateway");
    assert_eq!(claims["aud"], "airline-api");
    assert_eq!(claims["role"], "customer");
    // ...and when the account was made, which the services' cap on new accounts reads.
    let created: i64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM created_at)::bigint FROM users WHERE email = 'ada@example.com'",
    )
    .fetch_one(&app.db.pool)
    .await
    .unwrap();
    let acc = claims["acc"].as_i64().unwrap();
    assert!((acc - created).abs() <= 1, "{acc} {created}");
    let header: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "EdDSA");
}

#[tokio::test]
async fn weak_passwords_bad_emails_and_duplicates_are_refused() {
    let app = gateway().await;
    app.signup("ada@example.com").await;
    let cases = [
        (
            json!({"email": "ada@example.com", "password": "Correct-Horse-42"}),
            409,
            "email_taken",
        ),
        (
            json!({"email": "bob@example.com", "password": "short"}),
            422,
            "weak_password",
        ),
        (
            json!({"email": "bob@example.com", "password": "onlylowercaseletters"}),
            422,
            "weak_password",
        ),
        (
            json!({"email": "not-an-email", "password": "Correct-Horse-42"}),
            422,
            "invalid_email",
        ),
        (json!({"email": "bob@example.com"}), 422, "invalid_body"),
    ];
    for (body, status, code) in cases {
        let (got, headers, problem) = app.post("/api/v1/auth/signup", None, &body).await;
        assert_eq!(got, status, "{body}: {problem}");
        assert_eq!(problem["code"], code);
        assert_eq!(headers["content-type"], "application/problem+json");
    }
}

#[tokio::test]
async fn unknown_emails_and_wrong_passwords_look_the_same() {
    let app = gateway().await;
    app.signup("ada@example.com").await;
    let attempt = |email: &'static str| {
        let app = &app;
        async move {
            let started = Instant::now();
            let (status, _, body) = app
                .post(
                    "/api/v1/auth/login",
                    None,
                    &json!({"email": email, "password": "Wrong-Horse-42!"}),
                )
                .await;
            (status, body, started.elapsed())
        }
    };
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for _ in 0..3 {
        let (s1, b1, t1) = attempt("ada@example.com").await;
        let (s2, b2, t2) = attempt("nobody@example.com").await;
        assert_eq!((s1.as_u16(), s2.as_u16()), (401, 401));
        assert_eq!(b1["code"], "invalid_credentials");
        assert_eq!(
            (b1["code"].clone(), b1["detail"].clone()),
            (b2["code"].clone(), b2["detail"].clone())
        );
        known.push(t1);
        unknown.push(t2);
    }
    known.sort();
    unknown.sort();
    // Both paths run one argon2id verification; a missing account must not answer much faster.
    assert!(
        unknown[1] * 3 > known[1],
        "unknown {:?} vs known {:?}",
        unknown[1],
        known[1]
    );
}

#[tokio::test]
async fn admins_change_roles_customers_cannot() {
    let app = gateway().await;
    let admin = gateway::accounts::create(
        &app.db.pool,
        &domain::values::EmailAddress::parse("root@example.com").unwrap(),
        "Admin-Password-1",
        Role::Admin,
    )
    .await
    .unwrap();
    let admin_token = app.session_token(admin.id, Role::Admin).await;
    let user = app.signup("ada@example.com").await;
    let user_token = user["access_token"].as_str().unwrap();
    let id = user["user"]["id"].as_str().unwrap();
    let path = format!("/api/v1/users/{id}/role");
    let put = |token: &str, body: serde_json::Value| {
        app.client
            .put(format!("{}{path}", app.address))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let response = put(user_token, json!({"role": "admin"})).await.unwrap();
    assert_eq!(response.status(), 403);
    let response = put(&admin_token, json!({"role": "admin"})).await.unwrap();
    assert_eq!(response.status(), 200);
    let (_, _, login) = app
        .post(
            "/api/v1/auth/login",
            None,
            &json!({"email": "ada@example.com", "password": "Correct-Horse-42"}),
        )
        .await;
    let (_, _, me) = app
        .get("/api/v1/auth/me", login["access_token"].as_str())
        .await;
    assert_eq!(me["role"], "admin");
    let response = put(&admin_token, json!({"role": "pilot"})).await.unwrap();
    assert_eq!(response.status(), 422);
    let missing = format!("{}/api/v1/users/{}/role", app.address, Uuid::new_v4());
    let response = app
        .client
        .put(missing)
        .bearer_auth(&admin_token)
        .json(&json!({"role": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn bad_tokens_are_401_at_the_gateway_and_customers_get_403_on_admin_routes() {
    let dead = dead_upstream();
    let app = spawn_gateway(upstreams(&dead, &dead, &dead), generous()).await;
    let (other_private, _) = infra::auth::generate_key_pair().unwrap();
    let forged = infra::auth::JwtSigner::new(&other_private)
        .unwrap()
        .sign(&infra::auth::Claims {
            iss: "airline-gateway".to_owned(),
            aud: "airline-api".to_owned(),
            sub: Uuid::new_v4(),
            role: Role::Admin,
            exp: (chrono::Utc::now().timestamp() + 900) as u64,
            iat: 0,
            sid: None,
            acc: None,
        })
        .unwrap();
    let expired = app.token(Uuid::new_v4(), Role::Admin, "airline-api", -3600);
    let wrong_audience = app.token(Uuid::new_v4(), Role::Admin, "elsewhere", 900);
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(format!(
            r#"{{"iss":"airline-gateway","aud":"airline-api","sub":"{}","role":"admin","exp":9999999999,"iat":0}}"#,
            Uuid::new_v4()
        ))
    );
    for token in [&forged, &expired, &wrong_audience, &unsigned] {
        for path in ["/api/v1/auth/me", "/api/v1/bookings", "/api/v1/flights"] {
            let (status, _, body) = app.get(path, Some(token)).await;
            assert_eq!(
                (status.as_u16(), body["code"].as_str()),
                (401, Some("unauthorized")),
                "{path}"
            );
        }
    }

    // Through to the real APIs: a customer on an admin route is 403 from the command API.
    let (command, query) = real_apis(&app.private_pem, &app.db).await;
    let mut settings = app.settings.clone();
    settings.upstreams = upstreams(&command, &query, &dead);
    let address = crate::helpers::start(&settings, &app.db).await;
    let (_, customer) = app.user_with_token(Role::Customer).await;
    let response = app
        .client
        .post(format!("{address}/api/v1/airports"))
        .bearer_auth(&customer)
        .json(&json!({"code": "CDG", "name": "CDG", "city": "Paris", "country": "FR", "time_zone": "Europe/Paris"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}
