//! The ops listener: `/healthz`, `/readyz`, `/metrics`, and the ops API under
//! `/ops` (bearer token when `ops.token` is set). Writes go through the user's
//! actor like everything else; reads are read-only store queries.

use std::sync::Arc;

use actix_web::middleware::from_fn;
use actix_web::{HttpResponse, web};
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Deserialize;
use serde_json::json;
use subvisor_actors::Registry;
use subvisor_actors::domain::NodeName;
use subvisor_actors::domain::{Money, OrderId, PlanId, Provider};
use subvisor_actors::domain::{Principal, UserId};
use subvisor_actors::leader::Leadership;
use subvisor_actors::messages::AdjustBalance;
use subvisor_actors::messages::{GrantDays, Reissue, Revoke, RotateSubToken};
use subvisor_actors::metrics as m;
use subvisor_actors::payments::{Intake, PaymentClients, PaymentReconciler, Purchase};
use subvisor_actors::provisioning::{DriftBook, ReconcileRequest, ReconcilerHandle, SandboxNode};
use subvisor_actors::store::{Change, UserSnapshot};
use subvisor_actors::workers::Supervisor;

use crate::auth::{OpsToken, require_token};
use crate::error::ApiError;
use crate::telegram::BotProbe;
use subvisor_actors::links::LinkBook;

use crate::views::{NodeView, NodesView, UserView};

/// Everything the ops routes need.
#[derive(Clone)]
pub struct OpsState {
    pub registry: Registry,
    pub metrics: PrometheusHandle,
    /// `ops.token`; `None` leaves `/ops/*` open (only sensible on loopback).
    pub token: Option<String>,
    pub balance_currency: String,
    pub links: LinkBook,
    pub reconciler: ReconcilerHandle,
    pub payments: PaymentClients,
    pub intake: Intake,
    pub payment_reconciler: PaymentReconciler,
    /// The background workers' supervisor (`/ops/workers`, `/readyz`).
    pub workers: Supervisor,
    /// The singleton roles this instance leads or stands by for (`/ops/leadership`).
    pub leadership: Leadership,
    /// The Telegram bot, when it is on (`/ops/bot`, shown by `/readyz`).
    pub bot: Option<Arc<dyn BotProbe>>,
    /// Each node's drift from its `[[nodes]]` entry (`/ops/nodes`).
    pub drift: DriftBook,
    /// `subscription.default_devices` (the device limit no plan set).
    pub default_devices: u32,
    /// The ops listener is bound to a non-loopback address: the console is
    /// off unless `token` is set.
    pub ops_public: bool,
}

impl OpsState {
    fn user_view(&self, snapshot: &UserSnapshot) -> UserView {
        let now = self.registry.clock().now();
        UserView::new(snapshot, &self.balance_currency, &self.links, now)
    }

    /// The user view with the user's devices (what `GET /ops/users/{id}` shows).
    async fn full_view(&self, snapshot: &UserSnapshot) -> Result<UserView, ApiError> {
        let mut view = self.user_view(snapshot);
        let devices = self.registry.queries().devices(snapshot.user).await?;
        view.devices = Some(crate::views::DevicesView::new(
            &devices,
            self.default_devices,
        ));
        view.auto_renew = Some(
            self.registry
                .queries()
                .auto_renew_plan(snapshot.user)
                .await?,
        );
        view.traffic = self.registry.queries().traffic(snapshot.user).await?;
        Ok(view)
    }

    async fn view(&self, change: &Change) -> Result<HttpResponse, ApiError> {
        Ok(HttpResponse::Ok().json(self.full_view(&change.snapshot).await?))
    }
}

/// Largest grant one call may make (ten years).
pub(crate) const MAX_GRANT_DAYS: u32 = 3660;

