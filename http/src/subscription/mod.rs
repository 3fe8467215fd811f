//! `GET /sub/{token}` and `GET /sub/{token}/{format}`: what VPN clients import
//! and refresh, and the page a person sees in a browser.
//!
//! One request: the token names a user → a [`SubscriptionView`] is built once
//! → the answer is rendered from it in the format the client asked for (path)
//! or is known to read (User-Agent).

mod clients;
pub mod devices;
mod formats;
mod headers;
mod notice;
mod options;
pub(crate) mod page;
mod view;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::error::ApiError;
use crate::public::PublicState;
pub use formats::{Format, RenderOptions, render};
pub use options::{Announce, BotName, SubscriptionOptions, support_url_from_contact};
pub use page::LanguageMap;
pub use view::{Entry, SubscriptionView, ViewStatus};

/// Tokens are 64 lowercase hex characters; anything else is unknown without a query.
fn plausible_token(token: &str) -> bool {
    token.len() == 64
        && token
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `GET /sub/{token}`: the format the client's User-Agent says it reads.
pub(crate) async fn by_client(
    req: HttpRequest,
    state: web::Data<PublicState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    serve(&req, &state, &path.into_inner(), None).await
}

/// `GET /sub/{token}/{format}`: the format named in the path.
pub(crate) async fn in_format(
    req: HttpRequest,
    state: web::Data<PublicState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (token, format) = path.into_inner();
    let format = format
        .parse::<Format>()
        .map_err(|_| ApiError::NotFound("unknown subscription format".into()))?;
    serve(&req, &state, &token, Some(format)).await
}

// The path is the subscription token, a secret: only the user it names is recorded.
#[tracing::instrument(skip_all, fields(user = tracing::field::Empty))]
async fn serve(
    req: &HttpRequest,
    state: &PublicState,
    token: &str,
    format: Option<Format>,
) -> Result<HttpResponse, ApiError> {
    let unknown = || ApiError::NotFound("unknown subscription".into());
    if !plausible_token(token) {
        return Err(unknown());
    }
    let snapshot = state
        .registry
        .queries()
        .user_by_sub_token(token)
        .await?
        .ok_or_else(unknown)?;
    tracing::Span::current().record("user", tracing::field::display(snapshot.user));
    let now = state.registry.clock().now();
    let mut view = SubscriptionView::build(&state.links, &snapshot, now).ok_or_else(unknown)?;
    let traffic = state.registry.queries().traffic(snapshot.user).await?;
    view.apply_traffic(traffic.as_ref());
    if format.is_none() && page::wants_html(req) {
        // A person in a browser: not a device, never counted against the limit.
        return Ok(page::respond(state, &view, req));
    }
    let device = devices::admit(req.headers(), state, &mut view).await?;
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // The format: named in the path, else the one this client is known to read.
    let format = format.unwrap_or_else(|| clients::format_for(user_agent));
    let options = &state.subscription;
    let render_options = RenderOptions {
        now,
        info_entries: options.info_entries,
        renew_url: options.renew_url(),
    };
    let body = formats::render(format, &view, &render_options);
    // total=0: no traffic cap.
    let userinfo = format!(
        "upload={}; download={}; total={}; expire={}",
        view.upload,
        view.download,
        view.total,
        view.expires_at.timestamp()
    );
    let header =
        |v: String| HeaderValue::from_str(&v).map_err(|e| ApiError::BadRequest(e.to_string()));
    let mut response = HttpResponse::Ok();
    response
        .content_type(format.content_type())
        .insert_header(("subscription-userinfo", header(userinfo)?))
        .insert_header((
            "profile-update-interval",
            header(state.update_interval_hours.to_string())?,
        ))
        .insert_header(("profile-title", header(headers::base64_text(&state.title))?))
        .insert_header((
            header::CONTENT_DISPOSITION,
            header(headers::content_disposition(&state.title, format))?,
        ))
        .insert_header(("profile-web-page-url", header(view.url.clone())?))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
    if let Some(url) = &options.support_url {
        response.insert_header(("support-url", header(url.clone())?));
    }
    // The user's language as chosen in the bot (primary subtag), else `en`.
    let lang = view.language.as_deref().unwrap_or("en");
    let lang = lang.split('-').next().unwrap_or(lang);
    if let Some(text) = options.announce.for_language(lang) {
        response.insert_header(("announce", header(headers::text(text))?));
    }
    // The device check's headers last: its refusal `announce` wins over the configured one.
    for (name, value) in device.headers {
        response.insert_header((name, header(value)?));
    }
    Ok(response.body(body))
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
}
