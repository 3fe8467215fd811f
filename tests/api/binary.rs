//! The real binary: start from nothing, CLI against the running server,
//! SIGTERM, config errors, kill -9 in the middle of writes.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{ServerProcess, bin, days_granted};

#[test]
fn serve_with_no_configuration_starts_and_stops_cleanly_on_sigterm() {
    let cwd = tempfile::tempdir().expect("temp dir");
    let mut server = ServerProcess::start(cwd.path(), &[]);
    let http = reqwest::blocking::Client::new();
    let resp = http
        .get(format!("{}/healthz", server.ops))
        .send()
        .expect("healthz");
    assert_eq!(resp.status(), 200);
    let resp = http
        .get(format!("{}/healthz", server.public))
        .send()
        .expect("healthz");
    assert_eq!(resp.status(), 200, "public listener up too");
    assert!(
        cwd.path().join("data/subvisor.db").exists(),
        "SQLite file under data/"
    );
    let logs = server.logs();
    assert!(
        logs.contains("sandbox node"),
        "the log says the sandbox node is used:\n{logs}"
    );

    let started = Instant::now();
    server.signal("TERM");
    let status = server
        .wait_exit(Duration::from_secs(10))
        .expect("exits within 10 s of SIGTERM");
    assert_eq!(status.code(), Some(0), "exit code after SIGTERM");
    println!("SIGTERM to exit: {:?}", started.elapsed());
    let logs = server.logs();
    assert!(logs.contains("stopped"), "{logs}");
}

/// How one client's stream of grants ended once the server went away.
#[derive(Debug)]
enum Ended {
    /// The connection was refused: the server no longer accepted.
    Refused,
    /// The connection was closed without a byte of answer. Legitimate only
    /// for a connection the server never read: one still in the listen
    /// backlog, or queued for a worker (actix-server drops those when it
    /// stops). The exact day total tells whether it had been read.
    Closed(String),
}

/// SIGINT while 8 clients grant days as fast as they can: every request sent
/// is accounted for. It was answered 200 and its day is stored, or it was
/// refused (or closed unread) and stored nothing: the days stored after a
/// restart are exactly the grants acknowledged, so no request the server had
/// taken was cut off on the way out. The process exits 0.
#[test]
fn sigint_finishes_in_flight_requests_and_exits_zero() {
    let cwd = tempfile::tempdir().expect("temp dir");
    let mut server = ServerProcess::start(cwd.path(), &[]);
    let url = format!("{}/ops/users/31/grant", server.ops);
    // Clients keep granting until the server goes away, so requests are in
    // flight when the signal lands. Each request has a connection of its own
    // (no keep-alive, which would let a client keep a draining server busy
    // until its drain timeout cuts it off).
    let senders: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let http = reqwest::blocking::Client::builder()
                    .pool_max_idle_per_host(0)
                    .build()
                    .expect("client");
                let mut acked = 0i64;
                let ended = loop {
                    let sent = http
                        .post(&url)
                        .header(reqwest::header::CONNECTION, "close")
                        .json(&json!({ "days": 1 }))
                        .send();
                    match sent {
                        Ok(r) => {
                            let status = r.status().as_u16();
                            assert_eq!(status, 200, "an answered grant succeeded");
                            acked += 1;
                        }
                        Err(e) if e.is_connect() => break Ended::Refused,
                        Err(e) => {
                            assert!(
                                e.is_request() && e.status().is_none(),
                                "no answer at all, not half of one: {e:?}"
                            );
                            break Ended::Closed(format!("{e:?}"));
                        }
                    }
                };
                (acked, ended)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    server.signal("INT");
    let clients: Vec<(i64, Ended)> = senders
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect();
    let status = server.wait_exit(Duration::from_secs(10)).expect("exits");
    assert_eq!(status.code(), Some(0));
    let acked: i64 = clients.iter().map(|(n, _)| n).sum();
    assert!(acked > 0, "grants were answered before the signal");

    // Every acknowledged grant is in the database, and nothing else.
    let mut server = ServerProcess::start(cwd.path(), &[]);
    let view: Value = reqwest::blocking::get(format!("{}/ops/users/31", server.ops))
        .expect("view")
        .json()
        .expect("json");
    // Exactly: a request the server had read and was cut off before its
    // answer would show as a day nobody was told about.
    let unanswered: Vec<&str> = clients
        .iter()
        .filter_map(|(_, ended)| match ended {
            Ended::Closed(why) => Some(why.as_str()),
            Ended::Refused => None,
        })
        .collect();
    assert_eq!(
        days_granted(&view),
        acked,
        "one day stored for each acknowledged grant, none for the {} closed \
         without an answer: {unanswered:?}",
        unanswered.len()
    );
    server.stop_cleanly();
}

