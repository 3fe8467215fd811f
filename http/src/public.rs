//! The public listener. For now it answers health checks for load balancers;
//! webhooks (`/pay/*`, `/telegram/webhook`) and the subscription URL
//! (`/sub/{token}`) are mounted here as they land.

use actix_web::web;

use crate::ops::{healthz, not_found};

pub fn configure_public() -> impl FnOnce(&mut web::ServiceConfig) {
    |cfg| {
        cfg.app_data(web::PayloadConfig::default().limit(64 * 1024))
            .route("/healthz", web::get().to(healthz))
            .default_service(web::to(not_found));
    }
}
