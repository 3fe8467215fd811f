//! The randomized soak: random grants, reissues, revokes and expiries go
//! through the real binary while a real v2ray node is killed and restarted
//! (sometimes again within seconds of its start), a fake Xray node restarts
//! and the server itself is SIGKILLed with requests in flight. After it
//! settles and one reconcile, both nodes hold exactly the desired keys and
//! every acknowledged change is in the database. The last third of the run
//! changes users with no faults, so a lost node op cannot hide behind a
//! later node restart.
//!
//! `SUBVISOR_SOAK_SECS` (default 40) sets how long changes are thrown at it;
//! `SUBVISOR_SOAK_SEED` replays a run (the seed is printed).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use subvisor_testkit::fake_xray::FakeXrayNode;
use subvisor_testkit::v2ray::{HttpTarget, KeyProbe, V2rayNode, VlessClient};
use uuid::Uuid;

use crate::helpers::ServerProcess;

/// Few users: every key ever issued is probed through the real node at the end.
const USERS: std::ops::RangeInclusive<i64> = 901..=906;
const PAGE: &str = "soak page";

fn config(dir: &Path, v2ray: &V2rayNode, fake: &FakeXrayNode) -> String {
    let (_, public_a) = subvisor::keys::generate().expect("keys");
    let (_, public_b) = subvisor::keys::generate().expect("keys");
    let conf = dir.join("conf");
    std::fs::create_dir_all(&conf).expect("mkdir");
    let toml = format!(
        r#"
[scheduler]
interval = "200ms"
[outbox]
poll_interval = "200ms"
[gateway]
call_timeout = "2s"
retries = 1
failure_threshold = 2
cooldown = "300ms"
health_interval = "200ms"
[reconcile]
interval = "1h"

[[nodes]]
name = "soak-v2ray"
api = "{v2ray_api}"
api_flavor = "v2ray"
inbound_tag = "{v2ray_tag}"
host = "127.0.0.1"
port = {v2ray_port}
sni = "www.example.com"
public_key = "{public_a}"
label = "Soak v2ray"

[[nodes]]
name = "soak-fake"
api = "{fake_api}"
inbound_tag = "{fake_tag}"
host = "127.0.0.1"
port = 443
sni = "www.example.com"
public_key = "{public_b}"
label = "Soak fake"
"#,
        v2ray_api = v2ray.api_addr(),
        v2ray_tag = v2ray.inbound_tag(),
        v2ray_port = v2ray.vless_port(),
        fake_api = fake.api_addr(),
        fake_tag = fake.inbound_tag(),
    );
    std::fs::write(conf.join("default.toml"), toml).expect("write config");
    conf.to_string_lossy().into_owned()
}

/// What the test knows a user must look like: the last acknowledged answer
/// (status and active key), or nothing yet.
#[derive(Debug, Clone, Default)]
struct Expected {
    status: Option<String>,
    key: Option<Uuid>,
}

fn active_key(view: &Value) -> Option<Uuid> {
    view["keys"]
        .as_array()?
        .iter()
        .find(|k| k["state"] == "active")
        .and_then(|k| k["uuid"].as_str())
        .and_then(|u| Uuid::parse_str(u).ok())
}

fn expected_from(view: &Value) -> Expected {
    Expected {
        status: view["status"].as_str().map(str::to_owned),
        key: active_key(view),
    }
}

enum Outcome {
    /// 200 with the committed view.
    Acked(Value),
    /// Refused (4xx): nothing changed.
    Refused,
    /// Cut off or failed: the change may or may not have committed.
    Unknown,
}

fn post(http: &reqwest::blocking::Client, url: &str, body: Value) -> Outcome {
    match http.post(url).json(&body).send() {
        Ok(resp) if resp.status() == 200 => match resp.json::<Value>() {
            Ok(view) => Outcome::Acked(view),
            Err(_) => Outcome::Unknown,
        },
        Ok(resp) if resp.status().is_client_error() => Outcome::Refused,
        _ => Outcome::Unknown,
    }
}

/// Takes an answer into what the test expects: an acknowledged change is the
/// user's new expected state; a cut-off one leaves the user unknown until the
/// next acknowledged change.
fn record(
    expected: &mut BTreeMap<i64, Expected>,
    uncertain: &mut BTreeSet<i64>,
    user: i64,
    outcome: Outcome,
) {
    match outcome {
        Outcome::Acked(view) => {
            expected.insert(user, expected_from(&view));
            uncertain.remove(&user);
        }
        Outcome::Refused => {}
        Outcome::Unknown => {
            uncertain.insert(user);
        }
    }
}

