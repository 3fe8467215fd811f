//! Client of the running server's ops API, used by `subvisor user …` so there
//! is only ever one writer (the server's actors).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, bail};
use reqwest::StatusCode;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use subvisor_http::UserView;

pub struct OpsClient {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
}

impl OpsClient {
    /// Talks to `ops_addr`; a wildcard bind address is reached over loopback.
    pub fn new(ops_addr: SocketAddr, token: Option<String>) -> anyhow::Result<Self> {
        let ip = match ops_addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        let base = format!("http://{}", SocketAddr::new(ip, ops_addr.port()));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self { base, token, http })
    }

    pub async fn user(&self, id: i64) -> anyhow::Result<UserView> {
        self.call(self.http.get(format!("{}/ops/users/{id}", self.base)))
            .await
    }

    pub async fn grant(&self, id: i64, days: u32) -> anyhow::Result<UserView> {
        let req = self
            .http
            .post(format!("{}/ops/users/{id}/grant", self.base))
            .json(&serde_json::json!({ "days": days }));
        self.call(req).await
    }

    pub async fn revoke(&self, id: i64) -> anyhow::Result<UserView> {
        self.call(
            self.http
                .post(format!("{}/ops/users/{id}/revoke", self.base)),
        )
        .await
    }

    /// `POST /ops/reconcile`; returns the ops API's JSON (`{"nodes": [...]}`).
    pub async fn reconcile(
        &self,
        node: Option<&str>,
        dry_run: bool,
    ) -> anyhow::Result<serde_json::Value> {
        let req = self
            .http
            .post(format!("{}/ops/reconcile", self.base))
            .timeout(Duration::from_secs(600))
            .json(&serde_json::json!({ "node": node, "dry_run": dry_run }));
        self.call(req).await
    }

    /// `POST /ops/payments/reconcile`.
    pub async fn reconcile_payments(&self, dry_run: bool) -> anyhow::Result<serde_json::Value> {
        let req = self
            .http
            .post(format!("{}/ops/payments/reconcile", self.base))
            .timeout(Duration::from_secs(600))
            .json(&serde_json::json!({ "dry_run": dry_run }));
        self.call(req).await
    }

    async fn call<T: DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> anyhow::Result<T> {
        let req = match &self.token {
            Some(token) => req.bearer_auth(token),
            None => req,
        };
        let resp = req.send().await.map_err(|e| {
            anyhow::anyhow!(
                "cannot reach the server's ops API at {} ({e}); is `subvisor serve` running with this configuration?",
                self.base
            )
        })?;
        let status = resp.status();
        if status.is_success() {
            return resp
                .json()
                .await
                .context("unexpected response from the ops API");
        }
        if status == StatusCode::UNAUTHORIZED {
            bail!(
                "the ops API refused the token (set ops.token / SUBVISOR__OPS__TOKEN to the server's)"
            );
        }
        match resp.json::<ErrorBody>().await {
            Ok(body) => bail!("{} ({})", body.error.message, body.error.code),
            Err(_) => bail!("the ops API answered {status}"),
        }
    }
}
