//! The ops listener, in-process, on both backends.

use chrono::{DateTime, Duration, Utc};
use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{Db, both_backends, spawn_app};

both_backends!(
    health_readiness_and_metrics,
    users_are_granted_viewed_and_revoked,
    concurrent_grants_over_http_are_all_counted,
    bad_input_gets_clear_errors,
    ops_api_requires_the_token_when_set,
);

async fn get_json(http: &reqwest::Client, url: String) -> (u16, Value) {
    let resp = http.get(url).send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn health_readiness_and_metrics(db: Db) {
    let app = spawn_app(db, None).await;
    let (status, body) = get_json(&app.http, format!("{}/healthz", app.ops)).await;
    assert_eq!((status, body), (200, json!({ "status": "ok" })));
    let (status, body) = get_json(&app.http, format!("{}/readyz", app.ops)).await;
    assert_eq!((status, body), (200, json!({ "status": "ready" })));
    let (status, _) = get_json(&app.http, format!("{}/healthz", app.public)).await;
    assert_eq!(status, 200, "the public listener answers health checks too");

    // One grant so the handler histogram has a sample.
    let resp = app
        .http
        .post(format!("{}/ops/users/5/grant", app.ops))
        .json(&json!({ "days": 3 }))
        .send()
        .await
        .expect("grant");
    assert_eq!(resp.status(), 200);

    let resp = app
        .http
        .get(format!("{}/metrics", app.ops))
        .send()
        .await
        .expect("metrics");
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/plain")
    );
    let text = resp.text().await.expect("body");
    for name in [
        "subvisor_actors_active",
        "subvisor_actor_activations_total",
        "subvisor_actor_passivations_total",
        "subvisor_actor_restarts_total",
        "subvisor_mailbox_full_rejections_total",
        "subvisor_actor_handler_seconds_bucket{message=\"grant_days\"",
        "subvisor_outbox_depth{outbox=\"provisioning\"}",
        "subvisor_outbox_depth{outbox=\"notifications\"}",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics:\n{text}");
    }
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        assert!(line.starts_with("subvisor_"), "unprefixed metric: {line}");
    }
    app.stop().await;
}

async fn users_are_granted_viewed_and_revoked(db: Db) {
    let app = spawn_app(db, None).await;
    let (status, body) = get_json(&app.http, format!("{}/ops/users/777", app.ops)).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");

    let before = Utc::now();
    let resp = app
        .http
        .post(format!("{}/ops/users/777/grant", app.ops))
        .json(&json!({ "days": 30 }))
        .send()
        .await
        .expect("grant");
    assert_eq!(resp.status(), 200);
    let granted: Value = resp.json().await.expect("json");
    assert_eq!(granted["status"], "active");

    let (status, view) = get_json(&app.http, format!("{}/ops/users/777", app.ops)).await;
    assert_eq!(status, 200);
    assert_eq!(view, granted, "GET shows what the grant committed");
    assert_eq!(view["user_id"], 777);
    let expires: DateTime<Utc> = view["expires_at"]
        .as_str()
        .expect("expires_at")
        .parse()
        .expect("RFC 3339");
    assert!(expires >= before + Duration::days(30) - Duration::seconds(1));
    assert!(expires <= Utc::now() + Duration::days(30));
    assert_eq!(view["keys"].as_array().map(Vec::len), Some(1));
    assert_eq!(view["keys"][0]["email"], "sv.777.1");
    assert_eq!(view["keys"][0]["state"], "active");
    assert_eq!(view["balance"], json!({ "minor": 0, "currency": "USD" }));

    let (_, nodes) = get_json(&app.http, format!("{}/ops/nodes", app.ops)).await;
    assert_eq!(nodes["sandbox"], true);
    assert_eq!(nodes["nodes"][0]["name"], "sandbox");

    let (_, actors) = get_json(&app.http, format!("{}/ops/actors", app.ops)).await;
    assert!(actors["live"].as_i64() >= Some(1));
    assert!(actors["activations"].as_u64() >= Some(1));

    let resp = app
        .http
        .post(format!("{}/ops/users/777/revoke", app.ops))
        .send()
        .await
        .expect("revoke");
    assert_eq!(resp.status(), 200);
    let revoked: Value = resp.json().await.expect("json");
    assert_eq!(revoked["status"], "revoked");

    let resp = app
        .http
        .post(format!("{}/ops/users/778/revoke", app.ops))
        .send()
        .await
        .expect("revoke");
    assert_eq!(resp.status(), 409);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"]["code"], "no_subscription");
    app.stop().await;
}

async fn concurrent_grants_over_http_are_all_counted(db: Db) {
    let app = spawn_app(db, None).await;
    let url = format!("{}/ops/users/4242/grant", app.ops);
    let sends = (0..40).map(|_| app.http.post(&url).json(&json!({ "days": 1 })).send());
    let statuses: Vec<u16> = join_all(sends)
        .await
        .into_iter()
        .map(|r| r.expect("request").status().as_u16())
        .collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let (_, view) = get_json(&app.http, format!("{}/ops/users/4242", app.ops)).await;
    let expires: DateTime<Utc> = view["expires_at"]
        .as_str()
        .expect("expiry")
        .parse()
        .expect("time");
    let created: DateTime<Utc> = view["created_at"]
        .as_str()
        .expect("created")
        .parse()
        .expect("time");
    let days = (expires - created).num_hours() as f64 / 24.0;
    assert!(
        (days - 40.0).abs() < 0.01,
        "40 grants of 1 day gave {days} days"
    );
    app.stop().await;
}