fn get_user(http: &reqwest::blocking::Client, ops: &str, user: i64) -> Option<Value> {
    let resp = http
        .get(format!("{ops}/ops/users/{user}"))
        .send()
        .expect("user view");
    if resp.status() == 404 {
        return None;
    }
    assert_eq!(resp.status(), 200);
    Some(resp.json().expect("json"))
}

/// Moves one active user's expiry into the past, as time would: the
/// Scheduler must expire it through the user's actor (racing our changes).
fn expire_now(runtime: &tokio::runtime::Runtime, db: &str, user: i64) {
    runtime.block_on(async {
        use sqlx::ConnectOptions;
        let mut conn = db
            .parse::<sqlx::sqlite::SqliteConnectOptions>()
            .expect("db url")
            .busy_timeout(Duration::from_secs(10))
            .connect()
            .await
            .expect("open the database");
        let past = chrono::Utc::now().timestamp_millis() - 1_000;
        sqlx::query(
            "UPDATE subscriptions SET expires_at = ?1 WHERE user_id = ?2 AND status = 'active'",
        )
        .bind(past)
        .bind(user)
        .execute(&mut conn)
        .await
        .expect("time travel");
    });
}

fn start_server(cwd: &Path, conf: &str) -> ServerProcess {
    ServerProcess::start_with_args(cwd, &["--config", conf], &[])
}

