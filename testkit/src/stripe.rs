//! A fake of the part of Stripe's API the payment adapter uses, served over HTTPS on loopback with a
//! test CA of its own: PaymentIntents (create with `confirm` and manual capture, capture, cancel) and
//! refunds. Like Stripe it checks the bearer key, keeps every answer by `Idempotency-Key` and replays it
//! for the same key and parameters (`Idempotent-Replayed: true`), refuses the same key with other
//! parameters, and moves money only as the calls say. Unlike Stripe it refuses a POST without a key,
//! so that every call the adapter makes is proven deduplicated.
//!
//! Test cards: a payment method naming `chargeDeclined` is declined (402), one naming
//! `authenticationRequired` needs 3-D Secure, any other `pm_...` or `tok_...` authorizes, anything
//! else is not a payment method (400). [`Mode`] makes it fail, hang, or lose its answers.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use command_api::payments::{PaymentSettings, ProviderKind};
use serde_json::{Value, json};

use crate::tls::TestCa;

/// How the fake answers, whatever it is asked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    /// As Stripe would.
    #[default]
    Normal,
    /// 500 to every call, doing nothing.
    Fail,
    /// Never answers, doing nothing.
    Hang,
    /// Does what it is asked, keeps the answer for its key, and never sends it.
    LoseAnswers,
}

/// A payment intent as the fake holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    /// `pi_...`.
    pub id: String,
    /// Minor units.
    pub amount: i64,
    /// Lower-case ISO code.
    pub currency: String,
    /// Stripe's status: `requires_capture`, `succeeded`, `canceled`, `requires_payment_method`, ...
    pub status: String,
    /// The payment method it was made with.
    pub payment_method: String,
    /// Captured, minor units.
    pub amount_captured: i64,
    /// Refunded, minor units.
    pub amount_refunded: i64,
    /// How many times a capture moved money.
    pub captures: u32,
}

/// One request the fake received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// Its path.
    pub path: String,
    /// Its `Idempotency-Key`.
    pub idempotency_key: Option<String>,
    /// Whether it was answered by a replay of an earlier answer.
    pub replayed: bool,
}

#[derive(Debug, Default)]
struct Books {
    mode: Mode,
    failing: Option<String>,
    intents: BTreeMap<String, Intent>,
    refunds: Vec<(String, i64)>,
    answered: HashMap<String, (String, StatusCode, Value)>,
    calls: Vec<Call>,
    next: u64,
}

type Shared = Arc<(String, Mutex<Books>)>;

/// A running fake; see the module docs. It serves until the test process ends.
#[derive(Debug)]
pub struct FakeStripe {
    /// Its base URL (`https://127.0.0.1:port`).
    pub url: String,
    /// The secret key it accepts.
    pub api_key: String,
    ca: TestCa,
    books: Shared,
}

impl FakeStripe {
    /// Starts one, with a fresh CA and key.
    pub async fn start() -> Self {
        let ca = TestCa::new("Fake Stripe test CA");
        let api_key = format!("sk_test_{}", uuid::Uuid::new_v4().simple());
        let books: Shared = Arc::new((api_key.clone(), Mutex::default()));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(books.clone());
        let addr = crate::tls::serve(app, ca.server("127.0.0.1")).await;
        Self {
            url: format!("https://{addr}"),
            api_key,
            ca,
            books,
        }
    }

    /// Settings that send payments here: its address and key, its CA trusted, calls bounded by
    /// `timeout`.
    pub fn settings(&self, timeout: Duration) -> PaymentSettings {
        PaymentSettings {
            provider: ProviderKind::Stripe,
            stripe_api_key: Some(self.api_key.clone().into()),
            stripe_base_url: self.url.clone(),
            timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            ca_file: Some(self.ca.pem_file()),
        }
    }

    /// The PEM file of the CA its certificate comes from.
    pub fn ca_file(&self) -> std::path::PathBuf {
        self.ca.pem_file()
    }

    /// Changes how it answers from now on.
    pub fn set_mode(&self, mode: Mode) {
        self.books().mode = mode;
    }

