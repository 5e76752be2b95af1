//! Stripe's PaymentIntents API as a [`PaymentProvider`]:
//! - authorize: `POST /v1/payment_intents` with `amount`, `currency`, `payment_method` (the client's card
//!   token), `confirm=true`, `capture_method=manual`;
//! - capture: `POST /v1/payment_intents/{id}/capture`;
//! - void: `POST /v1/payment_intents/{id}/cancel`;
//! - refund: `POST /v1/refunds` with `payment_intent` and `amount`.
//!
//! Every call carries an `Idempotency-Key` derived from the ledger's provider key, so a retry (by the
//! request, or by recovery after a crash) is answered as the first call was and never charges twice.
//! An intent whose id was never recorded (a crash, or an answer lost to a timeout, between the call and
//! the commit) is found again by asking for it once more under its key with the same parameters: Stripe
//! answers with the intent it made, or makes it now, and either way it is then released.
//!
//! A card error (402) is a decline. A 5xx, a 429, a 409 (the same key in flight), a timeout or no
//! connection is "unavailable", which the caller reports (503) and recovery retries. Anything else Stripe
//! refuses (a bad key, a bad request) is unavailable too, and logged as an error: it needs an operator.

use std::time::Duration;

use domain::values::Money;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::{
    Authorization, PaymentError, PaymentProvider, PaymentSettings, ProviderFuture, Receipt,
};

/// The API version the adapter is written against, sent with every call.
const API_VERSION: &str = "2024-06-20";

/// The Stripe adapter; see the module docs.
#[derive(Debug, Clone)]
pub struct StripeProvider {
    client: reqwest::Client,
    base: String,
    key: SecretString,
}

/// What one call got back, when it was not a success.
#[derive(Debug)]
enum Refusal {
    /// A card error (402).
    Card,
    /// Stripe's error object, with the status, for a 4xx that is not a card error.
    Request { status: u16, error: Value },
    /// Unreachable, too slow, or failing on its side.
    Unavailable(String),
}

impl StripeProvider {
    /// An adapter configured by `settings`: its key, its address, its timeout and any extra roots.
    ///
    /// # Errors
    /// No API key, or the HTTPS client cannot be built.
    pub fn new(settings: &PaymentSettings) -> anyhow::Result<Self> {
        let key = settings
            .stripe_api_key
            .clone()
            .filter(|k| !k.expose_secret().trim().is_empty())
            .ok_or_else(|| {
                anyhow::anyhow!("APP_PAYMENTS__STRIPE_API_KEY is required with Stripe")
            })?;
        let tls = infra::tls::client_config(settings.ca_file.as_deref(), "payment")?;
        let client = reqwest::Client::builder()
            .timeout(settings.timeout())
            .connect_timeout(settings.timeout().min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::none())
            .tls_backend_preconfigured(tls)
            .user_agent(concat!("airline/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            base: settings.stripe_base_url.trim_end_matches('/').to_owned(),
            key,
        })
    }

    /// POSTs `form` to `path` under `idempotency_key`; the JSON object Stripe answered with.
    async fn post(
        &self,
        path: &str,
        idempotency_key: &str,
        form: &[(&str, String)],
    ) -> Result<Value, Refusal> {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let sent = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(self.key.expose_secret())
            .header("Idempotency-Key", idempotency_key)
            .header("Stripe-Version", API_VERSION)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await;
        let response = sent.map_err(|e| Refusal::Unavailable(transport_error(&e)))?;
        let status = response.status().as_u16();
        let answer: Value = response.json().await.map_err(|e| {
            Refusal::Unavailable(format!(
                "unreadable answer ({status}): {}",
                transport_error(&e)
            ))
        })?;
        match status {
            200..=299 => Ok(answer),
            402 => Err(Refusal::Card),
            409 | 429 | 500..=599 => Err(Refusal::Unavailable(format!(
                "{status} {}",
                message(&answer)
            ))),
            _ => Err(Refusal::Request {
                status,
                error: answer.get("error").cloned().unwrap_or(Value::Null),
            }),
        }
    }

    /// Creates and confirms the intent under `key`, or, asked again with the same key and parameters,
    /// Stripe's answer to the first call.
    async fn create_intent(
        &self,
        key: &str,
        card_token: &str,
        amount: Money,
    ) -> Result<Value, Refusal> {
        let form = [
            ("amount", amount.amount_minor().to_string()),
            ("currency", amount.currency().as_str().to_ascii_lowercase()),
            ("payment_method", card_token.to_owned()),
            ("payment_method_types[]", "card".to_owned()),
            ("confirm", "true".to_owned()),
            ("capture_method", "manual".to_owned()),
            ("metadata[provider_key]", key.to_owned()),
        ];
        self.post("/v1/payment_intents", key, &form).await
    }

    /// The id of `authorization`'s intent: recorded, or found again under its key. `None` when Stripe
    /// declines it (nothing was reserved) or the ledger lacks what asking again needs.
    async fn intent_of(
        &self,
        authorization: Authorization<'_>,
    ) -> Result<Option<String>, PaymentError> {
        if let Some(reference) = authorization.reference {
            return Ok(Some(reference.to_owned()));
        }
        let Some(card_token) = authorization.card_token else {
            tracing::warn!(
                provider_key = authorization.key,
                "an authorization with neither a reference nor a card token cannot be found at Stripe; \
                 Stripe releases an uncaptured intent by itself after 7 days"
            );
            return Ok(None);
        };
        match self
            .create_intent(authorization.key, card_token, authorization.amount)
            .await
        {
            Ok(intent) => Ok(intent_id(&intent)),
            Err(Refusal::Card) => Ok(None),
            Err(refusal) => Err(unavailable("find the intent", &refusal)),
        }
    }

