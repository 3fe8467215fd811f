//! Supervised background workers: a panic in any of them is answered with a
//! restart, counted, shown on `/ops/workers` and `/readyz`, and the work each
//! one owns (expiry, provisioning, notifications, the bot's updates, node
//! reconciles) goes on.

use super::*;

/// Every worker of an instance with the bot on (polling) and a node.
const WORKERS: [&str; 10] = [
    "bot-prune",
    "bot-updates",
    "election-payments",
    "election-provisioning",
    "election-scheduler",
    "node-drift",
    "notifier",
    "payments",
    "provisioning-outbox:supervised-1",
    "scheduler",
];

async fn workers(app: &TestApp) -> Vec<serde_json::Value> {
    let (status, body) = app.get("/ops/workers").await;
    assert_eq!(status, 200, "{body}");
    body["workers"].as_array().cloned().unwrap_or_default()
}

fn named<'a>(all: &'a [serde_json::Value], name: &str) -> &'a serde_json::Value {
    all.iter()
        .find(|w| w["name"] == name)
        .unwrap_or_else(|| panic!("no worker {name} in {all:?}"))
}

/// `subvisor_worker_restarts_total{worker="<name>"}` as `/metrics` shows it.
async fn restarts_metric(app: &TestApp, name: &str) -> f64 {
    let text = app.metrics().await;
    let prefix = format!("subvisor_worker_restarts_total{{worker=\"{name}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

#[actix_rt::test]
async fn every_worker_comes_back_after_a_panic_and_its_work_goes_on() {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let (node, node_settings) = xray_node("supervised-1");
    let (app, tg) = spawn_bot(Db::Sqlite, clock.clone(), |s| {
        s.nodes = vec![node_settings];
        // Long enough a back-off for `/readyz` to be seen failing meanwhile.
        s.workers.restart_backoff_min = Duration::from_millis(1500);
        s.workers.restart_backoff_max = Duration::from_millis(1500);
        s.workers.ready_grace = Duration::ZERO;
    })
    .await;
    let all = workers(&app).await;
    let mut names: Vec<&str> = all.iter().filter_map(|w| w["name"].as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, WORKERS);
    assert!(
        all.iter()
            .all(|w| w["state"] == "running" && w["restarts"] == 0)
    );
    let (status, body) = app.get("/readyz").await;
    assert_eq!(status, 200, "{body}");
    let before: Vec<f64> = {
        let mut v = Vec::new();
        for name in WORKERS {
            v.push(restarts_metric(&app, name).await);
        }
        v
    };

    for name in WORKERS {
        assert!(app.workers.inject_panic(name), "{name} is running");
    }
    // While they wait out their back-off the service is not ready, naming them.
    let mut seen_down = HashSet::new();
    eventually("every worker is seen down on /readyz", STEP, async || {
        let (status, body) = app.get("/readyz").await;
        if status == 503 {
            assert_eq!(body["error"]["code"], "workers_down", "{body}");
            for name in body["workers_down"].as_array().into_iter().flatten() {
                seen_down.insert(name.as_str().unwrap_or_default().to_owned());
            }
        }
        seen_down.len() == WORKERS.len()
    })
    .await;
    eventually("every worker runs again", STEP, async || {
        let all = workers(&app).await;
        WORKERS
            .iter()
            .all(|n| named(&all, n)["state"] == "running" && named(&all, n)["restarts"] == 1)
    })
    .await;
    let all = workers(&app).await;
    for name in WORKERS {
        let w = named(&all, name);
        let failure = w["last_failure"].as_str().unwrap_or_default();
        assert!(failure.contains("injected fault"), "{name}: {w}");
        assert_eq!(w["crash_looping"], false, "{name}: {w}");
    }
    let (status, body) = app.get("/readyz").await;
    assert_eq!(status, 200, "{body}");
    for (name, before) in WORKERS.iter().zip(before) {
        assert_eq!(restarts_metric(&app, name).await, before + 1.0, "{name}");
    }

    // The work each one owns still happens. The bot answers (connection and updates):
    let user = 900_777;
    tg.push_update(FakeTelegram::message(user, "/start", Some("en")));
    nth_to_chat(&tg, "sendMessage", user, 0).await;
    // A grant reaches the node (provisioning outbox) and the user is told (notifier).
    let (status, view) = app
        .post(&format!("/ops/users/{user}/grant"), json!({ "days": 5 }))
        .await;
    assert_eq!(status, 200, "{view}");
    card_message(&tg, user).await;
    eventually("the key is on the node", STEP, async || {
        node.users()
            .iter()
            .any(|(email, _)| email.contains(&user.to_string()))
    })
    .await;
    // The reconciler answers.
    let (status, body) = app.post("/ops/reconcile", json!({ "dry_run": true })).await;
    assert_eq!(status, 200, "{body}");
    // The scheduler expires the subscription, the key leaves the node.
    let expires = snapshot(&app, user)
        .await
        .subscription
        .expect("sub")
        .expires_at;
    clock.set(expires + chrono::Duration::minutes(1));
    message_with(&tg, user, "access has expired").await;
    eventually("the key left the node", STEP, async || {
        !node
            .users()
            .iter()
            .any(|(email, _)| email.contains(&user.to_string()))
    })
    .await;
    app.stop().await;
}
