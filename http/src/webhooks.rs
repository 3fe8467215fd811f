//! Payment provider callbacks: `POST /pay/cryptobot` and `POST /pay/nowpayments`.
//!
//! Order of work, every time: bounded raw body → signature over the raw body
//! (401 and a counter, nothing stored, when it is missing or wrong; past the
//! client's budget of failures, 429) → parse into a provider-neutral
//! [`PaymentEvent`] (400 when malformed) → the core's
//! [`Intake`](subvisor_actors::payments::Intake): stored before anything else,
//! applied through the order's user actor, finished with its outcome. A
//! duplicate answers 200 and does nothing. If processing keeps failing after
//! the intake's own retries, 503 asks the provider to deliver it again — the
//! event stays stored, and the service finishes it by itself anyway.
//!
//! Verified callbacks are never rate-limited: only requests that fail
//! verification count against the client's budget.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};
use subvisor_actors::domain::{Currency, Money, OrderId};
use subvisor_actors::payments::events;
use subvisor_actors::payments::{Intake, PaymentEvent};
use tracing::Span;
use tracing::field::Empty;

use crate::error::ApiError;
use crate::public::PublicState;
use crate::rate_limit::client_ip;
use crate::signature::{verify_cryptobot, verify_nowpayments};

/// Largest callback body accepted.
pub const MAX_WEBHOOK_BODY: usize = 64 * 1024;

/// Secrets and formats of the configured providers (absent = endpoint answers 404).
#[derive(Clone, Default)]
pub struct WebhookSecrets {
    /// Crypto Pay app token and the minor-unit digits of invoice amounts.
    pub cryptobot: Option<(String, u32)>,
    /// NOWPayments IPN secret and the minor-unit digits of `price_amount`.
    pub nowpayments: Option<(String, u32)>,
}

impl std::fmt::Debug for WebhookSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSecrets")
            .field("cryptobot", &self.cryptobot.as_ref().map(|_| "<redacted>"))
            .field(
                "nowpayments",
                &self.nowpayments.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

fn outcome_metric(provider: &'static str, outcome: &str) {
    metrics::counter!(subvisor_actors::metrics::PAYMENTS, "provider" => provider, "outcome" => outcome.to_owned()).increment(1);
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// A callback that failed verification: 401, or 429 once this client has
/// spent its budget of failures.
fn refused(state: &PublicState, req: &HttpRequest, provider: &'static str) -> ApiError {
    outcome_metric(provider, "bad_signature");
    match client_ip(req, &state.trusted_proxies) {
        Some(ip) if !state.rate_limit.check(ip) => {
            metrics::counter!("subvisor_public_rate_limited_total").increment(1);
            ApiError::RateLimited
        }
        _ => ApiError::Unauthorized,
    }
}

#[tracing::instrument(
    name = "payment_callback",
    skip_all,
    fields(provider = "cryptobot", order = Empty)
)]
pub(crate) async fn cryptobot(
    state: web::Data<PublicState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let Some((token, decimals)) = state.webhooks.cryptobot.clone() else {
        return Err(ApiError::NotFound("Crypto Pay is not configured".into()));
    };
    let signature = header(&req, "crypto-pay-api-signature").unwrap_or("");
    if !verify_cryptobot(&token, &body, signature) {
        return Err(refused(&state, &req, "cryptobot"));
    }
    let event = parse_cryptobot(&body, decimals)
        .inspect_err(|_| outcome_metric("cryptobot", "malformed"))?;
    take_in(&state.intake, event, &body).await
}

#[tracing::instrument(
    name = "payment_callback",
    skip_all,
    fields(provider = "nowpayments", order = Empty)
)]
pub(crate) async fn nowpayments(
    state: web::Data<PublicState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let Some((secret, decimals)) = state.webhooks.nowpayments.clone() else {
        return Err(ApiError::NotFound("NOWPayments is not configured".into()));
    };
    let signature = header(&req, "x-nowpayments-sig").unwrap_or("");
    if !verify_nowpayments(&secret, &body, signature) {
        return Err(refused(&state, &req, "nowpayments"));
    }
    let event = parse_nowpayments(&body, decimals)
        .inspect_err(|_| outcome_metric("nowpayments", "malformed"))?;
    take_in(&state.intake, event, &body).await
}

