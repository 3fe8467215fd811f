//! Per-IP rate limiting for the public listener (`governor`, GCRA).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;

/// Requests per minute per client IP, with a burst allowance.
#[derive(Clone)]
pub struct IpRateLimit(Arc<DefaultKeyedRateLimiter<IpAddr>>);

impl IpRateLimit {
    pub fn per_minute(requests: u32, burst: u32) -> Self {
        let rate = NonZeroU32::new(requests.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
        Self(Arc::new(RateLimiter::keyed(
            Quota::per_minute(rate).allow_burst(burst),
        )))
    }

    fn check(&self, ip: IpAddr) -> bool {
        // Forget idle clients now and then so the table stays small.
        if self.0.len() > 100_000 {
            self.0.retain_recent();
        }
        self.0.check_key(&ip).is_ok()
    }
}

pub(crate) async fn limit_per_ip(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if let (Some(limit), Some(peer)) = (req.app_data::<web::Data<IpRateLimit>>(), req.peer_addr())
        && !limit.check(peer.ip())
    {
        metrics::counter!("subvisor_public_rate_limited_total").increment(1);
        return Err(ApiError::RateLimited.into());
    }
    next.call(req).await
}