pub fn configure_ops(state: OpsState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        let console = crate::console::ConsoleKeys::new(state.token.as_deref(), state.ops_public);
        cfg.app_data(web::Data::new(OpsToken(state.token.clone())))
            .app_data(web::Data::new(console))
            .app_data(web::Data::new(state))
            .app_data(
                web::JsonConfig::default()
                    .limit(16 * 1024)
                    .error_handler(|err, _| {
                        ApiError::BadRequest(format!("invalid JSON body: {err}")).into()
                    }),
            )
            .app_data(web::PathConfig::default().error_handler(|err, _| {
                ApiError::BadRequest(format!("invalid path: {err}")).into()
            }))
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(render_metrics))
            .service(
                web::scope("/ops")
                    .wrap(from_fn(require_token))
                    .route("/actors", web::get().to(actors))
                    .route("/workers", web::get().to(workers))
                    .route("/leadership", web::get().to(leadership))
                    .route("/bot", web::get().to(bot))
                    .route("/nodes", web::get().to(nodes))
                    .route("/outboxes", web::get().to(outboxes))
                    .route("/payments/flagged", web::get().to(flagged_payments))
                    .route("/audit", web::get().to(ops_audit))
                    .route("/users/{id}", web::get().to(user))
                    .route("/users/{id}/grant", web::post().to(grant))
                    .route("/users/{id}/revoke", web::post().to(revoke))
                    .route("/users/{id}/reissue", web::post().to(reissue))
                    .route(
                        "/users/{id}/rotate-sub-token",
                        web::post().to(rotate_sub_token),
                    )
                    .route("/users/{id}/orders", web::post().to(create_order))
                    .route("/users/{id}/balance", web::post().to(adjust_balance))
                    .route(
                        "/users/{id}/traffic/reset",
                        web::post().to(crate::ops_traffic::reset),
                    )
                    .route(
                        "/users/{id}/devices",
                        web::delete().to(crate::ops_devices::reset),
                    )
                    .route(
                        "/users/{id}/devices/{device}",
                        web::delete().to(crate::ops_devices::remove),
                    )
                    .route("/promos", web::get().to(crate::ops_promos::list))
                    .route("/promos", web::post().to(crate::ops_promos::create))
                    .route(
                        "/promos/{code}/disable",
                        web::post().to(crate::ops_promos::disable),
                    )
                    .route("/orders/{id}", web::get().to(order))
                    .route("/orders/{id}/refund", web::post().to(refund))
                    .route("/payments/reconcile", web::post().to(reconcile_payments))
                    .route("/reconcile", web::post().to(reconcile)),
            )
            .configure(crate::console::routes)
            .default_service(web::to(not_found));
    }
}

pub(crate) async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("no such endpoint".into()))
}

#[tracing::instrument(skip_all)]
pub(crate) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Ready when the store answers and no worker is down. The bot's state is
/// shown (`"bot"`) but does not decide: webhooks, `/sub`, provisioning and the
/// ops API serve while the Bot API is unreachable, and an instance taken out
/// of rotation for Telegram's outage would stop serving them too.
#[tracing::instrument(skip_all)]
async fn readyz(state: web::Data<OpsState>) -> Result<HttpResponse, ApiError> {
    state.registry.queries().ping().await?;
    let down = state.workers.unready();
    let (mut answer, mut body) = if down.is_empty() {
        (HttpResponse::Ok(), json!({ "status": "ready" }))
    } else {
        let body = json!({
            "status": "not ready",
            "error": {
                "code": "workers_down",
                "message": format!("background workers down: {}", down.join(", ")),
            },
            "workers_down": down,
        });
        (HttpResponse::ServiceUnavailable(), body)
    };
    if let Some(bot) = &state.bot {
        body["bot"] = json!(bot.view());
    }
    Ok(answer.json(body))
}

/// The bot: connection state, last error, update intake (`null`: bot off).
#[tracing::instrument(skip_all)]
async fn bot(state: web::Data<OpsState>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "bot": state.bot.as_ref().map(|b| b.view()) }))
}

#[tracing::instrument(skip_all)]
async fn render_metrics(state: web::Data<OpsState>) -> HttpResponse {
    match state.registry.queries().outbox_depth().await {
        Ok(depth) => {
            metrics::gauge!(m::OUTBOX_DEPTH, "outbox" => "provisioning")
                .set(depth.provisioning as f64);
            metrics::gauge!(m::OUTBOX_DEPTH, "outbox" => "notifications")
                .set(depth.notifications as f64);
            metrics::gauge!(m::OUTBOX_DEPTH, "outbox" => "alerts").set(depth.alerts as f64);
            metrics::gauge!(m::PAYMENT_EVENTS_UNFINISHED).set(depth.payment_events as f64);
        }
        Err(e) => tracing::warn!(error = %e, "could not read outbox depth for /metrics"),
    }
    crate::metrics::refresh(&state).await;
    state.metrics.run_upkeep();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render())
}

