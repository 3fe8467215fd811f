//! The ops API for a subscription's traffic: `POST /ops/users/{id}/traffic/reset`
//! (`{"reason": "…"}`) starts the period's usage again and lifts a traffic
//! limit, through the user's actor; audited with the principal and reason.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use subvisor_actors::domain::Principal;
use subvisor_actors::messages::ResetTraffic;

use crate::error::ApiError;
use crate::ops::{OpsState, write};

#[derive(Debug, Deserialize)]
pub(crate) struct ResetBody {
    reason: String,
}

/// Answers with the user's view (its `traffic` included).
#[tracing::instrument(skip_all, fields(user = %path.as_str()))]
pub(crate) async fn reset(
    state: web::Data<OpsState>,
    path: web::Path<String>,
    body: web::Json<ResetBody>,
) -> Result<HttpResponse, ApiError> {
    let reason = body.into_inner().reason;
    if reason.trim().is_empty() {
        return Err(ApiError::BadRequest("say why: reason is empty".into()));
    }
    let msg = ResetTraffic {
        by: Principal::Ops,
        reason,
    };
    write(&state, &path, msg).await
}