async fn bad_input_gets_clear_errors(db: Db) {
    let app = spawn_app(db, None).await;
    let cases: Vec<(&str, &str, Option<&str>, u16, &str)> = vec![
        (
            "POST",
            "/ops/users/abc/grant",
            Some(r#"{"days":1}"#),
            400,
            "bad_request",
        ),
        (
            "POST",
            "/ops/users/-5/grant",
            Some(r#"{"days":1}"#),
            400,
            "bad_request",
        ),
        (
            "POST",
            "/ops/users/5/grant",
            Some(r#"{"days":0}"#),
            400,
            "bad_request",
        ),
        (
            "POST",
            "/ops/users/5/grant",
            Some(r#"{"days":99999}"#),
            400,
            "bad_request",
        ),
        (
            "POST",
            "/ops/users/5/grant",
            Some(r#"{"days":-1}"#),
            400,
            "bad_request",
        ),
        (
            "POST",
            "/ops/users/5/grant",
            Some(r#"{"day":1}"#),
            400,
            "bad_request",
        ),
        (
            "POST",
            "/ops/users/5/grant",
            Some("not json"),
            400,
            "bad_request",
        ),
        (
            "GET",
            "/ops/users/99999999999999999999",
            None,
            400,
            "bad_request",
        ),
        ("GET", "/ops/nope", None, 404, "not_found"),
        ("GET", "/nope", None, 404, "not_found"),
    ];
    for (method, path, body, status, code) in cases {
        let mut req = app.http.request(
            method.parse().expect("method"),
            format!("{}{path}", app.ops),
        );
        if let Some(body) = body {
            req = req
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        let resp = req.send().await.expect("request");
        assert_eq!(resp.status().as_u16(), status, "{method} {path} {body:?}");
        let json: Value = resp.json().await.expect("JSON error body");
        assert_eq!(json["error"]["code"], code, "{method} {path}");
        assert!(
            json["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    // Nothing was created by the refused requests.
    let (status, _) = get_json(&app.http, format!("{}/ops/users/5", app.ops)).await;
    assert_eq!(status, 404);
    app.stop().await;
}

async fn ops_api_requires_the_token_when_set(db: Db) {
    let token = "0123456789abcdef-ops-token";
    let app = spawn_app(db, Some(token)).await;
    let url = format!("{}/ops/actors", app.ops);
    for auth in [
        None,
        Some("Bearer wrong-token-wrong-token"),
        Some("Bearer "),
        Some(token),
    ] {
        let mut req = app.http.get(&url);
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        let resp = req.send().await.expect("request");
        assert_eq!(resp.status(), 401, "auth {auth:?}");
        assert_eq!(resp.headers()["www-authenticate"], "Bearer");
        let body: Value = resp.json().await.expect("json");
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    let resp = app
        .http
        .get(&url)
        .bearer_auth(token)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    let resp = app
        .http
        .post(format!("{}/ops/users/9/grant", app.ops))
        .json(&json!({ "days": 1 }))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 401, "writes need the token too");
    let (status, _) = get_json(&app.http, format!("{}/ops/users/9", app.ops)).await;
    assert_eq!(status, 401);
    // Health, readiness and metrics stay open for probes and scrapers.
    for path in ["/healthz", "/readyz", "/metrics"] {
        let resp = app
            .http
            .get(format!("{}{path}", app.ops))
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status(), 200, "{path}");
    }
    app.stop().await;
}

#[actix_rt::test]
async fn public_endpoints_are_rate_limited_per_ip() {
    let app = crate::helpers::spawn_app_with(
        Db::Sqlite,
        std::sync::Arc::new(subvisor_actors::clock::SystemClock),
        |s| {
            s.http.public_rate_per_minute = 1;
            s.http.public_rate_burst = 3;
        },
    )
    .await;
    let url = format!("{}/sub/{}", app.public, "ab".repeat(32));
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(
            app.http
                .get(&url)
                .send()
                .await
                .expect("request")
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, vec![404, 404, 404, 429, 429]);
    let resp = app.http.get(&url).send().await.expect("request");
    assert_eq!(resp.headers()["retry-after"], "1");
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"]["code"], "rate_limited");
    // Health checks are not limited.
    for _ in 0..5 {
        let (status, _) = get_json(&app.http, format!("{}/healthz", app.public)).await;
        assert_eq!(status, 200);
    }
    app.stop().await;
}

/// Two instances on one PostgreSQL database: only the leader runs the
/// provisioning singletons; the other takes over when the leader stops.
#[actix_rt::test]
async fn a_second_instance_stands_by_until_the_leader_stops() {
    let url = subvisor_testkit::shared_pg()
        .fresh_database()
        .expect("database");
    let fast = |url: String| {
        move |s: &mut subvisor::config::Settings| {
            s.database.url = url;
            s.cluster.leader_interval = std::time::Duration::from_millis(100);
        }
    };
    let clock = || std::sync::Arc::new(subvisor_actors::clock::SystemClock);
    let first = crate::helpers::spawn_app_with(Db::Postgres, clock(), fast(url.clone())).await;
    let second = crate::helpers::spawn_app_with(Db::Postgres, clock(), fast(url)).await;
    let (status, _) = first
        .post("/ops/reconcile", json!({ "dry_run": true }))
        .await;
    assert_eq!(status, 200, "the first instance leads");
    let (status, body) = second
        .post("/ops/reconcile", json!({ "dry_run": true }))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("not_leader")),
        "{body}"
    );
    // Both still serve users (state changes are guarded in SQL).
    assert_eq!(
        second
            .post("/ops/users/77/grant", json!({ "days": 1 }))
            .await
            .0,
        200
    );

    first.stop().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (status, _) = second
            .post("/ops/reconcile", json!({ "dry_run": true }))
            .await;
        if status == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the second instance never took the lead"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    second.stop().await;
}
