//! The ops console in a real headless Chromium against the running service
//! (a v2ray node, a fake Xray node holding a stray, a dead node, a flagged
//! order, a stuck notification); its guards without a browser (no session,
//! no CSRF token); and the dashboard's and alert rules' metric names against
//! `/metrics`.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};
use subvisor_testkit::browser::{Browser, BrowserOptions, Image};
use subvisor_testkit::fake_xray::FakeXrayNode;
use subvisor_testkit::v2ray::V2rayNode;

use crate::helpers::{Db, eventually};
use crate::payments::{Payments, ipn, start_with};
use crate::provisioning::{fast, node_settings};

const TOKEN: &str = "console-test-token-0123456789";
const STRAY: &str = "sv.424242.1";

/// The service with three nodes (`tag` keeps metric labels apart between
/// tests), the ops token, and the fake payment providers.
async fn service(tag: &str, xray: &FakeXrayNode, v2ray: Option<&V2rayNode>) -> Payments {
    let mut nodes = vec![node_settings(
        &format!("{tag}-xray"),
        xray.api_addr(),
        "xray",
        443,
    )];
    if let Some(v) = v2ray {
        nodes.push(node_settings(
            &format!("{tag}-v2ray"),
            v.api_addr(),
            "v2ray",
            v.vless_port(),
        ));
    }
    nodes.push(node_settings(
        &format!("{tag}-dead"),
        "127.0.0.1:9".into(),
        "xray",
        443,
    ));
    start_with(Db::Sqlite, move |s| {
        fast(s);
        s.reconcile.interval = Duration::from_secs(3600);
        s.ops.token = Some(TOKEN.to_owned().into());
        s.nodes = nodes;
    })
    .await
}

/// A client that keeps cookies and does not follow redirects.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn bearer_get(p: &Payments, path: &str) -> Value {
    p.app
        .http
        .get(format!("{}{path}", p.app.ops))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json")
}

async fn bearer_post(p: &Payments, path: &str, body: Value) -> Value {
    let resp = p
        .app
        .http
        .post(format!("{}{path}", p.app.ops))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 200, "{path}");
    resp.json().await.expect("json")
}

/// A user with a key, a flagged NOWPayments order (partially paid), and a
/// notification nobody can send (no bot in tests: it stays pending).
async fn seed(p: &Payments, user: i64) -> String {
    bearer_post(
        p,
        &format!("/ops/users/{user}/grant"),
        json!({ "days": 30 }),
    )
    .await;
    let order = p
        .app
        .http
        .post(format!("{}/ops/users/{user}/orders", p.app.ops))
        .bearer_auth(TOKEN)
        .json(&json!({ "plan": "month", "provider": "nowpayments" }))
        .send()
        .await
        .expect("order")
        .json::<Value>()
        .await
        .expect("json");
    let order = order["order_id"].as_str().expect("order id").to_owned();
    let (code, body) = p
        .nowpayments(&ipn(777_001, "partially_paid", &order, 2.99))
        .await;
    assert_eq!(
        (code, body["outcome"].as_str()),
        (200, Some("flagged")),
        "{body}"
    );
    order
}

/// Puts a stray on the fake Xray node once the start-up reconcile has run
/// (which would have removed it).
async fn plant_stray(p: &Payments, xray: &FakeXrayNode, node: &str) {
    eventually(
        "the start-up reconcile ran",
        Duration::from_secs(15),
        async || {
            let nodes = bearer_get(p, "/ops/nodes").await;
            nodes["nodes"]
                .as_array()
                .and_then(|n| n.iter().find(|n| n["name"] == node))
                .is_some_and(|n| !n["last_reconcile"].is_null())
        },
    )
    .await;
    xray.insert_user(STRAY, uuid::Uuid::new_v4());
}

