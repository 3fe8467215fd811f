//! The ops console: server-rendered pages on the ops listener (`/console`)
//! for a person on call — actors, nodes, payments, outboxes, the cluster, a
//! user search — and guarded actions (reconcile a node with a dry run first,
//! retry a node now, grant / revoke / refund with a reason, audited).
//!
//! `session.rs` signs operators in and out, `csrf.rs` guards every form,
//! `sections.rs` gathers what the pages show, `actions.rs` does what they ask.
//! Pages carry no external asset: their CSS and script are inline, allowed
//! by a per-response nonce in a strict `Content-Security-Policy`.

mod actions;
mod csrf;
mod sections;
mod session;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;

use crate::error::ApiError;
use crate::ops::OpsState;
pub(crate) use session::ConsoleKeys;
use session::{BASE, Session};

/// The console's routes (under `/console`), added to the ops listener.
pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::FormConfig::default().limit(8 * 1024))
        .service(
            web::scope(BASE)
                .route("", web::get().to(front))
                .route("/", web::get().to(front))
                .route("/sign-in", web::get().to(sign_in_form))
                .route("/sign-in", web::post().to(actions::sign_in))
                .route("/sign-out", web::post().to(actions::sign_out))
                .route("/users", web::get().to(search))
                .route("/users/{id}", web::get().to(user))
                .route("/users/{id}/grant", web::post().to(actions::grant))
                .route("/users/{id}/revoke", web::post().to(actions::revoke))
                .route(
                    "/users/{id}/devices/reset",
                    web::post().to(actions::reset_devices),
                )
                .route("/orders/{id}/refund", web::post().to(actions::refund))
                .route(
                    "/nodes/{name}/reconcile",
                    web::post().to(actions::reconcile),
                )
                .route("/nodes/{name}/retry", web::post().to(actions::retry))
                .default_service(web::to(not_found)),
        );
}

async fn not_found(_session: Session) -> HttpResponse {
    HttpResponse::NotFound()
        .content_type("text/plain; charset=utf-8")
        .body("no such console page")
}

/// A fresh nonce for one response's inline style and script.
fn nonce() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A rendered page with the console's security headers.
pub(crate) fn page(status: actix_web::http::StatusCode, nonce: &str, html: String) -> HttpResponse {
    let csp = format!(
        "default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; \
         connect-src 'self'; img-src 'self' data:; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'"
    );
    HttpResponse::build(status)
        .insert_header((header::CONTENT_SECURITY_POLICY, csp))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .content_type("text/html; charset=utf-8")
        .body(html)
}

pub(crate) fn render(
    status: actix_web::http::StatusCode,
    nonce: &str,
    t: &impl Template,
) -> HttpResponse {
    match t.render() {
        Ok(html) => page(status, nonce, html),
        Err(e) => {
            tracing::error!(error = %e, "console template failed");
            HttpResponse::InternalServerError().body("the page could not be rendered")
        }
    }
}

/// An error as a console page (the message the JSON API would give).
pub(crate) fn failure(session: &Session, e: ApiError) -> HttpResponse {
    use actix_web::ResponseError;
    let nonce = nonce();
    let t = Message {
        nonce: &nonce,
        csrf: &session.csrf,
        operator: &session.operator,
        title: "Could not do that",
        text: &e.to_string(),
        back: BASE,
    };
    render(e.status_code(), &nonce, &t)
}

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignIn<'a> {
    nonce: &'a str,
    error: Option<&'a str>,
    needs_token: bool,
}

#[derive(Template)]
#[template(path = "console/front.html")]
struct Front<'a> {
    /// Seconds between two refreshes of the numbers.
    refresh_secs: u32,
    nonce: &'a str,
    csrf: &'a str,
    operator: &'a str,
    o: sections::Overview,
}

#[derive(Template)]
#[template(path = "console/search.html")]
struct Search<'a> {
    nonce: &'a str,
    csrf: &'a str,
    operator: &'a str,
    q: &'a str,
    users: Vec<(i64, String, String, String)>,
    total: i64,
}

