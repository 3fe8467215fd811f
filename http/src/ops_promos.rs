//! `GET /ops/promos`, `POST /ops/promos` (a [`NewPromo`] as JSON) and
//! `POST /ops/promos/{code}/disable`: promo codes through the Registry's
//! named service (audited as `ops`).

use actix_web::{HttpResponse, web};
use serde_json::json;
use subvisor_actors::domain::{NewPromo, Principal};

use crate::error::ApiError;
use crate::ops::OpsState;

/// Every promo code, newest first, with its uses.
pub(crate) async fn list(state: web::Data<OpsState>) -> Result<HttpResponse, ApiError> {
    let promos = state.registry.queries().promos().await?;
    Ok(HttpResponse::Ok().json(json!({ "promos": promos })))
}

/// Makes a code: `{"code", "kind": "percent"|"fixed"|"days", "value",
/// "currency"?, "max_uses"?, "per_user"?, "valid_until"?,
/// "first_purchase_only"?, "plans"?}`. A 100 % code, a fixed discount
/// without a currency or an existing code (any case) is a 400.
pub(crate) async fn create(
    state: web::Data<OpsState>,
    body: web::Json<NewPromo>,
) -> Result<HttpResponse, ApiError> {
    let promo = body.into_inner();
    for plan in &promo.plans {
        if state.registry.plans().get(plan).is_none() {
            return Err(ApiError::BadRequest(format!("unknown plan {plan}")));
        }
    }
    let created = state.registry.create_promo(Principal::Ops, &promo).await?;
    Ok(HttpResponse::Created().json(created))
}

/// Disables a code; 404 if there is no such enabled code.
pub(crate) async fn disable(
    state: web::Data<OpsState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let code = path.into_inner();
    if state.registry.disable_promo(Principal::Ops, &code).await? {
        Ok(HttpResponse::Ok().json(json!({ "code": code.to_ascii_lowercase(), "disabled": true })))
    } else {
        Err(ApiError::NotFound(format!(
            "no enabled promo code {code:?}"
        )))
    }
}
