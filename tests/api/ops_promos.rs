//! Promo codes through the ops API, in-process, on both backends: made,
//! listed, used by an order (the discounted price is what the balance pays),
//! disabled, refused after; every step in the audit log.

use serde_json::{Value, json};

use crate::helpers::{Db, both_backends, spawn_app};

both_backends!(promo_codes_round_trip_through_the_ops_api);

async fn promo_codes_round_trip_through_the_ops_api(db: Db) {
    let app = spawn_app(db, None).await;
    let (status, body) = app
        .post(
            "/ops/promos",
            json!({ "code": "Spring-25", "kind": "percent", "value": 25, "max_uses": 5,
                    "plans": ["month"] }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["code"], "Spring-25");
    assert_eq!(body["used"], 0);

    // A second code of the same text in another case, a 100 % code, a fixed
    // discount without a currency, a plan that does not exist: 400s.
    for bad in [
        json!({ "code": "SPRING-25", "kind": "percent", "value": 10 }),
        json!({ "code": "ALL", "kind": "percent", "value": 100 }),
        json!({ "code": "FIX", "kind": "fixed", "value": 100 }),
        json!({ "code": "NOPE", "kind": "percent", "value": 10, "plans": ["nope"] }),
    ] {
        let (status, body) = app.post("/ops/promos", bad.clone()).await;
        assert_eq!(status, 400, "{bad} → {body}");
    }

    let (status, body) = app.get("/ops/promos").await;
    assert_eq!(status, 200);
    let promos = body["promos"].as_array().expect("list");
    assert_eq!(promos.len(), 1);
    assert_eq!(promos[0]["code"], "Spring-25");

    // An order with the code, paid from the balance: 299 − 25 % = 225.
    app.credit(77, 1000).await;
    let (status, body) = app
        .post(
            "/ops/users/77/orders",
            json!({ "plan": "month", "provider": "balance", "promo": "spring-25" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "paid");
    assert_eq!(body["user"]["balance"]["minor"], 1000 - 225, "{body}");
    let order: Value = app
        .get(&format!(
            "/ops/orders/{}",
            body["order_id"].as_str().expect("id")
        ))
        .await
        .1;
    assert_eq!(order["order"]["amount"]["minor"], 225);
    // The quarter plan is not covered by the code.
    let (status, body) = app
        .post(
            "/ops/users/77/orders",
            json!({ "plan": "quarter", "provider": "balance", "promo": "spring-25" }),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("promo_refused")),
        "{body}"
    );
    let (_, body) = app.get("/ops/promos").await;
    assert_eq!(body["promos"][0]["used"], 1);

    let (status, _) = app.post("/ops/promos/SPRING-25/disable", json!({})).await;
    assert_eq!(status, 200);
    let (status, _) = app.post("/ops/promos/spring-25/disable", json!({})).await;
    assert_eq!(status, 404, "already disabled");
    let (status, body) = app
        .post(
            "/ops/users/78/orders",
            json!({ "plan": "month", "provider": "balance", "promo": "spring-25" }),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("disabled"),
        "{body}"
    );

    let (_, audit) = app.get("/ops/audit").await;
    let actions: Vec<&str> = audit["audit"]
        .as_array()
        .expect("audit")
        .iter()
        .filter_map(|a| a["action"].as_str())
        .collect();
    for action in ["promo_created", "promo_disabled"] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    let used = app
        .registry
        .queries()
        .recent_audit(subvisor_actors::domain::UserId::new(77).expect("id"), 20)
        .await
        .expect("audit");
    assert!(used.iter().any(|a| a.action == "promo_used"), "{used:?}");
    app.stop().await;
}