#[test]
fn user_commands_go_through_the_running_server() {
    let cwd = tempfile::tempdir().expect("temp dir");
    let token = "cli-test-token-0123456789";
    let mut server = ServerProcess::start(cwd.path(), &[("SUBVISOR__OPS__TOKEN", token)]);
    let ops_addr = server.ops_addr.clone();
    let cli = |args: &[&str], token: &str| {
        bin()
            .args(args)
            .current_dir(cwd.path())
            .env("SUBVISOR__HTTP__OPS_ADDR", &ops_addr)
            .env("SUBVISOR__OPS__TOKEN", token)
            .output()
            .expect("run cli")
    };
    let out = cli(&["user", "grant", "555", "--days", "7"], token);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("user 555: active"));

    let out = cli(&["user", "show", "555", "--json"], token);
    assert!(out.status.success());
    let view: Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(view["status"], "active");
    assert_eq!(days_granted(&view), 7);
    assert_eq!(view["keys"][0]["email"], "sv.555.1");

    let out = cli(&["user", "revoke", "555"], token);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("revoked"));

    let out = cli(&["user", "show", "556"], token);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));

    let out = cli(&["user", "show", "555"], "wrong-token-0123456789");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("refused the token"));

    server.stop_cleanly();
    let out = cli(&["user", "show", "555"], token);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is `subvisor serve` running"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bad_configuration_fails_at_start_naming_the_key() {
    let cwd = tempfile::tempdir().expect("temp dir");
    let cases = [
        ("SUBVISOR__DATABASE__URL", "mysql://x", "database.url"),
        ("SUBVISOR__HTTP__OPS_ADDR", "not-an-address", "ops_addr"),
        ("SUBVISOR__HTTP__OPS_ADDR", "0.0.0.0:9090", "ops.token"),
        ("SUBVISOR__OPS__TOKEN", "short", "ops.token"),
        (
            "SUBVISOR__ACTORS__MAILBOX_CAPACITY",
            "lots",
            "mailbox_capacity",
        ),
        ("SUBVISOR__ACTORS__IDLE_TIMEOUT", "soon", "idle_timeout"),
        ("SUBVISOR__LOG__FORMAT", "xml", "format"),
        ("SUBVISOR__ACTORS__TYPO", "1", "typo"),
    ];
    for (key, value, named) in cases {
        for cmd in ["check-config", "serve"] {
            let out = bin()
                .arg(cmd)
                .current_dir(cwd.path())
                .env(key, value)
                .output()
                .expect("run");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{cmd} with {key}={value} must fail");
            assert!(
                stderr.contains(named),
                "{cmd} with {key}={value}: error must name {named}: {stderr}"
            );
        }
    }
    let out = bin()
        .arg("check-config")
        .current_dir(cwd.path())
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("configuration OK"));
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("warning"),
        "the sandbox (no nodes, no bot) may keep its loopback links"
    );

    // A bot token with the default loopback public_url: a warning, still OK.
    let token = ("SUBVISOR__TELEGRAM__TOKEN", "123456:test-token-not-real");
    let out = bin()
        .arg("check-config")
        .current_dir(cwd.path())
        .env(token.0, token.1)
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "a warning is no error: {stderr}");
    assert!(
        stderr.contains("warning: subscription.public_url"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("configuration OK"));
    let out = bin()
        .arg("check-config")
        .current_dir(cwd.path())
        .env(token.0, token.1)
        .env(
            "SUBVISOR__SUBSCRIPTION__PUBLIC_URL",
            "https://vpn.example.com",
        )
        .output()
        .expect("run");
    assert!(out.status.success());
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("warning"),
        "a public URL: no warning"
    );

    // An explicit --config DIR must exist and hold default.toml.
    let out = bin()
        .args(["check-config", "--config", "does-not-exist"])
        .current_dir(cwd.path())
        .output()
        .expect("run");
    assert!(!out.status.success());

    // local.toml overrides default.toml, the environment overrides both.
    let dir = cwd.path().join("conf");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("default.toml"), "[trial]\ndays = 5\n").expect("write");
    std::fs::write(
        dir.join("local.toml"),
        "[[plans]]\nid = \"week\"\ntitle = \"1 week\"\ndays = 7\nstars = 50\n",
    )
    .expect("write");
    let out = bin()
        .args(["plans", "--config"])
        .arg(&dir)
        .current_dir(cwd.path())
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("week") && stdout.contains("50 XTR"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("quarter"),
        "local.toml's plans replace the defaults: {stdout}"
    );
}