    /// POSTs an action on an intent; an intent already in `done` (the action ran before, under another
    /// key or before a lost answer) counts as done.
    async fn act_on_intent(
        &self,
        (intent, action, done): (&str, &str, &str),
        idempotency_key: &str,
    ) -> Result<Value, PaymentError> {
        let path = format!("/v1/payment_intents/{intent}/{action}");
        match self.post(&path, idempotency_key, &[]).await {
            Ok(answer) => Ok(answer),
            Err(Refusal::Request { error, .. })
                if error
                    .pointer("/payment_intent/status")
                    .and_then(Value::as_str)
                    == Some(done) =>
            {
                Ok(error.get("payment_intent").cloned().unwrap_or(Value::Null))
            }
            Err(refusal) => Err(unavailable(action, &refusal)),
        }
    }
}

impl PaymentProvider for StripeProvider {
    fn authorize<'a>(
        &'a self,
        key: &'a str,
        card_token: &'a str,
        amount: Money,
    ) -> ProviderFuture<'a, Receipt> {
        Box::pin(async move {
            let intent = match self.create_intent(key, card_token, amount).await {
                Ok(intent) => intent,
                Err(Refusal::Card) => return Err(PaymentError::Declined),
                // A token Stripe does not know, or cannot use, is the customer's card failing.
                Err(Refusal::Request { status, error })
                    if matches!(status, 400 | 404)
                        && error.get("param").and_then(Value::as_str) == Some("payment_method") =>
                {
                    tracing::info!(code = ?error.get("code"), "Stripe refused the card token");
                    return Err(PaymentError::Declined);
                }
                Err(refusal) => return Err(unavailable("authorize", &refusal)),
            };
            let id = intent_id(&intent).ok_or(PaymentError::Unavailable)?;
            match intent.get("status").and_then(Value::as_str) {
                Some("requires_capture") => Ok(Receipt { reference: id }),
                other => {
                    // 3-D Secure or a failed attempt: nothing this API can finish. Release it.
                    tracing::info!(status = ?other, "a Stripe intent not authorized; cancelling it");
                    let cancel = format!("{key}-cancel");
                    self.act_on_intent((&id, "cancel", "canceled"), &cancel)
                        .await?;
                    Err(PaymentError::Declined)
                }
            }
        })
    }

    fn capture<'a>(&'a self, authorization: Authorization<'a>) -> ProviderFuture<'a, Receipt> {
        Box::pin(async move {
            let intent = self
                .intent_of(authorization)
                .await?
                .ok_or(PaymentError::Unavailable)?;
            let key = format!("{}-capture", authorization.key);
            let answer = self
                .act_on_intent((&intent, "capture", "succeeded"), &key)
                .await?;
            let charge = answer.get("latest_charge").and_then(Value::as_str);
            Ok(Receipt {
                reference: charge.map_or(intent, str::to_owned),
            })
        })
    }

    fn void<'a>(&'a self, authorization: Authorization<'a>) -> ProviderFuture<'a, ()> {
        Box::pin(async move {
            let Some(intent) = self.intent_of(authorization).await? else {
                return Ok(());
            };
            let key = format!("{}-cancel", authorization.key);
            self.act_on_intent((&intent, "cancel", "canceled"), &key)
                .await
                .map(drop)
        })
    }

    fn refund<'a>(
        &'a self,
        key: &'a str,
        authorization: Authorization<'a>,
        amount: Money,
    ) -> ProviderFuture<'a, Receipt> {
        Box::pin(async move {
            let intent = self
                .intent_of(authorization)
                .await?
                .ok_or(PaymentError::Unavailable)?;
            let form = [
                ("payment_intent", intent),
                ("amount", amount.amount_minor().to_string()),
            ];
            let refund = self
                .post("/v1/refunds", key, &form)
                .await
                .map_err(|refusal| unavailable("refund", &refusal))?;
            Ok(Receipt {
                reference: intent_id(&refund).ok_or(PaymentError::Unavailable)?,
            })
        })
    }
}

fn intent_id(object: &Value) -> Option<String> {
    object.get("id").and_then(Value::as_str).map(str::to_owned)
}

fn message(answer: &Value) -> &str {
    answer
        .pointer("/error/message")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// A transport error, said by its kind first.
fn transport_error(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    format!("{kind}: {e}")
}

/// Logs why a call did not go through and answers "unavailable": retried by the caller's client or by
/// recovery. A refusal that retrying cannot fix is an error for an operator.
fn unavailable(call: &str, refusal: &Refusal) -> PaymentError {
    match refusal {
        Refusal::Unavailable(why) => {
            tracing::warn!(call, error.message = %why, "Stripe is unavailable");
        }
        Refusal::Card => tracing::error!(call, "Stripe answered a card error where none can be"),
        Refusal::Request { status, error } => tracing::error!(
            call,
            status,
            code = ?error.get("code"),
            error.message = ?error.get("message"),
            "Stripe refused the call; it needs an operator"
        ),
    }
    metrics::counter!("payment_provider_failures_total", "call" => call.to_owned()).increment(1);
    PaymentError::Unavailable
}