    /// Answers 500, doing nothing, to every call whose path ends with `suffix` (`/capture`,
    /// `/v1/refunds`); `None` ends it.
    pub fn fail_calls_ending(&self, suffix: Option<&str>) {
        self.books().failing = suffix.map(str::to_owned);
    }

    /// Every intent, by id.
    pub fn intents(&self) -> Vec<Intent> {
        self.books().intents.values().cloned().collect()
    }

    /// Every refund: its intent and amount.
    pub fn refunds(&self) -> Vec<(String, i64)> {
        self.books().refunds.clone()
    }

    /// Every request, oldest first.
    pub fn calls(&self) -> Vec<Call> {
        self.books().calls.clone()
    }

    fn books(&self) -> std::sync::MutexGuard<'_, Books> {
        self.books.1.lock().expect("the fake's books")
    }
}

fn error(status: StatusCode, error: Value) -> (StatusCode, Value) {
    (status, json!({ "error": error }))
}

async fn handle(
    State(books): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (api_key, books) = (&books.0, &books.1);
    let path = uri.path().to_owned();
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let params: BTreeMap<String, String> =
        url::form_urlencoded::parse(&body).into_owned().collect();
    let fingerprint = format!("{method} {path} {params:?}");
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let (mode, answer, replayed) = {
        let mut b = books.lock().expect("the fake's books");
        let failing = b.failing.as_deref().is_some_and(|s| path.ends_with(s));
        let mode = if failing { Mode::Fail } else { b.mode };
        let replay = key.as_ref().and_then(|k| b.answered.get(k)).cloned();
        let (answer, replayed) = if bearer != Some(api_key.as_str()) {
            let e = json!({"type": "invalid_request_error", "message": "Invalid API Key provided"});
            (Some(error(StatusCode::UNAUTHORIZED, e)), false)
        } else if matches!(mode, Mode::Fail | Mode::Hang) {
            (None, false)
        } else if let Some((seen, status, body)) = replay {
            if seen == fingerprint {
                (Some((status, body)), true)
            } else {
                let e = json!({"type": "idempotency_error",
                    "message": "Keys for idempotent requests can only be used with the same parameters they were first used with."});
                (Some(error(StatusCode::BAD_REQUEST, e)), false)
            }
        } else if method != Method::POST || key.is_none() {
            let e = json!({"type": "invalid_request_error", "message": "the fake takes only POSTs with an Idempotency-Key"});
            (Some(error(StatusCode::BAD_REQUEST, e)), false)
        } else {
            let answer = act(&mut b, &path, &params);
            if let Some(k) = &key {
                b.answered
                    .insert(k.clone(), (fingerprint, answer.0, answer.1.clone()));
            }
            (Some(answer), false)
        };
        b.calls.push(Call {
            path,
            idempotency_key: key,
            replayed,
        });
        (mode, answer, replayed)
    };
    match (mode, answer) {
        (Mode::Hang | Mode::LoseAnswers, _) => std::future::pending().await,
        (_, None) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"type": "api_error", "message": "the fake fails as asked"}),
        )
        .into_response_json(false),
        (_, Some(answer)) => answer.into_response_json(replayed),
    }
}

trait IntoJson {
    fn into_response_json(self, replayed: bool) -> Response;
}

impl IntoJson for (StatusCode, Value) {
    fn into_response_json(self, replayed: bool) -> Response {
        let mut response = (self.0, axum::Json(self.1)).into_response();
        if replayed {
            response.headers_mut().insert(
                "idempotent-replayed",
                "true".parse().expect("a header value"),
            );
        }
        response
    }
}

fn intent_json(i: &Intent) -> Value {
    json!({
        "id": i.id, "object": "payment_intent", "amount": i.amount, "currency": i.currency,
        "status": i.status, "payment_method": i.payment_method, "capture_method": "manual",
        "amount_received": i.amount_captured,
        "latest_charge": (i.captures > 0).then(|| format!("ch_{}", &i.id[3..])),
    })
}

