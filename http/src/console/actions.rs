//! What the console's forms do. Every action needs a session and the
//! session's CSRF token; every write goes where the JSON API's goes (the
//! user's actor, the payment intake, the node's reconciler) and is recorded
//! in the audit log with the operator's name and reason.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::json;
use subvisor_actors::domain::{NodeName, Principal, UserId};
use subvisor_actors::messages::{GrantDays, ResetDevices, Revoke};
use subvisor_actors::provisioning::{NodeDiff, ReconcileRequest};

use super::session::{self, BASE, LIFETIME_SECS, Session};
use super::{csrf, failure, nonce, render};
use crate::error::ApiError;
use crate::ops::{MAX_GRANT_DAYS, OpsState, find_order, parse_user};

fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to.to_owned()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

#[derive(Debug, Deserialize)]
pub(crate) struct SignInForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    name: String,
}

/// `POST /console/sign-in`: the ops token (compared in constant time) for a
/// session cookie.
pub(crate) async fn sign_in(req: HttpRequest, form: web::Form<SignInForm>) -> HttpResponse {
    let Some(keys) = session::keys(&req).filter(|k| !k.off) else {
        return actix_web::ResponseError::error_response(&session::Denied::Off);
    };
    // The TCP peer, not a forwarding header a client could vary.
    let peer = req
        .peer_addr()
        .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |a| a.ip());
    if !keys.attempts.check(peer) {
        return super::sign_in_page(
            &req,
            Some("Too many sign-in attempts; wait a minute."),
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    if !keys.token_matches(&form.token) {
        tracing::warn!("console sign-in with a wrong token");
        return super::sign_in_page(
            &req,
            Some("That is not the ops token."),
            StatusCode::UNAUTHORIZED,
        );
    }
    let operator = session::operator_name(&form.name);
    let value = keys.issue(&operator, chrono::Utc::now().timestamp());
    tracing::info!(operator = %operator, "console sign-in");
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, BASE))
        .insert_header((
            header::SET_COOKIE,
            session::set_cookie(&req, &value, LIFETIME_SECS),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

#[derive(Debug, Deserialize)]
pub(crate) struct CsrfOnly {
    csrf: Option<String>,
}

/// `POST /console/sign-out`: the cookie is cleared.
pub(crate) async fn sign_out(
    req: HttpRequest,
    session: Session,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, csrf::Forged> {
    csrf::check(&session, form.csrf.as_deref())?;
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, format!("{BASE}/sign-in")))
        .insert_header((header::SET_COOKIE, session::set_cookie(&req, "", 0)))
        .finish())
}

/// A reason is required for every change to a user: 1–500 characters.
fn reason(raw: Option<&str>) -> Result<String, ApiError> {
    let r = raw.map(str::trim).unwrap_or_default();
    if r.is_empty() || r.chars().count() > 500 {
        return Err(ApiError::BadRequest(
            "give a reason (1-500 characters): it goes into the audit log".into(),
        ));
    }
    Ok(r.to_owned())
}

async fn audit(
    state: &OpsState,
    session: &Session,
    user: Option<UserId>,
    action: &str,
    mut details: serde_json::Value,
) -> Result<(), ApiError> {
    details["operator"] = json!(session.operator);
    details["via"] = json!("console");
    state
        .registry
        .record_audit(Principal::Ops, user, action, details)
        .await?;
    Ok(())
}

#[derive(Debug, Deserialize)]
pub(crate) struct GrantForm {
    csrf: Option<String>,
    days: Option<String>,
    reason: Option<String>,
}

/// `POST /console/users/{id}/grant`: days, with a reason.
pub(crate) async fn grant(
    session: Session,
    state: web::Data<OpsState>,
    path: web::Path<String>,
    form: web::Form<GrantForm>,
) -> Result<HttpResponse, csrf::Forged> {
    csrf::check(&session, form.csrf.as_deref())?;
    let days = form.days.as_deref();
    let registry = &state.registry;
    let change = |user| async move {
        let days: u32 = days
            .and_then(|d| d.trim().parse().ok())
            .filter(|d| (1..=MAX_GRANT_DAYS).contains(d))
            .ok_or_else(|| ApiError::BadRequest(format!("days must be 1..={MAX_GRANT_DAYS}")))?;
        let msg = GrantDays {
            days,
            by: Principal::Ops,
        };
        registry.send(user, msg).await?;
        Ok(json!({ "days": days }))
    };
    let reason = form.reason.as_deref();
    Ok(on_user(&session, &state, &path, reason, "console_grant", change).await)
}

