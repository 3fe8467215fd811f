//! Per-client rate limiting for the public listener (`governor`, GCRA), and
//! who the client is when the service runs behind a reverse proxy.
//!
//! Without `http.trusted_proxies` the client is the TCP peer. Behind a proxy
//! every request would then share the proxy's address (one budget for
//! everyone), so the operator lists the proxies' addresses: for a request
//! from one of them, the client is the right-most address in `Forwarded`
//! (RFC 7239) — or, without it, `X-Forwarded-For` — that is not itself a
//! trusted proxy. Headers from anyone else are ignored: a client cannot
//! choose its own budget by sending them.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, web};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;

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

    /// Spends one request of `ip`'s budget; `false` when it is spent.
    pub(crate) fn check(&self, ip: IpAddr) -> bool {
        // Forget idle clients now and then so the table stays small.
        if self.0.len() > 100_000 {
            self.0.retain_recent();
        }
        self.0.check_key(&ip).is_ok()
    }
}

/// The reverse proxies whose forwarding headers are believed (`http.trusted_proxies`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Addresses (`10.0.0.7`, `::1`) or networks (`10.0.0.0/8`).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        entries
            .iter()
            .map(|e| {
                let e = e.as_ref().trim();
                IpNet::from_str(e)
                    .or_else(|_| IpAddr::from_str(e).map(IpNet::from))
                    .map_err(|_| format!("{e:?} is not an IP address or network"))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// IPv4-mapped IPv6 (`::ffff:1.2.3.4`) as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The client a request is from (see the module docs).
pub(crate) fn client_ip(req: &HttpRequest, trusted: &TrustedProxies) -> Option<IpAddr> {
    let peer = canonical(req.peer_addr()?.ip());
    if trusted.is_empty() || !trusted.trusts(peer) {
        return Some(peer);
    }
    let headers = req.headers();
    let chain: Vec<IpAddr> = if let Some(forwarded) = headers.get("forwarded") {
        forwarded_for(forwarded.to_str().ok()?)
    } else if let Some(xff) = headers.get("x-forwarded-for") {
        xff.to_str()
            .ok()?
            .split(',')
            .filter_map(|a| IpAddr::from_str(a.trim()).ok())
            .map(canonical)
            .collect()
    } else {
        Vec::new()
    };
    Some(
        chain
            .iter()
            .rev()
            .copied()
            .find(|ip| !trusted.trusts(*ip))
            .or_else(|| chain.first().copied())
            .unwrap_or(peer),
    )
}

/// The `for=` addresses of a `Forwarded` header, in order; obfuscated or
/// unknown ones are skipped.
fn forwarded_for(header: &str) -> Vec<IpAddr> {
    header
        .split(',')
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (key, value) = pair.split_once('=')?;
                if !key.trim().eq_ignore_ascii_case("for") {
                    return None;
                }
                node_ip(value.trim().trim_matches('"'))
            })
        })
        .map(canonical)
        .collect()
}

/// `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]`, `[2001:db8::1]:4711`.
fn node_ip(node: &str) -> Option<IpAddr> {
    if let Some(rest) = node.strip_prefix('[') {
        let (ip, _) = rest.split_once(']')?;
        return IpAddr::from_str(ip).ok();
    }
    IpAddr::from_str(node).ok().or_else(|| {
        let (ip, _port) = node.rsplit_once(':')?;
        IpAddr::from_str(ip).ok().filter(IpAddr::is_ipv4)
    })
}

/// Middleware: every request counts against its client's budget (`/sub`).
pub(crate) async fn limit_per_ip(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let trusted = req
        .app_data::<web::Data<TrustedProxies>>()
        .map(|t| t.get_ref().clone())
        .unwrap_or_default();
    if let (Some(limit), Some(ip)) = (
        req.app_data::<web::Data<IpRateLimit>>(),
        client_ip(req.request(), &trusted),
    ) && !limit.check(ip)
    {
        metrics::counter!("subvisor_public_rate_limited_total").increment(1);
        return Err(ApiError::RateLimited.into());
    }
    next.call(req).await
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn req(peer: &str, headers: &[(&str, &str)]) -> HttpRequest {
        let mut r = TestRequest::default().peer_addr(format!("{peer}:5000").parse().unwrap());
        for (k, v) in headers {
            r = r.insert_header((*k, *v));
        }
        r.to_http_request()
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client() {
        let none = TrustedProxies::default();
        let r = req("203.0.113.9", &[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(client_ip(&r, &none), Some(ip("203.0.113.9")));
    }

    #[test]
    fn headers_from_strangers_are_ignored() {
        let trusted = TrustedProxies::parse(&["10.0.0.0/8"]).unwrap();
        let r = req("203.0.113.9", &[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(client_ip(&r, &trusted), Some(ip("203.0.113.9")));
    }

    #[test]
    fn behind_a_trusted_proxy_the_rightmost_untrusted_hop_is_the_client() {
        let trusted = TrustedProxies::parse(&["10.0.0.0/8", "192.168.1.1"]).unwrap();
        let r = req(
            "10.0.0.2",
            &[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 192.168.1.1")],
        );
        assert_eq!(
            client_ip(&r, &trusted),
            Some(ip("198.51.100.7")),
            "a client-supplied 6.6.6.6 on the left is not believed"
        );
        let r = req("10.0.0.2", &[]);
        assert_eq!(client_ip(&r, &trusted), Some(ip("10.0.0.2")));
    }

    #[test]
    fn forwarded_wins_over_x_forwarded_for() {
        let trusted = TrustedProxies::parse(&["::1", "127.0.0.1"]).unwrap();
        let r = req(
            "127.0.0.1",
            &[
                (
                    "forwarded",
                    "for=192.0.2.60;proto=http, for=\"[2001:db8:cafe::17]:4711\"",
                ),
                ("x-forwarded-for", "9.9.9.9"),
            ],
        );
        assert_eq!(client_ip(&r, &trusted), Some(ip("2001:db8:cafe::17")));
        assert_eq!(
            forwarded_for("for=unknown, for=\"198.51.100.1:80\";by=x"),
            vec![ip("198.51.100.1")]
        );
    }

    #[test]
    fn bad_entries_are_refused() {
        assert!(TrustedProxies::parse(&["10.0.0.0/33"]).is_err());
        assert!(TrustedProxies::parse(&["proxy.local"]).is_err());
        assert!(TrustedProxies::parse(&["::ffff:10.0.0.1"]).is_ok());
    }
}
