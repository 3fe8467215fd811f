//! Payment provider callbacks: `POST /pay/cryptobot` and `POST /pay/nowpayments`.
//!
//! Order of work, every time: bounded raw body → signature over the raw body
//! (401 and a counter, nothing stored, when it is missing or wrong) → parse
//! (400 when malformed) → store the event once by (provider, event id)
//! (a duplicate answers 200 and does nothing) → route to the order's user
//! actor. The amount and currency are compared with our order row, never
//! trusted from the body. If processing fails the event is forgotten and 503
//! asks the provider to deliver it again.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};
use subvisor_actors::Error as CoreError;
use subvisor_actors::domain::{Currency, Money, OrderId, OrderStatus, Principal};
use subvisor_actors::messages::{ApplyPayment, RefundOrder};
use subvisor_actors::store::{WebhookEvent, WriteCtx};

use crate::error::ApiError;
use crate::public::PublicState;
use crate::signature::{verify_cryptobot, verify_nowpayments};

/// A stored callback still `received` after this long was interrupted.
const STALE_RECEIVED: chrono::TimeDelta = chrono::TimeDelta::seconds(30);

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

/// What a callback asks us to do.
#[derive(Debug)]
enum Action {
    Apply {
        provider_payment_id: String,
        paid: Money,
    },
    /// Partially paid: flag the order and tell ops; no grant.
    Flag(&'static str),
    Close(OrderStatus),
    Refund,
    /// Informational (waiting, confirming…): stored only.
    Record,
    /// A status we do not know: logged as an error, nothing granted.
    Unknown(String),
}

struct Parsed {
    event_id: String,
    order: Option<OrderId>,
    action: Action,
}

fn outcome_metric(provider: &'static str, outcome: &str) {
    metrics::counter!("subvisor_payments_total", "provider" => provider, "outcome" => outcome.to_owned()).increment(1);
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

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
        outcome_metric("cryptobot", "bad_signature");
        return Err(ApiError::Unauthorized);
    }
    let parsed = parse_cryptobot(&body, decimals)
        .inspect_err(|_| outcome_metric("cryptobot", "malformed"))?;
    handle(&state, "cryptobot", parsed, &body).await
}

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
        outcome_metric("nowpayments", "bad_signature");
        return Err(ApiError::Unauthorized);
    }
    let parsed = parse_nowpayments(&body, decimals)
        .inspect_err(|_| outcome_metric("nowpayments", "malformed"))?;
    handle(&state, "nowpayments", parsed, &body).await
}

fn malformed(what: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(format!("malformed callback: {what}"))
}

/// Crypto Pay update: `{"update_id", "update_type": "invoice_paid", "payload": {invoice_id, status,
/// currency_type, asset | fiat, amount, payload: "<order id>", …}}`.
fn parse_cryptobot(body: &[u8], decimals: u32) -> Result<Parsed, ApiError> {
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
    let action = if update.update_type == "invoice_paid" && inv.status == "paid" {
        let code = match inv.currency_type.as_deref() {
            Some("fiat") => inv.fiat,
            _ => inv.asset,
        }
        .ok_or_else(|| malformed("invoice without asset or fiat"))?;
        let currency = Currency::new(code.to_ascii_uppercase()).map_err(malformed)?;
        let paid = Money::parse_decimal(&inv.amount, decimals, currency)
            .ok_or_else(|| malformed(format!("amount {:?}", inv.amount)))?;
        Action::Apply {
            provider_payment_id: format!("cryptobot:{}", inv.invoice_id),
            paid,
        }
    } else {
        Action::Record
    };
    Ok(Parsed {
        event_id: update.update_id.to_string(),
        order,
        action,
    })
}

/// NOWPayments IPN: `{payment_id, payment_status, order_id, price_amount, price_currency, …}`.
/// Statuses arrive duplicated and out of order; each (payment, status) is one event.
fn parse_nowpayments(body: &[u8], decimals: u32) -> Result<Parsed, ApiError> {
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
    let action = match status {
        "finished" => {
            let amount = match &v["price_amount"] {
                Value::Number(n) => n.to_string(),
                Value::String(s) => s.clone(),
                _ => return Err(malformed("no price_amount")),
            };
            let code = v["price_currency"]
                .as_str()
                .ok_or_else(|| malformed("no price_currency"))?;
            let currency = Currency::new(code.to_ascii_uppercase()).map_err(malformed)?;
            let paid = Money::parse_decimal(&amount, decimals, currency)
                .ok_or_else(|| malformed(format!("price_amount {amount}")))?;
            Action::Apply {
                provider_payment_id: format!("nowpayments:{payment_id}"),
                paid,
            }
        }
        "partially_paid" => Action::Flag("partially_paid"),
        "failed" => Action::Close(OrderStatus::Failed),
        "expired" => Action::Close(OrderStatus::Expired),
        "refunded" => Action::Refund,
        "waiting" | "confirming" | "confirmed" | "sending" => Action::Record,
        other => Action::Unknown(other.to_owned()),
    };
    Ok(Parsed {
        event_id: format!("{payment_id}:{status}"),
        order,
        action,
    })
}