#[derive(Template)]
#[template(path = "console/user.html")]
struct User<'a> {
    nonce: &'a str,
    csrf: &'a str,
    operator: &'a str,
    u: sections::UserPage,
}

#[derive(Template)]
#[template(path = "console/message.html")]
pub(crate) struct Message<'a> {
    pub nonce: &'a str,
    pub csrf: &'a str,
    pub operator: &'a str,
    pub title: &'a str,
    pub text: &'a str,
    pub back: &'a str,
}

pub(crate) async fn sign_in_form(req: HttpRequest) -> HttpResponse {
    sign_in_page(&req, None, actix_web::http::StatusCode::OK)
}

pub(crate) fn sign_in_page(
    req: &HttpRequest,
    error: Option<&str>,
    status: actix_web::http::StatusCode,
) -> HttpResponse {
    let Some(keys) = session::keys(req).filter(|k| !k.off) else {
        return actix_web::ResponseError::error_response(&session::Denied::Off);
    };
    let nonce = nonce();
    let t = SignIn {
        nonce: &nonce,
        error,
        needs_token: keys.needs_token(),
    };
    render(status, &nonce, &t)
}

#[derive(Debug, Deserialize)]
struct FrontQuery {
    /// Seconds between refreshes (1–300; default 10).
    every: Option<u32>,
}

async fn front(
    session: Session,
    state: web::Data<OpsState>,
    query: web::Query<FrontQuery>,
) -> HttpResponse {
    match sections::overview(&state).await {
        Ok(o) => {
            let nonce = nonce();
            let t = Front {
                refresh_secs: query.every.unwrap_or(10).clamp(1, 300),
                nonce: &nonce,
                csrf: &session.csrf,
                operator: &session.operator,
                o,
            };
            render(actix_web::http::StatusCode::OK, &nonce, &t)
        }
        Err(e) => failure(&session, e),
    }
}

#[derive(Debug, Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
}

/// `GET /console/users?q=`: an exact id opens the user; otherwise a list.
async fn search(
    session: Session,
    state: web::Data<OpsState>,
    query: web::Query<SearchQuery>,
) -> HttpResponse {
    let q = query.q.trim();
    if let Ok(id) = q.parse::<i64>()
        && let Ok(user) = subvisor_actors::domain::UserId::new(id)
        && let Ok(Some(_)) = state.registry.queries().user(user).await
    {
        return HttpResponse::SeeOther()
            .insert_header((header::LOCATION, format!("{BASE}/users/{id}")))
            .finish();
    }
    let search = (!q.is_empty()).then_some(q);
    let page = match state.registry.queries().list_users(search, 0, 50).await {
        Ok(p) => p,
        Err(e) => return failure(&session, e.into()),
    };
    let now = state.registry.clock().now();
    let users = page
        .users
        .into_iter()
        .map(|u| {
            (
                u.user.get(),
                u.username.unwrap_or_default(),
                u.status
                    .map_or_else(|| "none".into(), |s| sections::label(&s)),
                sections::ago(now, u.created_at),
            )
        })
        .collect();
    let nonce = nonce();
    let t = Search {
        nonce: &nonce,
        csrf: &session.csrf,
        operator: &session.operator,
        q,
        users,
        total: page.total,
    };
    render(actix_web::http::StatusCode::OK, &nonce, &t)
}

async fn user(
    session: Session,
    state: web::Data<OpsState>,
    path: web::Path<String>,
) -> HttpResponse {
    let found = async {
        let id = crate::ops::parse_user(&path)?;
        let snapshot = state
            .registry
            .queries()
            .user(id)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("user {id} not found")))?;
        sections::user_page(&state, &snapshot).await
    };
    match found.await {
        Ok(u) => {
            let nonce = nonce();
            let t = User {
                nonce: &nonce,
                csrf: &session.csrf,
                operator: &session.operator,
                u,
            };
            render(actix_web::http::StatusCode::OK, &nonce, &t)
        }
        Err(e) => failure(&session, e),
    }
}