/// The shape of every action on a user: a reason, the change (through the
/// user's actor), an audit row with the operator and the reason, then back
/// to the user's page; a failure is shown to the operator.
async fn on_user<Fut>(
    session: &Session,
    state: &OpsState,
    raw_user: &str,
    raw_reason: Option<&str>,
    action: &str,
    change: impl FnOnce(UserId) -> Fut,
) -> HttpResponse
where
    Fut: std::future::Future<Output = Result<serde_json::Value, ApiError>>,
{
    let done = async {
        let user = parse_user(raw_user)?;
        let why = reason(raw_reason)?;
        let mut details = change(user).await?;
        details["reason"] = json!(why);
        audit(state, session, Some(user), action, details).await?;
        Ok::<_, ApiError>(user)
    };
    match done.await {
        Ok(user) => see_other(&format!("{BASE}/users/{user}")),
        Err(e) => failure(session, e),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct ReasonForm {
    csrf: Option<String>,
    reason: Option<String>,
}

/// `POST /console/users/{id}/revoke`, with a reason.
pub(crate) async fn revoke(
    session: Session,
    state: web::Data<OpsState>,
    path: web::Path<String>,
    form: web::Form<ReasonForm>,
) -> Result<HttpResponse, csrf::Forged> {
    csrf::check(&session, form.csrf.as_deref())?;
    let registry = &state.registry;
    let change = |user| async move {
        let msg = Revoke { by: Principal::Ops };
        registry.send(user, msg).await?;
        Ok(json!({}))
    };
    let reason = form.reason.as_deref();
    Ok(on_user(&session, &state, &path, reason, "console_revoke", change).await)
}

/// `POST /console/users/{id}/devices/reset`, with a reason: the user's
/// devices are forgotten (through the user's actor), freeing every slot.
pub(crate) async fn reset_devices(
    session: Session,
    state: web::Data<OpsState>,
    path: web::Path<String>,
    form: web::Form<ReasonForm>,
) -> Result<HttpResponse, csrf::Forged> {
    csrf::check(&session, form.csrf.as_deref())?;
    let registry = &state.registry;
    let change = |user| async move {
        let msg = ResetDevices { by: Principal::Ops };
        let removed = registry.send(user, msg).await?;
        Ok(json!({ "removed": removed }))
    };
    let reason = form.reason.as_deref();
    Ok(on_user(
        &session,
        &state,
        &path,
        reason,
        "console_reset_devices",
        change,
    )
    .await)
}

/// `POST /console/orders/{id}/refund`, with a reason.
pub(crate) async fn refund(
    session: Session,
    state: web::Data<OpsState>,
    path: web::Path<String>,
    form: web::Form<ReasonForm>,
) -> Result<HttpResponse, csrf::Forged> {
    csrf::check(&session, form.csrf.as_deref())?;
    let done = async {
        let why = reason(form.reason.as_deref())?;
        let order = find_order(&state, &path).await?;
        let receipt = state.intake.refund_order(&order, Principal::Ops).await?;
        audit(
            &state,
            &session,
            Some(order.user),
            "console_refund",
            json!({ "order": order.id, "outcome": receipt.outcome, "reason": why }),
        )
        .await?;
        Ok::<_, ApiError>(order.user)
    };
    Ok(match done.await {
        Ok(user) => see_other(&format!("{BASE}/users/{user}")),
        Err(e) => failure(&session, e),
    })
}

#[derive(Template)]
#[template(path = "console/reconcile.html")]
struct Reconciled<'a> {
    nonce: &'a str,
    csrf: &'a str,
    operator: &'a str,
    node: &'a str,
    d: NodeDiff,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ReconcileForm {
    csrf: Option<String>,
    /// `apply` to change the node; anything else is a dry run.
    mode: Option<String>,
}

fn node_name(raw: &str) -> Result<NodeName, ApiError> {
    NodeName::new(raw.to_owned()).map_err(|e| ApiError::BadRequest(e.to_string()))
}

/// `POST /console/nodes/{name}/reconcile`: a dry run shows the diff (and a
/// button to apply it); `mode=apply` changes the node and is audited.
pub(crate) async fn reconcile(
    session: Session,
    state: web::Data<OpsState>,
    path: web::Path<String>,
    form: web::Form<ReconcileForm>,
) -> Result<HttpResponse, csrf::Forged> {
    csrf::check(&session, form.csrf.as_deref())?;
    let apply = form.mode.as_deref() == Some("apply");
    let done = async {
        let node = node_name(&path)?;
        let diffs = state
            .reconciler
            .reconcile(ReconcileRequest {
                node: Some(node.clone()),
                dry_run: !apply,
            })
            .await?;
        let diff = diffs.into_iter().next().unwrap_or_default();
        if apply {
            audit(
                &state,
                &session,
                None,
                "console_reconcile",
                json!({
                    "node": node.as_str(), "missing": diff.missing, "extra": diff.extra,
                    "mismatched": diff.mismatched, "fixed": diff.fixed, "failed": diff.failed,
                    "removed_sample": diff.sample_extra, "error": diff.error,
                }),
            )
            .await?;
        }
        Ok::<_, ApiError>((node, diff))
    };
    Ok(match done.await {
        Ok((node, d)) => {
            let nonce = nonce();
            let t = Reconciled {
                nonce: &nonce,
                csrf: &session.csrf,
                operator: &session.operator,
                node: node.as_str(),
                d,
            };
            render(StatusCode::OK, &nonce, &t)
        }
        Err(e) => failure(&session, e),
    })
}

/// `POST /console/nodes/{name}/retry`: the node's pending ops are due now.
pub(crate) async fn retry(
    session: Session,
    state: web::Data<OpsState>,
    path: web::Path<String>,
    form: web::Form<CsrfOnly>,
) -> Result<HttpResponse, csrf::Forged> {
    csrf::check(&session, form.csrf.as_deref())?;
    let done = async {
        let node = node_name(&path)?;
        state
            .registry
            .retry_node_now(Principal::Ops, &session.operator, &node)
            .await?;
        Ok::<_, ApiError>(())
    };
    Ok(match done.await {
        Ok(()) => see_other(&format!("{BASE}#nodes")),
        Err(e) => failure(&session, e),
    })
}