/// Each background worker: state, restarts, down time, last failure.
#[tracing::instrument(skip_all)]
async fn workers(state: web::Data<OpsState>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "workers": state.workers.views() }))
}

/// Each singleton role: whether this instance leads it, and for how long
/// without another renewal.
#[tracing::instrument(skip_all)]
async fn leadership(state: web::Data<OpsState>) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "roles": state.leadership.views() }))
}

#[tracing::instrument(skip_all)]
async fn actors(state: web::Data<OpsState>) -> HttpResponse {
    HttpResponse::Ok().json(state.registry.stats())
}

#[tracing::instrument(skip_all)]
async fn nodes(state: web::Data<OpsState>) -> Result<HttpResponse, ApiError> {
    let backlogs = state.registry.queries().node_backlogs().await?;
    let statuses = state.registry.provisioner().statuses();
    let sandbox = statuses.iter().all(|s| s.name == SandboxNode::NAME);
    let nodes = statuses
        .into_iter()
        .map(|s| {
            let backlog = backlogs.iter().find(|b| b.node == s.name);
            let drift = state.drift.drift(&s.name);
            let last_reconcile = state.reconciler.last(&s.name);
            NodeView {
                drift,
                oldest_pending_at: backlog.map(|b| b.oldest_at),
                last_reconcile,
                ..NodeView::new(s, backlog.map_or(0, |b| b.pending))
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(NodesView { sandbox, nodes }))
}

/// `GET /ops/outboxes`: each outbox's depth, oldest pending row, retrying and failed rows.
#[tracing::instrument(skip_all)]
async fn outboxes(state: web::Data<OpsState>) -> Result<HttpResponse, ApiError> {
    let outboxes = state.registry.queries().outbox_stats().await?;
    Ok(HttpResponse::Ok().json(json!({ "outboxes": outboxes })))
}

/// `GET /ops/payments/flagged`: payments and orders flagged for ops, newest first.
#[tracing::instrument(skip_all)]
async fn flagged_payments(state: web::Data<OpsState>) -> Result<HttpResponse, ApiError> {
    let flagged = state.registry.queries().flagged_payments(100).await?;
    Ok(HttpResponse::Ok().json(json!({ "flagged": flagged })))
}

/// `GET /ops/audit`: the audit rows of ops actions (and of no user), newest first.
#[tracing::instrument(skip_all)]
async fn ops_audit(state: web::Data<OpsState>) -> Result<HttpResponse, ApiError> {
    let entries = state.registry.queries().recent_ops_audit(100).await?;
    Ok(HttpResponse::Ok().json(json!({ "audit": entries })))
}

pub(crate) fn parse_user(raw: &str) -> Result<UserId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::BadRequest(format!("{raw:?} is not a Telegram user id")))
}