fn malformed(what: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(format!("malformed callback: {what}"))
}

/// Crypto Pay update: `{"update_id", "update_type": "invoice_paid", "payload": {invoice_id, status,
/// currency_type, asset | fiat, amount, payload: "<order id>", …}}`.
fn parse_cryptobot(body: &[u8], decimals: u32) -> Result<PaymentEvent, ApiError> {
    #[derive(Deserialize)]
    struct Update {
        update_id: i64,
        update_type: String,
        payload: Invoice,
    }
    #[derive(Deserialize)]
    struct Invoice {
        invoice_id: i64,
        status: String,
        currency_type: Option<String>,
        asset: Option<String>,
        fiat: Option<String>,
        amount: String,
        payload: Option<String>,
    }
    let update: Update = serde_json::from_slice(body).map_err(malformed)?;
    let inv = update.payload;
    let order = inv
        .payload
        .as_deref()
        .and_then(|p| p.parse::<OrderId>().ok());
    if update.update_type == "invoice_paid" && inv.status == "paid" {
        let code = match inv.currency_type.as_deref() {
            Some("fiat") => inv.fiat,
            _ => inv.asset,
        }
        .ok_or_else(|| malformed("invoice without asset or fiat"))?;
        let currency = Currency::new(code.to_ascii_uppercase()).map_err(malformed)?;
        let paid = Money::parse_decimal(&inv.amount, decimals, currency)
            .ok_or_else(|| malformed(format!("amount {:?}", inv.amount)))?;
        Ok(events::cryptobot_paid(inv.invoice_id, order, paid))
    } else {
        Ok(events::cryptobot_other(
            update.update_id,
            order,
            &update.update_type,
        ))
    }
}

/// NOWPayments IPN: `{payment_id, payment_status, order_id, price_amount, price_currency, …}`.
/// Statuses arrive duplicated and out of order; each (payment, status) is one event.
fn parse_nowpayments(body: &[u8], decimals: u32) -> Result<PaymentEvent, ApiError> {
    let v: Value = serde_json::from_slice(body).map_err(malformed)?;
    let payment_id = match &v["payment_id"] {
        Value::Number(n) => n.to_string(),
        Value::String(s) if !s.is_empty() => s.clone(),
        _ => return Err(malformed("no payment_id")),
    };
    let status = v["payment_status"]
        .as_str()
        .ok_or_else(|| malformed("no payment_status"))?;
    let order = v["order_id"]
        .as_str()
        .and_then(|o| o.parse::<OrderId>().ok());
    let price = if status == "finished" {
        let amount = match &v["price_amount"] {
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.clone(),
            _ => return Err(malformed("no price_amount")),
        };
        let code = v["price_currency"]
            .as_str()
            .ok_or_else(|| malformed("no price_currency"))?;
        let currency = Currency::new(code.to_ascii_uppercase()).map_err(malformed)?;
        Some(
            Money::parse_decimal(&amount, decimals, currency)
                .ok_or_else(|| malformed(format!("price_amount {amount}")))?,
        )
    } else {
        None
    };
    events::nowpayments_status(&payment_id, status, order, price)
        .ok_or_else(|| malformed("finished without a price"))
}

/// Hands a verified, parsed event to the intake and maps its answer.
async fn take_in(
    intake: &Intake,
    event: PaymentEvent,
    body: &[u8],
) -> Result<HttpResponse, ApiError> {
    // The intake's own span names the event; this one adds the order.
    if let Some(order) = &event.order {
        Span::current().record("order", tracing::field::display(order));
    }
    let raw = String::from_utf8_lossy(body);
    let receipt = intake.receive(event, &raw).await.map_err(|e| {
        if e.is_transient() {
            ApiError::RetryLater(e)
        } else {
            ApiError::Core(e)
        }
    })?;
    if receipt.duplicate {
        return Ok(HttpResponse::Ok().json(json!({ "ok": true, "duplicate": true })));
    }
    Ok(HttpResponse::Ok().json(json!({ "ok": true, "outcome": receipt.outcome })))
}