fn unexpected_state(i: &Intent) -> (StatusCode, Value) {
    let e = json!({"type": "invalid_request_error", "code": "payment_intent_unexpected_state",
        "message": format!("This PaymentIntent's status is {}.", i.status), "payment_intent": intent_json(i)});
    error(StatusCode::BAD_REQUEST, e)
}

fn missing(what: &str) -> (StatusCode, Value) {
    let e = json!({"type": "invalid_request_error", "code": "resource_missing", "message": format!("No such {what}")});
    error(StatusCode::NOT_FOUND, e)
}

/// Does what a first POST asks.
fn act(b: &mut Books, path: &str, params: &BTreeMap<String, String>) -> (StatusCode, Value) {
    let param = |name: &str| params.get(name).map(String::as_str).unwrap_or_default();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["v1", "payment_intents"] => {
            let Ok(amount) = param("amount").parse::<i64>() else {
                return missing("amount");
            };
            if param("confirm") != "true" || param("capture_method") != "manual" {
                let e = json!({"type": "invalid_request_error", "message": "the adapter must confirm with manual capture"});
                return error(StatusCode::BAD_REQUEST, e);
            }
            let method = param("payment_method").to_owned();
            if !(method.starts_with("pm_") || method.starts_with("tok_")) {
                let e = json!({"type": "invalid_request_error", "code": "resource_missing",
                    "param": "payment_method", "message": format!("No such PaymentMethod: '{method}'")});
                return error(StatusCode::BAD_REQUEST, e);
            }
            b.next += 1;
            let status = if method.contains("chargeDeclined") {
                "requires_payment_method"
            } else if method.contains("authenticationRequired") {
                "requires_action"
            } else {
                "requires_capture"
            };
            let intent = Intent {
                id: format!("pi_fake{:06}", b.next),
                amount,
                currency: param("currency").to_owned(),
                status: status.to_owned(),
                payment_method: method,
                amount_captured: 0,
                amount_refunded: 0,
                captures: 0,
            };
            let body = intent_json(&intent);
            b.intents.insert(intent.id.clone(), intent);
            if status == "requires_payment_method" {
                let e = json!({"type": "card_error", "code": "card_declined",
                    "decline_code": "generic_decline", "message": "Your card was declined.", "payment_intent": body});
                return error(StatusCode::PAYMENT_REQUIRED, e);
            }
            (StatusCode::OK, body)
        }
        ["v1", "payment_intents", id, action @ ("capture" | "cancel")] => {
            let Some(intent) = b.intents.get_mut(*id) else {
                return missing("payment_intent");
            };
            match (*action, intent.status.as_str()) {
                ("capture", "requires_capture") => {
                    intent.status = "succeeded".to_owned();
                    intent.amount_captured = intent.amount;
                    intent.captures += 1;
                }
                ("cancel", "requires_capture" | "requires_payment_method" | "requires_action") => {
                    intent.status = "canceled".to_owned();
                }
                _ => return unexpected_state(intent),
            }
            (StatusCode::OK, intent_json(intent))
        }
        ["v1", "refunds"] => {
            let Some(intent) = b.intents.get_mut(param("payment_intent")) else {
                return missing("payment_intent");
            };
            let amount = param("amount")
                .parse::<i64>()
                .unwrap_or(intent.amount_captured);
            if intent.status != "succeeded"
                || intent.amount_refunded + amount > intent.amount_captured
            {
                let e = json!({"type": "invalid_request_error", "code": "charge_already_refunded",
                    "message": "the refund exceeds what is left of the charge"});
                return error(StatusCode::BAD_REQUEST, e);
            }
            intent.amount_refunded += amount;
            let id = intent.id.clone();
            b.refunds.push((id.clone(), amount));
            let refund_id = format!("re_fake{:06}", b.refunds.len());
            (
                StatusCode::OK,
                json!({"id": refund_id, "object": "refund", "amount": amount, "payment_intent": id, "status": "succeeded"}),
            )
        }
        _ => missing("route"),
    }
}