#[test]
fn migrate_creates_the_database() {
    let cwd = tempfile::tempdir().expect("temp dir");
    let out = bin()
        .arg("migrate")
        .current_dir(cwd.path())
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(cwd.path().join("data/subvisor.db").exists());
    let again = bin()
        .arg("migrate")
        .current_dir(cwd.path())
        .output()
        .expect("run");
    assert!(again.status.success(), "migrating twice is fine");
}

/// kill -9 while grants are in flight: after a restart every acknowledged grant
/// is there, nothing is half-applied, and the provisioning outbox drains.
#[test]
fn killed_mid_flow_loses_no_acknowledged_grant() {
    let cwd = tempfile::tempdir().expect("temp dir");
    let mut server = ServerProcess::start(cwd.path(), &[]);
    let ops = server.ops.clone();
    let users: Vec<i64> = (1000..1040).collect();
    let writers: Vec<_> = users
        .iter()
        .map(|&u| {
            let url = format!("{ops}/ops/users/{u}/grant");
            std::thread::spawn(move || {
                let http = reqwest::blocking::Client::new();
                let mut acked = 0i64;
                for _ in 0..200 {
                    match http.post(&url).json(&json!({ "days": 1 })).send() {
                        Ok(r) if r.status() == 200 => acked += 1,
                        _ => break,
                    }
                }
                acked
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(700));
    server.signal("KILL");
    let acked: Vec<i64> = writers
        .into_iter()
        .map(|w| w.join().expect("thread"))
        .collect();
    assert!(
        acked.iter().sum::<i64>() > 0,
        "some grants were acknowledged before the kill"
    );
    server.wait_exit(Duration::from_secs(5)).expect("killed");

    let mut server =
        ServerProcess::start(cwd.path(), &[("SUBVISOR__OUTBOX__POLL_INTERVAL", "100ms")]);
    let http = reqwest::blocking::Client::new();
    for (&u, &ok) in users.iter().zip(&acked) {
        let resp = http
            .get(format!("{}/ops/users/{u}", server.ops))
            .send()
            .expect("view");
        if ok == 0 && resp.status() == 404 {
            continue;
        }
        let view: Value = resp.json().expect("json");
        let days = days_granted(&view);
        // The one request in flight at the kill may or may not have committed.
        assert!(
            days == ok || days == ok + 1,
            "user {u}: acknowledged {ok}, stored {days}"
        );
        assert_eq!(
            view["keys"].as_array().map(Vec::len),
            Some(1),
            "user {u}: exactly one key"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = http
            .get(format!("{}/metrics", server.ops))
            .send()
            .expect("metrics")
            .text()
            .expect("text");
        if metrics.contains("subvisor_outbox_depth{outbox=\"provisioning\"} 0") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "provisioning outbox did not drain after restart:\n{metrics}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    server.stop_cleanly();
}

#[test]
fn keygen_prints_a_pair_that_check_config_accepts() {
    let cwd = tempfile::tempdir().expect("temp dir");
    let out = bin()
        .arg("keygen")
        .current_dir(cwd.path())
        .output()
        .expect("run");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .expect("key line")
    };
    let (private, public) = (field("Private key:"), field("Public key:"));
    assert_eq!(public.len(), 43, "base64url of 32 bytes without padding");

    let node = |public: &str, private: &str, short_id: &str| {
        format!(
            "[[nodes]]\nname = \"de-1\"\napi = \"127.0.0.1:10085\"\ninbound_tag = \"in\"\nhost = \"vpn.example.com\"\nport = 443\nsni = \"www.example.com\"\npublic_key = \"{public}\"\nprivate_key = \"{private}\"\nshort_id = \"{short_id}\"\nlabel = \"DE\"\n"
        )
    };
    let check = |toml: String| {
        let dir = cwd.path().join("c");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("default.toml"), toml).expect("write");
        let out = bin()
            .args(["check-config", "--config"])
            .arg(&dir)
            .current_dir(cwd.path())
            .output()
            .expect("run");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).to_string()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, text) = check(node(&public, &private, "6ba85179e30d4fc2"));
    assert!(ok, "{text}");
    assert!(text.contains("nodes: de-1"), "{text}");

    let (other_private, _) = {
        let out = bin().arg("keygen").output().expect("run");
        let t = String::from_utf8_lossy(&out.stdout).to_string();
        (
            t.lines()
                .find_map(|l| l.strip_prefix("Private key:"))
                .map(|v| v.trim().to_owned())
                .expect("key"),
            t,
        )
    };
    for (toml, key) in [
        (node(&public, &other_private, ""), "nodes[0].public_key"),
        (node("abc", &private, ""), "nodes[0].public_key"),
        (node(&public, &private, "xyz"), "nodes[0].short_id"),
        (
            node(&public, &private, "") + &node(&public, &private, ""),
            "nodes[1].name",
        ),
    ] {
        let (ok, text) = check(toml);
        assert!(!ok, "must fail naming {key}");
        assert!(text.contains(key), "error must name {key}: {text}");
    }
}

#[test]
fn reconcile_command_reports_the_diff_through_the_server() {
    let node = subvisor_testkit::fake_xray::FakeXrayNode::start("vless-in").expect("fake node");
    let (_, public) = subvisor::keys::generate().expect("keys");
    let cwd = tempfile::tempdir().expect("temp dir");
    let conf = cwd.path().join("conf");
    std::fs::create_dir_all(&conf).expect("mkdir");
    std::fs::write(
        conf.join("default.toml"),
        format!(
            "[reconcile]\ninterval = \"1h\"\n[[nodes]]\nname = \"fake-1\"\napi = \"{}\"\ninbound_tag = \"vless-in\"\nhost = \"127.0.0.1\"\nport = 443\nsni = \"www.example.com\"\npublic_key = \"{public}\"\nlabel = \"Fake\"\n",
            node.api_addr()
        ),
    )
    .expect("write");
    let conf_arg = conf.to_string_lossy().to_string();
    let mut server = ServerProcess::start_with_args(cwd.path(), &["--config", &conf_arg], &[]);
    // Let the start-up reconcile pass finish before planting a stray.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metrics = reqwest::blocking::get(format!("{}/metrics", server.ops))
            .expect("metrics")
            .text()
            .expect("text");
        if metrics.contains("subvisor_reconcile_last_run_timestamp_seconds{node=\"fake-1\"}") {
            break;
        }
        assert!(Instant::now() < deadline, "no start-up reconcile");
        std::thread::sleep(Duration::from_millis(50));
    }
    node.insert_user("sv.777.3", uuid::Uuid::new_v4());
    let cli = |args: &[&str]| {
        bin()
            .args(args)
            .args(["--config", &conf_arg])
            .current_dir(cwd.path())
            .env("SUBVISOR__HTTP__OPS_ADDR", &server.ops_addr)
            .output()
            .expect("run cli")
    };
    let out = cli(&["reconcile", "--dry-run"]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("fake-1: desired 0, on node 1, missing 0, extra 1"),
        "{stdout}"
    );
    assert!(
        stdout.contains("  - sv.777.3") && stdout.contains("dry run"),
        "{stdout}"
    );
    assert_eq!(node.users().len(), 1, "dry run changed nothing");

    let out = cli(&["reconcile", "--node", "fake-1"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("fixed 1"));
    assert!(node.users().is_empty());

    let out = cli(&["reconcile", "--node", "nope"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no node named nope"));
    server.stop_cleanly();
}

#[test]
fn crypto_pay_asset_pricing_needs_plans_in_that_asset() {
    let cwd = tempfile::tempdir().expect("temp dir");
    let out = bin()
        .arg("check-config")
        .current_dir(cwd.path())
        .env("SUBVISOR__PAYMENTS__CRYPTOBOT__TOKEN", "1:abc")
        .env("SUBVISOR__PAYMENTS__CRYPTOBOT__PRICING", "asset")
        .env("SUBVISOR__PAYMENTS__CRYPTOBOT__ASSET", "USDT")
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("plans[0].fiat.currency") && stderr.contains("USDT"),
        "{stderr}"
    );
    let ok = bin()
        .arg("check-config")
        .current_dir(cwd.path())
        .env("SUBVISOR__PAYMENTS__CRYPTOBOT__TOKEN", "1:abc")
        .output()
        .expect("run");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

#[test]
fn plans_priced_in_another_currency_than_the_balance_are_refused() {
    let cwd = tempfile::tempdir().expect("temp dir");
    let out = bin()
        .arg("check-config")
        .current_dir(cwd.path())
        .env("SUBVISOR__PAYMENTS__BALANCE_CURRENCY", "EUR")
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a USD plan and a EUR balance");
    assert!(
        stderr.contains("plans[0].fiat.currency")
            && stderr.contains("balance is held in EUR")
            && stderr.contains("wrong currency"),
        "{stderr}"
    );
    let out = bin()
        .arg("check-config")
        .current_dir(cwd.path())
        .env("SUBVISOR__HTTP__TRUSTED_PROXIES", "proxy.local")
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("http.trusted_proxies"),
        "{stderr}"
    );
}