async fn handle(
    state: &PublicState,
    provider: &'static str,
    parsed: Parsed,
    body: &[u8],
) -> Result<HttpResponse, ApiError> {
    let store = state.registry.store();
    let now = state.registry.clock().now();
    let event = WebhookEvent {
        provider: provider.to_owned(),
        event_id: parsed.event_id.clone(),
        order: parsed.order,
        received_at: now,
        outcome: "received".into(),
        payload: String::from_utf8_lossy(body).into_owned(),
    };
    if !store.record_webhook_event(&event).await? {
        // Seen before. If it never got past "received" (the process died
        // between storing and applying it), process it again: every action
        // below is idempotent or guarded. A fresh "received" is a concurrent
        // delivery still being processed.
        let stale = store
            .webhook_event(provider, &parsed.event_id)
            .await?
            .is_some_and(|e| e.outcome == "received" && now - e.received_at > STALE_RECEIVED);
        if !stale {
            outcome_metric(provider, "duplicate");
            return Ok(HttpResponse::Ok().json(json!({ "ok": true, "duplicate": true })));
        }
        tracing::warn!(provider, event = %parsed.event_id, "re-processing a callback left unprocessed");
    }
    let order = match parsed.order {
        Some(id) => store.order(id).await?,
        None => None,
    };
    let Some(order) = order else {
        tracing::warn!(provider, event = %parsed.event_id, "callback for an unknown order; recorded for ops");
        store
            .set_webhook_outcome(provider, &parsed.event_id, "unknown_order")
            .await?;
        outcome_metric(provider, "unknown_order");
        return Ok(HttpResponse::Ok().json(json!({ "ok": true, "outcome": "unknown_order" })));
    };
    let ctx_nodes = state.registry.provisioner().node_names().to_vec();
    let ctx = WriteCtx {
        now,
        by: Principal::User(order.user),
        nodes: &ctx_nodes,
    };
    let result: Result<&str, CoreError> = match parsed.action {
        Action::Apply {
            provider_payment_id,
            paid,
        } => state
            .registry
            .send(
                order.user,
                ApplyPayment {
                    order: order.id,
                    provider_payment_id,
                    paid: Some(paid),
                },
            )
            .await
            .map(|c| {
                if c.applied {
                    "applied"
                } else {
                    "already_applied"
                }
            }),
        Action::Flag(reason) => store
            .flag_order(&ctx, order.id, reason)
            .await
            .map(|()| reason),
        Action::Close(status) => store
            .close_order(&ctx, order.id, status)
            .await
            .map(|closed| if closed { "closed" } else { "not_pending" }),
        Action::Refund => state
            .registry
            .send(
                order.user,
                RefundOrder {
                    order: order.id,
                    by: Principal::System,
                },
            )
            .await
            .map(|c| if c.applied { "refunded" } else { "not_paid" }),
        Action::Record => Ok("recorded"),
        Action::Unknown(status) => {
            tracing::error!(provider, %status, order = %order.id, "unknown payment status: nothing granted");
            Ok("unknown_status")
        }
    };
    match result {
        Ok(outcome) => {
            store
                .set_webhook_outcome(provider, &parsed.event_id, outcome)
                .await?;
            outcome_metric(provider, outcome);
            Ok(HttpResponse::Ok().json(json!({ "ok": true, "outcome": outcome })))
        }
        // Final answers: stored, 200 so the provider stops; ops see the outcome.
        Err(
            e @ (CoreError::AmountMismatch { .. }
            | CoreError::OrderNotPayable { .. }
            | CoreError::DuplicateProviderPayment(_)
            | CoreError::OrderOfAnotherUser { .. }),
        ) => {
            let outcome = match e {
                CoreError::AmountMismatch { .. } => "amount_mismatch",
                CoreError::OrderNotPayable { .. } => "order_not_payable",
                CoreError::DuplicateProviderPayment(_) => "duplicate_provider_payment",
                _ => "order_of_another_user",
            };
            tracing::warn!(provider, order = %order.id, error = %e, "payment not applied");
            store
                .set_webhook_outcome(provider, &parsed.event_id, outcome)
                .await?;
            outcome_metric(provider, outcome);
            Ok(HttpResponse::Ok().json(json!({ "ok": true, "outcome": outcome })))
        }
        // Transient (busy, store down…): forget the event so the retry is processed.
        Err(e) => {
            tracing::warn!(provider, order = %order.id, error = %e, "callback processing failed; asking for a retry");
            store
                .forget_webhook_event(provider, &parsed.event_id)
                .await
                .ok();
            outcome_metric(provider, "retry");
            Err(ApiError::Core(e))
        }
    }
}