fn settled(http: &reqwest::blocking::Client, ops: &str) -> bool {
    let Ok(resp) = http.get(format!("{ops}/metrics")).send() else {
        return false;
    };
    let metrics = resp.text().unwrap_or_default();
    metrics.contains("subvisor_outbox_depth{outbox=\"provisioning\"} 0")
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn random_changes_while_nodes_and_the_server_die() {
    let secs = std::env::var("SUBVISOR_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40u64);
    let seed = std::env::var("SUBVISOR_SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    println!("soak: {secs} s, seed {seed} (SUBVISOR_SOAK_SEED replays it)");
    let mut rng = StdRng::seed_from_u64(seed);

    let mut v2ray = V2rayNode::start().expect("v2ray node");
    let fake = FakeXrayNode::start("vless-in").expect("fake node");
    let target = HttpTarget::start(PAGE).expect("target");
    let cwd = tempfile::tempdir().expect("temp dir");
    let conf = config(cwd.path(), &v2ray, &fake);
    let db = format!(
        "sqlite://{}",
        cwd.path().join("data/subvisor.db").to_string_lossy()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let mut server = start_server(cwd.path(), &conf);
    let mut expected: BTreeMap<i64, Expected> = BTreeMap::new();
    let mut uncertain: BTreeSet<i64> = BTreeSet::new();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();

    // The last third is calm (changes only, no faults): a change whose node
    // op was lost would otherwise hide behind the next node restart.
    let deadline = Instant::now() + Duration::from_secs(secs);
    let calm_from = deadline - Duration::from_secs(secs / 3);
    while Instant::now() < deadline {
        let user = rng.random_range(USERS);
        let roll = if Instant::now() < calm_from {
            rng.random_range(0..100)
        } else {
            rng.random_range(0..58)
        };
        let (what, path, body) = match roll {
            0..35 => (
                "grant",
                "grant",
                json!({ "days": rng.random_range(1..=30) }),
            ),
            35..50 => ("reissue", "reissue", json!({})),
            50..58 => ("revoke", "revoke", json!({})),
            58..68 => {
                *counts.entry("expire").or_default() += 1;
                expire_now(&runtime, &db, user);
                if let Some(e) = expected.get_mut(&user)
                    && e.status.as_deref() == Some("active")
                {
                    // The Scheduler expires it unless a later change renews it first.
                    e.status = Some("expired".into());
                }
                continue;
            }
            68..78 => {
                *counts.entry("v2ray restart").or_default() += 1;
                v2ray.restart().expect("restart v2ray");
                if rng.random_bool(0.5) {
                    // Crash-looping: down again within seconds of its start.
                    std::thread::sleep(Duration::from_millis(rng.random_range(500..2500)));
                    v2ray.restart().expect("restart v2ray again");
                }
                continue;
            }
            78..84 => {
                *counts.entry("v2ray down").or_default() += 1;
                v2ray.kill();
                std::thread::sleep(Duration::from_millis(rng.random_range(200..1500)));
                v2ray.restart().expect("restart v2ray");
                continue;
            }
            84..92 => {
                *counts.entry("fake node restart").or_default() += 1;
                fake.restart();
                continue;
            }
            _ => {
                // SIGKILL with a change in flight: its outcome is unknown.
                *counts.entry("server killed").or_default() += 1;
                let url = format!("{}/ops/users/{user}/grant", server.ops);
                let client = http.clone();
                let inflight =
                    std::thread::spawn(move || post(&client, &url, json!({ "days": 1 })));
                std::thread::sleep(Duration::from_millis(rng.random_range(0..30)));
                server.signal("KILL");
                server.wait_exit(Duration::from_secs(10)).expect("killed");
                let outcome = inflight.join().expect("thread");
                record(&mut expected, &mut uncertain, user, outcome);
                server = start_server(cwd.path(), &conf);
                continue;
            }
        };
        *counts.entry(what).or_default() += 1;
        let url = format!("{}/ops/users/{user}/{path}", server.ops);
        record(&mut expected, &mut uncertain, user, post(&http, &url, body));
        std::thread::sleep(Duration::from_millis(rng.random_range(20..200)));
    }
    // A last round gives every user one more change, each kind in turn, so
    // the final state always holds fresh grants, reissues and revokes.
    for (n, user) in USERS.enumerate() {
        let (what, body) = [
            ("grant", json!({ "days": 7 })),
            ("reissue", json!({})),
            ("revoke", json!({})),
        ][n % 3]
            .clone();
        *counts.entry(what).or_default() += 1;
        let url = format!("{}/ops/users/{user}/{what}", server.ops);
        let outcome = post(&http, &url, body);
        assert!(
            !matches!(outcome, Outcome::Unknown),
            "user {user}: {what} failed with no fault injected"
        );
        record(&mut expected, &mut uncertain, user, outcome);
    }
    println!("soak actions: {counts:?}; users with an unknown last outcome: {uncertain:?}");

    // Settle: both nodes up, the outbox drained, then one reconcile.
    if !v2ray.is_running() {
        v2ray.restart().expect("restart v2ray");
    }
    let ops = server.ops.clone();
    wait_until("the outbox drains", Duration::from_secs(60), || {
        settled(&http, &ops)
    });
    // Scheduled expiries that were due have run (the Scheduler ticks every 200 ms).
    std::thread::sleep(Duration::from_secs(1));
    let reconciled = http
        .post(format!("{ops}/ops/reconcile"))
        .json(&json!({}))
        .send()
        .expect("reconcile");
    assert_eq!(reconciled.status(), 200);
    wait_until(
        "the outbox drains after the reconcile",
        Duration::from_secs(60),
        || settled(&http, &ops),
    );

    // Every acknowledged change is there.
    let mut desired: Vec<(String, Uuid)> = Vec::new();
    let mut every_key: Vec<(Uuid, bool)> = Vec::new();
    for user in USERS {
        let view = get_user(&http, &ops, user);
        if let Some(want) = expected.get(&user)
            && !uncertain.contains(&user)
        {
            let view = view.as_ref().unwrap_or_else(|| panic!("user {user} lost"));
            let got = expected_from(view);
            assert_eq!(
                (got.status.as_deref(), got.key),
                (want.status.as_deref(), want.key),
                "user {user}: the last acknowledged change is not what is stored: {view}"
            );
        }
        let Some(view) = view else { continue };
        let active = view["status"] == "active";
        for key in view["keys"].as_array().expect("keys") {
            let uuid = Uuid::parse_str(key["uuid"].as_str().expect("uuid")).expect("uuid");
            let wanted = active && key["state"] == "active";
            if wanted {
                desired.push((key["email"].as_str().expect("email").to_owned(), uuid));
            }
            every_key.push((uuid, wanted));
        }
    }
    desired.sort();

    // The node that lists its users holds exactly the desired set.
    assert_eq!(fake.users(), desired, "the fake node after the soak");

    // The real node serves every desired key and refuses every other one.
    let log = v2ray.log();
    for (uuid, wanted) in every_key {
        let client = VlessClient::start(v2ray.vless_port(), &uuid.to_string()).expect("client");
        let probe = client.probe(&log, target.port());
        let served = matches!(&probe, KeyProbe::Served(body) if body.contains(PAGE));
        if wanted {
            assert!(served, "key {uuid} is desired but: {probe:?}");
        } else {
            assert_eq!(probe, KeyProbe::UnknownUser, "key {uuid} is not desired");
        }
    }
    server.stop_cleanly();
}
