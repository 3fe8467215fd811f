//! The ops API for a user's devices (`x-hwid`): `DELETE /ops/users/{id}/devices`
//! forgets them all, `DELETE /ops/users/{id}/devices/{device}` one. Both go
//! through the user's actor and are audited with the principal (`ops`).

use actix_web::{HttpResponse, web};
use serde_json::json;
use subvisor_actors::domain::Principal;
use subvisor_actors::messages::{RemoveDevice, ResetDevices};

use crate::error::ApiError;
use crate::ops::{OpsState, parse_user};

/// `DELETE /ops/users/{id}/devices`: `{"removed": n}`.
#[tracing::instrument(skip_all, fields(user = %path.as_str()))]
pub(crate) async fn reset(
    state: web::Data<OpsState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = parse_user(&path)?;
    let removed = state
        .registry
        .send(user, ResetDevices { by: Principal::Ops })
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "removed": removed })))
}

/// `DELETE /ops/users/{id}/devices/{device}`: 404 if the user has no such device.
#[tracing::instrument(skip_all, fields(user = %path.0))]
pub(crate) async fn remove(
    state: web::Data<OpsState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (raw_user, raw_device) = path.into_inner();
    let user = parse_user(&raw_user)?;
    let id: i64 = raw_device
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("{raw_device:?} is not a device id")))?;
    let msg = RemoveDevice {
        id,
        by: Principal::Ops,
    };
    if state.registry.send(user, msg).await? {
        Ok(HttpResponse::Ok().json(json!({ "removed": 1 })))
    } else {
        Err(ApiError::NotFound(format!(
            "user {user} has no device {id}"
        )))
    }
}
