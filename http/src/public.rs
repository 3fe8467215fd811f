//! The public listener: health checks for load balancers, the subscription
//! URL (`GET /sub/{token}`), payment provider callbacks (`POST /pay/*`) and
//! the bot's webhook (`POST /telegram/webhook`).

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use subvisor_actors::Registry;

use actix_web::middleware::from_fn;

use subvisor_actors::payments::Intake;

use crate::error::ApiError;
use crate::ops::{healthz, not_found};
use crate::rate_limit::{IpRateLimit, TrustedProxies, limit_per_ip};
use crate::telegram::{self, MAX_UPDATE_BODY, TelegramWebhook};
use crate::webhooks::{self, MAX_WEBHOOK_BODY, WebhookSecrets};
use subvisor_actors::links::LinkBook;

#[derive(Clone)]
pub struct PublicState {
    /// Used for read-only lookups only.
    pub registry: Registry,
    pub links: LinkBook,
    /// Profile name shown in clients.
    pub title: String,
    pub update_interval_hours: u32,
    /// Per client: every `/sub` request, and payment callbacks that fail verification.
    pub rate_limit: IpRateLimit,
    /// Reverse proxies whose `Forwarded` / `X-Forwarded-For` are believed.
    pub trusted_proxies: TrustedProxies,
    pub webhooks: WebhookSecrets,
    /// Where verified payment events go.
    pub intake: Intake,
    /// Webhook mode of the bot; `None`: `/telegram/webhook` answers 404.
    pub telegram: Option<TelegramWebhook>,
}

pub fn configure_public(state: PublicState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::new(state.rate_limit.clone()))
            .app_data(web::Data::new(state.trusted_proxies.clone()))
            .app_data(web::Data::new(state.telegram.clone()))
            .app_data(web::Data::new(state))
            .app_data(web::PayloadConfig::default().limit(64 * 1024))
            .route("/healthz", web::get().to(healthz))
            .service(
                web::scope("/sub")
                    .wrap(from_fn(limit_per_ip))
                    .route("/{token}", web::get().to(subscription)),
            )
            // Not per-IP limited: a provider's verified callbacks are never
            // refused; only failed verifications count (in the handlers).
            .service(
                web::scope("/pay")
                    .app_data(web::PayloadConfig::default().limit(MAX_WEBHOOK_BODY))
                    .route("/cryptobot", web::post().to(webhooks::cryptobot))
                    .route("/nowpayments", web::post().to(webhooks::nowpayments)),
            )
            .service(
                web::scope("/telegram")
                    .app_data(web::PayloadConfig::default().limit(MAX_UPDATE_BODY))
                    .route("/webhook", web::post().to(telegram::webhook)),
            )
            .default_service(web::to(not_found));
    }
}

/// Tokens are 64 lowercase hex characters; anything else is unknown without a query.
fn plausible_token(token: &str) -> bool {
    token.len() == 64
        && token
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A filename-safe ASCII version of the title.
fn file_name(title: &str) -> String {
    let name: String = title
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() {
        "subscription".into()
    } else {
        name
    }
}

/// Base64 of the newline-joined `vless://` links of a live subscription; for an
/// expired or revoked one, 200 with the expiry in the header and no links.
// The path is the subscription token, a secret: only the user it names is recorded.
#[tracing::instrument(skip_all, fields(user = tracing::field::Empty))]
async fn subscription(
    state: web::Data<PublicState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let token = path.into_inner();
    let unknown = || ApiError::NotFound("unknown subscription".into());
    if !plausible_token(&token) {
        return Err(unknown());
    }
    let snapshot = state
        .registry
        .queries()
        .user_by_sub_token(&token)
        .await?
        .ok_or_else(unknown)?;
    tracing::Span::current().record("user", tracing::field::display(snapshot.user));
    let sub = snapshot.subscription.as_ref().ok_or_else(unknown)?;
    let now = state.registry.clock().now();
    let body = STANDARD.encode(state.links.links(&snapshot, now).join("\n"));
    let (upload, download) = snapshot.traffic();
    // total=0: no traffic cap.
    let userinfo = format!(
        "upload={upload}; download={download}; total=0; expire={}",
        sub.expires_at.timestamp()
    );
    let title = format!("base64:{}", STANDARD.encode(&state.title));
    let disposition = format!("attachment; filename=\"{}\"", file_name(&state.title));
    let header =
        |v: String| HeaderValue::from_str(&v).map_err(|e| ApiError::BadRequest(e.to_string()));
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .insert_header(("subscription-userinfo", header(userinfo)?))
        .insert_header((
            "profile-update-interval",
            header(state.update_interval_hours.to_string())?,
        ))
        .insert_header(("profile-title", header(title)?))
        .insert_header((header::CONTENT_DISPOSITION, header(disposition)?))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .body(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plausible_tokens_reach_the_store() {
        assert!(plausible_token(&"ab12".repeat(16)));
        assert!(!plausible_token(&"AB12".repeat(16)));
        assert!(!plausible_token("short"));
        assert!(!plausible_token(&"zz".repeat(32)));
        assert!(!plausible_token(&"../".repeat(21)));
    }

    #[test]
    fn file_names_are_ascii() {
        assert_eq!(file_name("My VPN ☂"), "My_VPN__");
        assert_eq!(file_name(""), "subscription");
    }
}
