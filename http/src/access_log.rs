//! The access log: `tracing-actix-web`'s root span per request, with the
//! request target redacted.
//!
//! The default span records `http.target` as sent (path and query), so every
//! request logged in it — each 4xx/5xx is — wrote the subscription token of
//! `GET /sub/{token}` to the log. Here a path segment that a route captures as
//! `{token}` or `{secret}` (and anything under `/sub/`, matched or not) is
//! replaced with `<redacted>`, and the query string is dropped. Headers are
//! never recorded (the bearer token of `/ops/*`, Telegram's
//! `X-Telegram-Bot-Api-Secret-Token`), only the user agent.

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder, TracingLogger};

/// What a redacted segment reads as.
pub const REDACTED: &str = "<redacted>";

/// Route parameters whose values are secrets.
const SECRET_PARAMS: [&str; 2] = ["{token}", "{secret}"];

/// Path prefixes whose every further segment is a secret, even when no route
/// matched (a 404 under it).
const SECRET_PREFIXES: [&str; 1] = ["/sub/"];

/// The access-log middleware both listeners wrap their apps in.
pub fn access_log() -> TracingLogger<RedactedRootSpan> {
    TracingLogger::new()
}

/// [`DefaultRootSpanBuilder`]'s span and outcome, with [`redact_target`]ed targets.
pub struct RedactedRootSpan;

impl RootSpanBuilder for RedactedRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let target = redact_target(request.path(), request.match_pattern().as_deref());
        let route = request
            .match_pattern()
            .unwrap_or_else(|| "default".to_owned());
        let user_agent = request
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let info = request.connection_info();
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = %route,
            http.flavor = ?request.version(),
            http.scheme = %info.scheme(),
            http.host = %info.host(),
            http.client_ip = %info.realip_remote_addr().unwrap_or(""),
            http.user_agent = %user_agent,
            http.target = %target,
            http.status_code = tracing::field::Empty,
            otel.name = %format!("{} {}", request.method(), route),
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// The path as logged: segments captured as `{token}`/`{secret}` by
/// `pattern`, and every segment after a secret prefix, become `<redacted>`.
/// The query string is never part of it.
pub fn redact_target(path: &str, pattern: Option<&str>) -> String {
    for prefix in SECRET_PREFIXES {
        if let Some(rest) = path.strip_prefix(prefix)
            && !rest.is_empty()
        {
            return format!("{prefix}{REDACTED}");
        }
    }
    let Some(pattern) = pattern else {
        return path.to_owned();
    };
    let mut segments = pattern.split('/');
    path.split('/')
        .map(|segment| match segments.next() {
            Some(p) if SECRET_PARAMS.contains(&p) => REDACTED,
            _ => segment,
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_paths_are_redacted() {
        assert_eq!(
            redact_target("/sub/abcDEF123", Some("/sub/{token}")),
            "/sub/<redacted>"
        );
        assert_eq!(redact_target("/sub/abc/x", None), "/sub/<redacted>");
        assert_eq!(
            redact_target("/hook/s3cr3t/x", Some("/hook/{secret}/x")),
            "/hook/<redacted>/x"
        );
        assert_eq!(
            redact_target("/ops/users/42", Some("/ops/users/{id}")),
            "/ops/users/42"
        );
        assert_eq!(redact_target("/healthz", None), "/healthz");
    }
}
