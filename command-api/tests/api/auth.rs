use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use infra::auth::{Claims, JwtSigner, Role, generate_key_pair};
use serde_json::json;
use testkit::{AUDIENCE, ISSUER};
use uuid::Uuid;

use crate::helpers::spawn_app;

fn claims(exp_offset: i64, aud: &str) -> Claims {
    let now = chrono::Utc::now().timestamp();
    Claims {
        iss: ISSUER.to_owned(),
        aud: aud.to_owned(),
        sub: Uuid::new_v4(),
        role: Role::Admin,
        exp: (now + exp_offset) as u64,
        iat: now as u64,
        sid: None,
        acc: None,
    }
}

#[tokio::test]
async fn a_missing_or_malformed_token_is_401() {
    let app = spawn_app().await;
    let body = json!({"reason": "x"});
    let url = format!("{}/api/v1/airports", app.address);
    app.send(app.client.post(&url).json(&body))
        .await
        .assert_problem(401, "unauthorized");
    app.send(
        app.client
            .post(&url)
            .header("authorization", "Basic abc")
            .json(&body),
    )
    .await
    .assert_problem(401, "unauthorized");
}

#[tokio::test]
async fn forged_expired_wrong_audience_and_unsigned_tokens_are_401() {
    let app = spawn_app().await;
    let (other_private, _) = generate_key_pair().unwrap();
    let forged = JwtSigner::new(&other_private)
        .unwrap()
        .sign(&claims(900, AUDIENCE))
        .unwrap();
    let expired = app.signer.sign(&claims(-3600, AUDIENCE)).unwrap();
    let wrong_audience = app.signer.sign(&claims(900, "someone-else")).unwrap();
    // alg: none, with a valid-looking payload and no signature.
    let b64 = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let unsigned = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "typ": "JWT"})),
        b64(serde_json::to_value(claims(900, AUDIENCE)).unwrap())
    );
    for token in [forged, expired, wrong_audience, unsigned] {
        app.post_airport_with(&token)
            .await
            .assert_problem(401, "unauthorized");
    }
}

#[tokio::test]
async fn a_customer_calling_an_admin_route_is_403() {
    let app = spawn_app().await;
    app.post_airport_with(&app.customer)
        .await
        .assert_problem(403, "forbidden");
}

impl crate::helpers::TestApp {
    async fn post_airport_with(&self, token: &str) -> crate::helpers::Response {
        let body = json!({"code": "CDG", "name": "CDG", "city": "Paris", "country": "FR", "time_zone": "Europe/Paris"});
        self.post("/api/v1/airports", token, &body).await
    }
}