#[tracing::instrument(skip_all, fields(user = %path.as_str()))]
async fn user(
    state: web::Data<OpsState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = parse_user(&path)?;
    let snapshot = state
        .registry
        .queries()
        .user(user)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("user {user} not found")))?;
    Ok(HttpResponse::Ok().json(state.full_view(&snapshot).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantBody {
    days: u32,
}

#[tracing::instrument(skip_all, fields(user = %path.as_str()))]
async fn grant(
    state: web::Data<OpsState>,
    path: web::Path<String>,
    body: web::Json<GrantBody>,
) -> Result<HttpResponse, ApiError> {
    parse_user(&path)?; // a bad id is reported before a bad day count
    if !(1..=MAX_GRANT_DAYS).contains(&body.days) {
        return Err(ApiError::BadRequest(format!(
            "days must be 1..={MAX_GRANT_DAYS}"
        )));
    }
    let grant = GrantDays {
        days: body.days,
        by: Principal::Ops,
    };
    write(&state, &path, grant).await
}

/// Sends `msg` to the user's actor (like every write) and answers with the committed view.
pub(crate) async fn write<M>(
    state: &OpsState,
    raw_user: &str,
    msg: M,
) -> Result<HttpResponse, ApiError>
where
    M: actix::Message<Result = subvisor_actors::Result<Change>> + Send + 'static,
    subvisor_actors::UserActor: actix::Handler<M>,
    <subvisor_actors::UserActor as actix::Actor>::Context:
        actix::dev::ToEnvelope<subvisor_actors::UserActor, M>,
{
    let user = parse_user(raw_user)?;
    let change = state.registry.send(user, msg).await?;
    state.view(&change).await
}

#[tracing::instrument(skip_all, fields(user = %path.as_str()))]
async fn revoke(
    state: web::Data<OpsState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    write(&state, &path, Revoke { by: Principal::Ops }).await
}

#[tracing::instrument(skip_all, fields(user = %path.as_str()))]
async fn reissue(
    state: web::Data<OpsState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    write(&state, &path, Reissue { by: Principal::Ops }).await
}

#[tracing::instrument(skip_all, fields(user = %path.as_str()))]
async fn rotate_sub_token(
    state: web::Data<OpsState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    write(&state, &path, RotateSubToken { by: Principal::Ops }).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReconcileBody {
    node: Option<String>,
    #[serde(default)]
    dry_run: bool,
}

/// `POST /ops/reconcile` with an optional body `{"node": "de-1", "dry_run": true}`.
#[tracing::instrument(skip_all)]
async fn reconcile(state: web::Data<OpsState>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let body: ReconcileBody = if body.iter().all(u8::is_ascii_whitespace) {
        ReconcileBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?
    };
    let node = body
        .node
        .map(NodeName::new)
        .transpose()
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let diffs = state
        .reconciler
        .reconcile(ReconcileRequest {
            node,
            dry_run: body.dry_run,
        })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "nodes": diffs })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderBody {
    /// A plan to buy …
    plan: Option<String>,
    /// … or an amount (minor units of the balance currency) to top the balance up by.
    topup_minor: Option<i64>,
    provider: String,
    /// A promo code for the plan (its discounted price is the order's amount).
    #[serde(default)]
    promo: Option<String>,
    /// Buy the plan as a gift (the paid order yields a one-time gift link).
    #[serde(default)]
    gift: bool,
}

/// `POST /ops/users/{id}/orders {"plan" | "topup_minor", "provider"}`: a
/// pending order priced from config (or a top-up); Crypto Pay / NOWPayments /
/// Stars answer with the payment URL, `balance` pays a plan from the balance at once.
#[tracing::instrument(skip_all, fields(user = %path.as_str(), provider = %body.provider))]
async fn create_order(
    state: web::Data<OpsState>,
    req: actix_web::HttpRequest,
    path: web::Path<String>,
    body: web::Json<OrderBody>,
) -> Result<HttpResponse, ApiError> {
    let user = parse_user(&path)?;
    let idempotency_key = match req.headers().get("idempotency-key") {
        Some(v) => {
            let key = v
                .to_str()
                .ok()
                .map(str::trim)
                .filter(|k| !k.is_empty() && k.len() <= 128)
                .ok_or_else(|| {
                    ApiError::BadRequest("Idempotency-Key must be 1-128 visible characters".into())
                })?;
            Some(format!("ops:{key}"))
        }
        None => None,
    };
    let provider: Provider = body
        .provider
        .parse()
        .map_err(|e: subvisor_actors::Error| ApiError::BadRequest(e.to_string()))?;
    if !state.payments.offers(provider) {
        return Err(ApiError::BadRequest(format!(
            "payment provider {provider} is not configured"
        )));
    }
    let purchase = match (&body.plan, body.topup_minor) {
        (Some(plan), None) => {
            let plan =
                PlanId::new(plan.clone()).map_err(|e| ApiError::BadRequest(e.to_string()))?;
            if body.promo.is_some() || body.gift {
                Purchase::PlanWith {
                    plan,
                    promo: body.promo.clone(),
                    gift: body.gift,
                }
            } else {
                Purchase::Plan(plan)
            }
        }
        (None, Some(minor)) => {
            let currency = subvisor_actors::domain::Currency::new(state.balance_currency.clone())
                .map_err(|e| ApiError::BadRequest(e.to_string()))?;
            Purchase::TopUp(Money::new(minor, currency))
        }
        _ => {
            return Err(ApiError::BadRequest(
                "give exactly one of plan and topup_minor".into(),
            ));
        }
    };
    let checkout = state
        .payments
        .checkout(
            &state.registry,
            user,
            purchase,
            provider,
            Principal::Ops,
            true,
            idempotency_key,
        )
        .await?;
    if let Some(snapshot) = &checkout.paid {
        let view = state.user_view(snapshot);
        return Ok(HttpResponse::Ok().json(json!({
            "order_id": checkout.order.id, "status": "paid", "reused": checkout.reused, "user": view,
        })));
    }
    let order = checkout.order;
    Ok(HttpResponse::Ok().json(json!({
        "order_id": order.id,
        "kind": order.kind,
        "status": order.status,
        "amount": order.amount,
        "payment_url": checkout.pay_url,
        "reused": checkout.reused,
    })))
}

/// The order named by a path segment, or 400/404.
pub(crate) async fn find_order(
    state: &OpsState,
    raw: &str,
) -> Result<subvisor_actors::domain::Order, ApiError> {
    let id = parse_order(raw)?;
    state
        .registry
        .queries()
        .order(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("order {id} not found")))
}

fn parse_order(raw: &str) -> Result<OrderId, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::BadRequest(format!("{raw:?} is not an order id")))
}

