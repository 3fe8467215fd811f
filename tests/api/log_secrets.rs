//! No secret reaches the log: the real binary's stderr after requests that fail or are rate-limited with a
//! subscription token in the path, ops calls with a wrong bearer token,
//! webhook calls carrying a secret header, and a Bot API that goes away (its
//! URLs contain `bot<token>`).

use std::time::{Duration, Instant};

use subvisor_testkit::fake_telegram::FakeTelegram;

use crate::helpers::ServerProcess;

const BOT_TOKEN: &str = "424242:BotSecretTokenForTheLogTest_xyz";
const OPS_TOKEN: &str = "OpsBearerSecretForTheLogTest";
const WRONG_BEARER: &str = "WrongBearerSecretGuessedByAnAttacker";
const WEBHOOK_SECRET: &str = "WebhookHeaderSecretInTheLogTest";
const SUB_TOKEN: &str = "SubTokenSecretFromAUsersClient0123";

fn requests_with_secrets(server: &ServerProcess) {
    let public = reqwest::blocking::Client::new();
    // Unknown token → 404; past the burst of 2 → 429 (the limiter answers
    // before the token is looked at); a query string rides along.
    let mut statuses = Vec::new();
    for i in 0..6 {
        let resp = public
            .get(format!("{}/sub/{SUB_TOKEN}?x={i}", server.public))
            .send()
            .expect("sub");
        statuses.push(resp.status().as_u16());
    }
    assert!(
        statuses.contains(&404) && statuses.contains(&429),
        "both failures happened: {statuses:?}"
    );
    let resp = public
        .get(format!("{}/ops/nodes", server.ops))
        .bearer_auth(WRONG_BEARER)
        .send()
        .expect("ops");
    assert_eq!(resp.status(), 401);
    let resp = public
        .get(format!("{}/ops/users/1", server.ops))
        .bearer_auth(OPS_TOKEN)
        .send()
        .expect("ops");
    assert!(resp.status().is_client_error() || resp.status().is_success());
    let resp = public
        .post(format!("{}/telegram/webhook", server.public))
        .header("X-Telegram-Bot-Api-Secret-Token", WEBHOOK_SECRET)
        .body("{}")
        .send()
        .expect("webhook");
    assert!(!resp.status().is_success(), "{}", resp.status());
}

#[test]
fn the_log_holds_no_token_and_no_secret() {
    let cwd = tempfile::tempdir().expect("temp dir");
    let tg = FakeTelegram::start(BOT_TOKEN).expect("fake Telegram");
    let api_url = tg.api_url();
    let mut server = ServerProcess::start(
        cwd.path(),
        &[
            ("SUBVISOR__TELEGRAM__TOKEN", BOT_TOKEN),
            ("SUBVISOR__TELEGRAM__API_URL", &api_url),
            ("SUBVISOR__OPS__TOKEN", OPS_TOKEN),
            ("SUBVISOR__HTTP__PUBLIC_RATE_BURST", "2"),
            ("SUBVISOR__HTTP__PUBLIC_RATE_PER_MINUTE", "1"),
            ("SUBVISOR__LOG__LEVEL", "debug"),
        ],
    );
    // The bot connects in the background: once it is on, the Bot API goes
    // away and its calls fail with network errors for URLs that hold
    // `bot<token>`.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !server.logs().contains("Telegram bot on") {
        assert!(Instant::now() < deadline, "the bot never connected");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(tg);
    let deadline = Instant::now() + Duration::from_secs(20);
    // Polling, or still finishing its connection (menu, webhook removal):
    // either way a failed call to a URL holding the token is logged.
    let failed = |logs: &str| {
        logs.contains("getUpdates failed") || logs.contains("cannot reach the Telegram Bot API")
    };
    while !failed(&server.logs()) {
        assert!(Instant::now() < deadline, "no Bot API failure logged");
        std::thread::sleep(Duration::from_millis(50));
    }
    requests_with_secrets(&server);
    server.signal("TERM");
    assert!(server.wait_exit(Duration::from_secs(10)).is_some());
    let logs = server.logs();
    for secret in [
        BOT_TOKEN,
        OPS_TOKEN,
        WRONG_BEARER,
        WEBHOOK_SECRET,
        SUB_TOKEN,
    ] {
        assert!(!logs.contains(secret), "the log holds {secret}:\n{logs}");
    }
    // The failures were logged, with the path redacted (not dropped).
    assert!(logs.contains("/sub/<redacted>"), "{logs}");
    // teloxide drops the URL (or the token in it) from network errors.
    assert!(logs.contains("A network error"), "{logs}");
}
