//! Startup step: the two HTTP listeners. Both are bound first (ops, then
//! public), then served: ops on one worker, public on actix's default count.
//! Signals are handled by [`Application::run_until`](super::Application::run_until),
//! not by actix.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{App, HttpServer};
use anyhow::Context;
use subvisor_http::{OpsState, PublicState, access_log, configure_ops, configure_public};

use super::HTTP_DRAIN;
use crate::config::Settings;

/// Both listeners, bound (port 0 resolved to the port actually taken).
pub(super) struct Listeners {
    pub ops: TcpListener,
    pub public: TcpListener,
    pub ops_port: u16,
    pub public_port: u16,
}

impl Listeners {
    pub(super) fn bind(settings: &Settings) -> anyhow::Result<Self> {
        let http = &settings.http;
        let ops = TcpListener::bind(http.ops_addr)
            .with_context(|| format!("cannot listen on http.ops_addr {}", http.ops_addr))?;
        let public = TcpListener::bind(http.public_addr)
            .with_context(|| format!("cannot listen on http.public_addr {}", http.public_addr))?;
        Ok(Self {
            ops_port: ops.local_addr()?.port(),
            public_port: public.local_addr()?.port(),
            ops,
            public,
        })
    }
}

/// The ops listener: health, readiness, metrics and the ops API.
pub(super) fn serve_ops(
    settings: &Settings,
    listener: TcpListener,
    state: OpsState,
) -> anyhow::Result<Server> {
    if state.token.is_none() {
        tracing::info!(
            "ops.token is not set: /ops/* is open to anyone who reaches {}",
            settings.http.ops_addr
        );
    }
    Ok(HttpServer::new(move || {
        App::new()
            .wrap(access_log())
            .configure(configure_ops(state.clone()))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(HTTP_DRAIN.as_secs())
    .listen(listener)?
    .run())
}

/// The public listener: subscriptions, payment callbacks, Telegram's webhook.
pub(super) fn serve_public(listener: TcpListener, state: PublicState) -> anyhow::Result<Server> {
    Ok(HttpServer::new(move || {
        App::new()
            .wrap(access_log())
            .configure(configure_public(state.clone()))
    })
    .disable_signals()
    .shutdown_timeout(HTTP_DRAIN.as_secs())
    .listen(listener)?
    .run())
}