/// `GET /ops/orders/{id}`: the order, every payment event about it (callbacks,
/// Telegram updates, reconciler findings, with their outcomes) and every
/// payment settled against it.
#[tracing::instrument(skip_all, fields(order = %path.as_str()))]
async fn order(
    state: web::Data<OpsState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let order = find_order(&state, &path).await?;
    let store = state.registry.queries();
    let events = store.webhook_events_for_order(order.id).await?;
    let payments = store.payments_of_order(order.id).await?;
    let gift = store.gift_of_order(order.id).await?;
    Ok(HttpResponse::Ok().json(json!({
        "order": order, "webhook_events": events, "payments": payments, "gift": gift,
    })))
}

/// `POST /ops/orders/{id}/refund`: Stars go back through Telegram first; then
/// the order's days (and a balance purchase) are reversed. For the invoice-page
/// providers, ops return the money in the provider's dashboard.
#[tracing::instrument(skip_all, fields(order = %path.as_str()))]
async fn refund(
    state: web::Data<OpsState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let order = find_order(&state, &path).await?;
    let receipt = state.intake.refund_order(&order, Principal::Ops).await?;
    let user = receipt.snapshot.as_ref().map(|s| state.user_view(s));
    Ok(HttpResponse::Ok().json(json!({ "outcome": receipt.outcome, "user": user })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PaymentsReconcileBody {
    #[serde(default)]
    dry_run: bool,
}

/// `POST /ops/payments/reconcile` with an optional body `{"dry_run": true}`:
/// asks every provider about our unpaid orders now and applies what it finds.
#[tracing::instrument(skip_all)]
async fn reconcile_payments(
    state: web::Data<OpsState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: PaymentsReconcileBody = if body.iter().all(u8::is_ascii_whitespace) {
        PaymentsReconcileBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?
    };
    let report = state.payment_reconciler.pass(body.dry_run).await?;
    Ok(HttpResponse::Ok().json(report))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BalanceBody {
    amount_minor: i64,
    note: String,
}

/// `POST /ops/users/{id}/balance {"amount_minor", "note"}`: an admin ledger entry.
#[tracing::instrument(skip_all, fields(user = %path.as_str()))]
async fn adjust_balance(
    state: web::Data<OpsState>,
    path: web::Path<String>,
    body: web::Json<BalanceBody>,
) -> Result<HttpResponse, ApiError> {
    if body.amount_minor == 0 || body.note.trim().is_empty() {
        return Err(ApiError::BadRequest(
            "amount_minor must not be 0 and note must not be empty".into(),
        ));
    }
    let currency = subvisor_actors::domain::Currency::new(state.balance_currency.clone())
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let msg = AdjustBalance {
        amount: Money::new(body.amount_minor, currency),
        note: body.note.clone(),
        by: Principal::Ops,
    };
    write(&state, &path, msg).await
}