async fn wait_for(b: &mut Browser, js: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while b.eval(js).await != Value::Bool(true) {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {js}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Posts the page's form `selector` with `fetch` (the browser's session
/// cookie, the page's CSRF token) and returns the answer's HTML.
async fn post_form(b: &mut Browser, selector: &str, html_of: Option<&str>) -> String {
    let source = match html_of {
        Some(html) => format!(
            "new DOMParser().parseFromString({}, 'text/html').querySelector({:?})",
            serde_json::to_string(html).expect("json"),
            selector
        ),
        None => format!("document.querySelector({selector:?})"),
    };
    let js = format!(
        "(() => {{ const f = {source}; return fetch(f.getAttribute('action'), {{method: 'POST', \
         credentials: 'same-origin', body: new URLSearchParams(new FormData(f))}}) \
         .then(r => r.text()); }})()"
    );
    b.eval(&js).await.as_str().expect("html").to_owned()
}

#[actix_rt::test]
async fn the_console_shows_every_section_and_reconciles_a_node_in_chromium() {
    let xray = FakeXrayNode::start("vless-in").expect("fake xray");
    let v2ray = V2rayNode::start().expect("v2ray node");
    let p = service("cb", &xray, Some(&v2ray)).await;
    let order = seed(&p, 4001).await;
    plant_stray(&p, &xray, "cb-xray").await;
    let origin = p.app.ops.clone();

    let mut b = Browser::start(BrowserOptions::phone("en")).await;
    b.open(&format!("{origin}/console")).await;
    assert!(
        b.eval("location.pathname").await == "/console/sign-in",
        "no session: the sign-in form"
    );
    b.eval(&format!(
        "document.querySelector('[name=token]').value = {TOKEN:?}; \
         document.querySelector('[name=name]').value = 'alice'; \
         setTimeout(() => document.getElementById('sign-in').requestSubmit(), 0); true"
    ))
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    wait_for(&mut b, "location.pathname === '/console' && document.readyState === 'complete' && !!document.getElementById('actors')").await;
    let cookie_visible = b.eval("document.cookie").await;
    assert_eq!(cookie_visible, "", "the session cookie is HttpOnly");

    // Open it fresh so this page's requests and console are the ones checked.
    b.open(&format!("{origin}/console")).await;
    let text = |id: &str| format!("document.getElementById('{id}').innerText");
    assert!(
        b.eval(&text("nodes"))
            .await
            .as_str()
            .is_some_and(|t| t.contains("cb-v2ray")
                && t.contains("cb-dead")
                && t.contains("cb-xray"))
    );
    wait_for(&mut b, "true").await;
    let flagged = b.eval(&text("payments")).await;
    let flagged = flagged.as_str().unwrap_or_default();
    assert!(flagged.contains("partially_paid"), "{flagged}");
    let linked = b
        .eval(&format!(
            "!!document.querySelector('#payments .flagged a[href=\"/ops/orders/{order}\"]')"
        ))
        .await;
    assert_eq!(linked, true, "the flagged order is linked: {flagged}");
    let outboxes = b
        .eval("document.querySelector('[data-outbox=notifications] .outbox-depth').innerText")
        .await;
    assert_ne!(outboxes, "0", "the stuck notification shows");
    let live = b
        .eval("document.getElementById('actors-live').innerText")
        .await;
    assert_ne!(live, "0", "the granted user's actor is live");
    assert!(
        b.eval(&text("cluster"))
            .await
            .as_str()
            .is_some_and(|t| t.contains("provisioning"))
    );
    assert_eq!(b.console_errors().await, Vec::<String>::new());
    let requests = b.requests().await;
    assert!(
        requests
            .iter()
            .all(|u| u.starts_with(&origin) || u.starts_with("data:")),
        "{requests:?}"
    );

    let dir = std::env::var_os("SUBVISOR_CONSOLE_SHOTS").map(std::path::PathBuf::from);
    for section in [
        "actors", "nodes", "payments", "outboxes", "cluster", "users",
    ] {
        b.eval(&format!(
            "document.getElementById('{section}').scrollIntoView(); true"
        ))
        .await;
        let rect = b
            .eval(&format!("(() => {{ const r = document.getElementById('{section}').getBoundingClientRect(); return [r.x, r.y, r.width, Math.min(r.height, window.innerHeight - r.y)]; }})()"))
            .await;
        let r: Vec<f64> = rect
            .as_array()
            .expect("rect")
            .iter()
            .filter_map(Value::as_f64)
            .collect();
        let png = b.screenshot_png().await;
        let (dark, light) = Image::decode_png(&png).dark_and_light(r[0], r[1], r[2], r[3]);
        assert!(
            dark > 50 && light > 50,
            "{section} looks blank: {dark} dark, {light} light"
        );
        if let Some(dir) = &dir {
            std::fs::write(dir.join(format!("console-{section}.png")), &png).expect("write shot");
        }
    }

    // The user view, through the search.
    b.open(&format!("{origin}/console/users?q=4001")).await;
    assert_eq!(b.eval("location.pathname").await, "/console/users/4001");
    let linked = b
        .eval(&format!(
            "!!document.querySelector('#user-orders a[href=\"/ops/orders/{order}\"]')"
        ))
        .await;
    assert_eq!(linked, true, "the user's order is listed");
    let keys = b.eval(&text("user-keys")).await;
    assert!(
        keys.as_str()
            .is_some_and(|t| t.contains("cb-dead") && t.contains("adding")),
        "the key waits for the dead node: {keys}"
    );
    assert_eq!(b.console_errors().await, Vec::<String>::new());
    if let Some(dir) = &dir {
        std::fs::write(dir.join("console-user.png"), b.full_page_png().await).expect("write shot");
    }

    // The numbers refresh themselves: a new user's actor shows up without a reload.
    b.open(&format!("{origin}/console?every=1")).await;
    let before: i64 = b
        .eval("Number(document.getElementById('actors-live').innerText)")
        .await
        .as_i64()
        .expect("a number");
    bearer_post(&p, "/ops/users/4011/grant", json!({ "days": 1 })).await;
    wait_for(
        &mut b,
        &format!(
            "Number(document.getElementById('actors-live').innerText) === {}",
            before + 1
        ),
    )
    .await;
    assert_eq!(b.console_errors().await, Vec::<String>::new());
    let requests = b.requests().await;
    assert!(
        requests.iter().all(|u| u.starts_with(&origin)),
        "{requests:?}"
    );

    // Dry run, then apply: the stray goes, the audit log names alice.
    b.open(&format!("{origin}/console")).await;
    let dry = post_form(&mut b, "[data-node=cb-xray] form[action$=reconcile]", None).await;
    assert!(dry.contains("Dry run"), "{dry}");
    assert!(dry.contains(STRAY), "the dry run lists the stray: {dry}");
    assert!(
        xray.users().iter().any(|(e, _)| e == STRAY),
        "a dry run changes nothing"
    );
    let applied = post_form(&mut b, "#apply", Some(&dry)).await;
    assert!(applied.contains("Reconciled"), "{applied}");
    assert!(
        !xray.users().iter().any(|(e, _)| e == STRAY),
        "apply removed the stray"
    );
    let audit = bearer_get(&p, "/ops/audit").await;
    let entry = audit["audit"]
        .as_array()
        .and_then(|a| a.iter().find(|e| e["action"] == "console_reconcile"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(entry["details"]["operator"], "alice", "{audit}");
    assert_eq!(entry["details"]["node"], "cb-xray");
    assert_eq!(entry["details"]["extra"], 1);
    let nodes = bearer_get(&p, "/ops/nodes").await;
    let last = nodes["nodes"]
        .as_array()
        .and_then(|n| n.iter().find(|n| n["name"] == "cb-xray"))
        .map(|n| n["last_reconcile"]["diff"]["fixed"].clone());
    assert_eq!(last, Some(json!(1)), "{nodes}");
    if let Some(dir) = &dir {
        b.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false }),
        )
        .await;
        b.open(&format!("{origin}/console")).await;
        std::fs::write(dir.join("console-desktop.png"), b.full_page_png().await)
            .expect("write shot");
    }
    p.app.stop().await;
}

#[actix_rt::test]
async fn without_a_session_or_its_csrf_token_nothing_happens() {
    let xray = FakeXrayNode::start("vless-in").expect("fake xray");
    let p = service("cg", &xray, None).await;
    bearer_post(&p, "/ops/users/4002/grant", json!({ "days": 30 })).await;
    plant_stray(&p, &xray, "cg-xray").await;
    let ops = &p.app.ops;
    let anon = client();
    for path in [
        "/console",
        "/console/",
        "/console/users?q=4002",
        "/console/users/4002",
        "/console/nope",
    ] {
        let resp = anon.get(format!("{ops}{path}")).send().await.expect("get");
        assert_eq!(resp.status(), 303, "{path}");
        assert_eq!(resp.headers()["location"], "/console/sign-in", "{path}");
    }
    for path in [
        "/console/sign-out",
        "/console/users/4002/grant",
        "/console/users/4002/revoke",
        "/console/users/4002/devices/reset",
        "/console/orders/00000000-0000-0000-0000-000000000000/refund",
        "/console/nodes/cg-xray/reconcile",
        "/console/nodes/cg-xray/retry",
    ] {
        let resp = anon
            .post(format!("{ops}{path}"))
            .form(&[("reason", "x"), ("days", "5"), ("mode", "apply")])
            .send()
            .await
            .expect("post");
        assert_eq!(resp.status(), 401, "{path}");
    }
    // A forged cookie (not signed by us) is no session either.
    let resp = anon
        .get(format!("{ops}/console"))
        .header("cookie", "subvisor_console=9999999999.abc.mallory.00")
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), 303);

    // A wrong token signs nobody in.
    let resp = anon
        .post(format!("{ops}/console/sign-in"))
        .form(&[("token", "not-the-token-at-all"), ("name", "eve")])
        .send()
        .await
        .expect("sign in");
    assert_eq!(resp.status(), 401);
    assert!(resp.headers().get("set-cookie").is_none());

    // Signed in, a form without the CSRF token (or with another's) changes nothing.
    let resp = anon
        .post(format!("{ops}/console/sign-in"))
        .form(&[("token", TOKEN), ("name", "bob")])
        .send()
        .await
        .expect("sign in");
    assert_eq!(resp.status(), 303);
    let set = resp.headers()["set-cookie"]
        .to_str()
        .expect("cookie")
        .to_owned();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/console"] {
        assert!(set.contains(attr), "{set}");
    }
    assert!(!set.contains(TOKEN), "the cookie is not the token");
    assert!(
        !set.contains("Secure"),
        "plain HTTP: no Secure flag ({set})"
    );
    let behind_tls = anon
        .post(format!("{ops}/console/sign-in"))
        .header("x-forwarded-proto", "https")
        .form(&[("token", TOKEN), ("name", "bob")])
        .send()
        .await
        .expect("sign in");
    let tls_cookie = behind_tls.headers()["set-cookie"].to_str().expect("cookie");
    assert!(tls_cookie.contains("; Secure"), "{tls_cookie}");
    let cookie = set.split(';').next().expect("pair").to_owned();
    let page = anon
        .get(format!("{ops}/console"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("console");
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_owned();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    let html = page.text().await.expect("html");
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("a csrf field")
        .to_owned();
    let before = bearer_get(&p, "/ops/users/4002").await;
    for form in [
        vec![("days", "7"), ("reason", "forged")],
        vec![("days", "7"), ("reason", "forged"), ("csrf", "0000")],
    ] {
        let resp = anon
            .post(format!("{ops}/console/users/4002/grant"))
            .header("cookie", &cookie)
            .form(&form)
            .send()
            .await
            .expect("post");
        assert_eq!(resp.status(), 403);
        let resp = anon
            .post(format!("{ops}/console/nodes/cg-xray/reconcile"))
            .header("cookie", &cookie)
            .form(&[("mode", "apply")])
            .send()
            .await
            .expect("post");
        assert_eq!(resp.status(), 403);
    }
    assert_eq!(
        bearer_get(&p, "/ops/users/4002").await,
        before,
        "nothing changed"
    );
    assert!(
        xray.users().iter().any(|(e, _)| e == STRAY),
        "the node was not touched"
    );

    // With the token: the grant goes through, with its reason in the audit trail.
    let resp = anon
        .post(format!("{ops}/console/users/4002/grant"))
        .header("cookie", &cookie)
        .form(&[
            ("days", "7"),
            ("reason", "goodwill"),
            ("csrf", csrf.as_str()),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 303);
    let after = bearer_get(&p, "/ops/users/4002").await;
    assert_ne!(after["expires_at"], before["expires_at"]);
    let user_page = anon
        .get(format!("{ops}/console/users/4002"))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("user")
        .text()
        .await
        .expect("html");
    assert!(
        user_page.contains("console_grant")
            && user_page.contains("goodwill")
            && user_page.contains("bob")
    );

    // A device that fetched the subscription is on the user's page; a reset
    // with a reason forgets it and is audited with the operator's name.
    let token = after["subscription_url"]
        .as_str()
        .and_then(|u| u.rsplit('/').next())
        .expect("subscription url");
    let fetched = anon
        .get(format!("{}/sub/{token}", p.app.public))
        .header("x-hwid", "console-test-phone")
        .header("x-device-model", "Pixel 9")
        .send()
        .await
        .expect("sub");
    assert_eq!(fetched.status(), 200);
    let user_page = |cookie: String| {
        let anon = anon.clone();
        async move {
            anon.get(format!("{ops}/console/users/4002"))
                .header("cookie", cookie)
                .send()
                .await
                .expect("user")
                .text()
                .await
                .expect("html")
        }
    };
    let listed = user_page(cookie.clone()).await;
    assert!(
        listed.contains("console-test-phone") && listed.contains("Pixel 9"),
        "the device is listed"
    );
    let resp = anon
        .post(format!("{ops}/console/users/4002/devices/reset"))
        .header("cookie", &cookie)
        .form(&[("reason", "lost phone")])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 403, "no CSRF token: refused");
    assert_eq!(
        bearer_get(&p, "/ops/users/4002").await["devices"]["devices"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    let resp = anon
        .post(format!("{ops}/console/users/4002/devices/reset"))
        .header("cookie", &cookie)
        .form(&[("reason", "lost phone"), ("csrf", csrf.as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status(), 303);
    let reset = user_page(cookie.clone()).await;
    assert!(!reset.contains("console-test-phone"), "the device is gone");
    assert!(reset.contains("console_reset_devices") && reset.contains("lost phone"));
    assert_eq!(
        bearer_get(&p, "/ops/users/4002").await["devices"]["devices"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );

    // Sign-out clears the cookie.
    let resp = anon
        .post(format!("{ops}/console/sign-out"))
        .header("cookie", &cookie)
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .expect("sign out");
    assert_eq!(resp.status(), 303);
    assert!(
        resp.headers()["set-cookie"]
            .to_str()
            .is_ok_and(|c| c.contains("Max-Age=0"))
    );

    // Guessing is slow: after ten attempts a minute, even the right token waits.
    let mut statuses = Vec::new();
    for token in [
        "guess-1", "guess-2", "guess-3", "guess-4", "guess-5", "guess-6", "guess-7", "guess-8",
        TOKEN,
    ] {
        let resp = anon
            .post(format!("{ops}/console/sign-in"))
            .form(&[("token", token)])
            .send()
            .await
            .expect("sign in");
        statuses.push(resp.status().as_u16());
    }
    assert!(statuses.contains(&401), "{statuses:?}");
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    p.app.stop().await;
}

/// Every `subvisor_*` name in the dashboard and the alert rules.
fn names_in(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("subvisor_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.insert(tail[..end].to_owned());
        rest = &tail[end..];
    }
    out
}

#[actix_rt::test]
async fn every_metric_of_the_dashboard_and_the_alerts_is_exported() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dashboard =
        std::fs::read_to_string(root.join("deploy/grafana/subvisor.json")).expect("dashboard");
    let parsed: Value = serde_json::from_str(&dashboard).expect("the dashboard is JSON");
    assert!(parsed["panels"].as_array().is_some_and(|p| p.len() >= 6));
    let rules_path = root.join("deploy/prometheus/subvisor-alerts.yml");
    let rules = std::fs::read_to_string(&rules_path).expect("rules");
    let mut names = names_in(&dashboard);
    names.extend(names_in(&rules));
    assert!(names.len() >= 15, "{names:?}");

    let xray = FakeXrayNode::start("vless-in").expect("fake xray");
    let p = service("cm", &xray, None).await;
    seed(&p, 4003).await;
    bearer_post(&p, "/ops/reconcile", json!({ "node": "cm-xray" })).await;
    let mut missing = Vec::new();
    eventually(
        "the dead node's breaker state is exported",
        Duration::from_secs(10),
        async || {
            p.app
                .metrics()
                .await
                .contains("subvisor_node_up{node=\"cm-dead\"}")
        },
    )
    .await;
    let text = p.app.metrics().await;
    for name in &names {
        let exported = text.lines().any(|l| {
            !l.starts_with('#')
                && l.starts_with(name.as_str())
                && l[name.len()..].starts_with(['{', ' '])
        });
        if !exported {
            missing.push(name.clone());
        }
    }
    assert_eq!(
        missing,
        Vec::<String>::new(),
        "named in deploy/ but not in /metrics"
    );

    let promtool = std::process::Command::new("promtool")
        .args(["check", "rules"])
        .arg(&rules_path)
        .output();
    match promtool {
        Ok(out) => assert!(
            out.status.success(),
            "promtool: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("promtool not on PATH: rules not checked")
        }
        Err(e) => panic!("promtool: {e}"),
    }
    p.app.stop().await;
}
