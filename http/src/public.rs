//! The public listener: health checks for load balancers, the subscription
//! URL (`GET /sub/{token}`), payment provider callbacks (`POST /pay/*`) and
//! the bot's webhook (`POST /telegram/webhook`).

use actix_web::web;
use subvisor_actors::Registry;

use actix_web::middleware::from_fn;

use subvisor_actors::payments::Intake;

use crate::ops::{healthz, not_found};
use crate::rate_limit::{IpRateLimit, TrustedProxies, limit_per_ip};
use crate::subscription;
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
    /// The device limit (`x-hwid`): `hwid_required`, `default_devices`.
    pub devices: subscription::devices::DevicePolicy,
    /// `[subscription]` support link, announcements, info entries, renewal.
    pub subscription: subscription::SubscriptionOptions,
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
                    .route("/{token}", web::get().to(subscription::by_client))
                    .route("/{token}/{format}", web::get().to(subscription::in_format)),
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
