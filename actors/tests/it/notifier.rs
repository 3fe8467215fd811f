//! The Notifier against a fake Messenger: rate budgets, per-chat order, 429s,
//! blocked users and failures, on SQLite and PostgreSQL.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use subvisor_actors::clock::ManualClock;
use subvisor_actors::domain::AlertKind;
use subvisor_actors::domain::UserId;
use subvisor_actors::notifier::{
    Delivery, Messenger, Notifier, NotifierSettings, PassReport, Throttle,
};
use subvisor_actors::store::{BLOCKED, Backend, PendingAlert, PendingNotification, Profile, Store};
use tokio::time::Instant;

use crate::bot_store::{Db, pending};
use crate::helpers::{both_backends, ctx, t0, uid};

/// One call of [`Fake::deliver`], recorded once the throttle let it through.
#[derive(Debug, Clone)]
struct Attempt {
    user: UserId,
    id: i64,
    at: Instant,
    outcome: Delivery,
}

/// A Messenger that waits for the throttle like the real one, records every
/// attempt and answers from a script (per notification id, then per user,
/// else `Sent`), optionally after some latency.
#[derive(Default)]
struct Fake {
    by_id: Mutex<HashMap<i64, VecDeque<Delivery>>>,
    by_user: Mutex<HashMap<UserId, Delivery>>,
    log: Mutex<Vec<Attempt>>,
    /// How long Telegram takes to answer (after the send is recorded).
    latency: Mutex<Duration>,
    /// Alerts delivered (id), and scripted answers for the next alerts.
    alerts: Mutex<Vec<i64>>,
    alert_script: Mutex<VecDeque<Delivery>>,
}

impl Fake {
    fn script(&self, id: i64, outcomes: impl IntoIterator<Item = Delivery>) {
        self.by_id
            .lock()
            .expect("lock")
            .insert(id, outcomes.into_iter().collect());
    }

    fn always(&self, user: UserId, outcome: Delivery) {
        self.by_user.lock().expect("lock").insert(user, outcome);
    }

    fn answer_after(&self, latency: Duration) {
        *self.latency.lock().expect("lock") = latency;
    }

    fn log(&self) -> Vec<Attempt> {
        self.log.lock().expect("lock").clone()
    }

    /// Ids of the notifications that went out, in sending order.
    fn sent(&self) -> Vec<i64> {
        self.log()
            .iter()
            .filter(|a| a.outcome == Delivery::Sent)
            .map(|a| a.id)
            .collect()
    }

    fn attempts_of(&self, id: i64) -> usize {
        self.log().iter().filter(|a| a.id == id).count()
    }
}

#[async_trait]
impl Messenger for Fake {
    async fn deliver(&self, n: &PendingNotification, throttle: &Throttle) -> Delivery {
        throttle.wait(n.user.get()).await;
        let at = Instant::now();
        let scripted = self
            .by_id
            .lock()
            .expect("lock")
            .get_mut(&n.id)
            .and_then(VecDeque::pop_front);
        let outcome = scripted
            .or_else(|| self.by_user.lock().expect("lock").get(&n.user).cloned())
            .unwrap_or(Delivery::Sent);
        self.log.lock().expect("lock").push(Attempt {
            user: n.user,
            id: n.id,
            at,
            outcome: outcome.clone(),
        });
        let latency = *self.latency.lock().expect("lock");
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        outcome
    }

    async fn deliver_alert(&self, alert: &PendingAlert, throttle: &Throttle) -> Delivery {
        throttle.wait(-1).await;
        let outcome = self
            .alert_script
            .lock()
            .expect("lock")
            .pop_front()
            .unwrap_or(Delivery::Sent);
        if outcome == Delivery::Sent {
            self.alerts.lock().expect("lock").push(alert.id);
        }
        outcome
    }
}

struct Rig {
    db: Db,
    fake: Arc<Fake>,
    clock: Arc<ManualClock>,
    notifier: Notifier,
}

impl Rig {
    async fn new(backend: Backend, settings: NotifierSettings) -> Self {
        let db = Db::open(backend, None).await;
        let fake = Arc::new(Fake::default());
        let clock = Arc::new(ManualClock::new(t0()));
        let notifier = Notifier::new(db.store.clone(), fake.clone(), clock.clone(), settings);
        Self {
            db,
            fake,
            clock,
            notifier,
        }
    }

    fn store(&self) -> &dyn Store {
        self.db.store.as_ref()
    }

    /// Queues `n` notifications for `user` (one grant each), in commit order.
    async fn queue(&self, user: UserId, n: usize) -> Vec<i64> {
        for _ in 0..n {
            self.store()
                .grant_days(&ctx(self.clock_now(), &[]), user, 1)
                .await
                .expect("grant");
        }
        pending(self.store())
            .await
            .iter()
            .filter(|p| p.user == user)
            .map(|p| p.id)
            .collect()
    }

    fn clock_now(&self) -> chrono::DateTime<chrono::Utc> {
        use subvisor_actors::clock::Clock;
        self.clock.now()
    }

    async fn pass(&self) -> PassReport {
        self.notifier.pass().await.expect("pass")
    }

    async fn depth(&self) -> i64 {
        self.store()
            .outbox_depth()
            .await
            .expect("depth")
            .notifications
    }
}

/// Fast budgets for tests about correctness rather than rate.
fn quick(max_attempts: i32) -> NotifierSettings {
    NotifierSettings {
        global_per_second: 200,
        per_chat_interval: Duration::from_millis(20),
        poll_interval: Duration::from_millis(50),
        batch: 500,
        concurrency: 16,
        max_attempts,
    }
}

both_backends!(
    the_global_budget_holds_and_each_is_sent_once,
    one_chat_is_served_in_commit_order_a_second_apart,
    retry_after_pauses_every_send_and_keeps_the_order,
    a_blocked_user_is_marked_and_their_queue_given_up,
    failures_back_off_and_are_given_up,
    alerts_reach_the_admins_once_and_failures_retry,
);

async fn alerts_reach_the_admins_once_and_failures_retry(backend: Backend) {
    let rig = Rig::new(backend, quick(3)).await;
    let at = ctx(rig.clock_now(), &[]);
    for n in 0..3 {
        rig.store()
            .raise_alert(&at, AlertKind::UnknownOrder, serde_json::json!({ "n": n }))
            .await
            .expect("alert");
    }
    assert_eq!(rig.store().outbox_depth().await.expect("depth").alerts, 3);
    rig.fake
        .alert_script
        .lock()
        .expect("lock")
        .push_back(Delivery::Failed {
            permanent: false,
            error: "network".into(),
        });
    let report = rig.pass().await;
    assert_eq!(report.retried, 1, "the first failed and waits: order kept");
    assert!(rig.fake.alerts.lock().expect("lock").is_empty());
    rig.clock.advance(chrono::Duration::seconds(5));
    rig.pass().await;
    let sent = rig.fake.alerts.lock().expect("lock").clone();
    assert_eq!(sent.len(), 3);
    assert!(sent.windows(2).all(|w| w[0] < w[1]), "in order: {sent:?}");
    rig.clock.advance(chrono::Duration::seconds(60));
    rig.pass().await;
    assert_eq!(rig.fake.alerts.lock().expect("lock").len(), 3, "each once");
    assert_eq!(rig.store().outbox_depth().await.expect("depth").alerts, 0);
}

async fn the_global_budget_holds_and_each_is_sent_once(backend: Backend) {
    let rig = Rig::new(
        backend,
        NotifierSettings {
            global_per_second: 30,
            concurrency: 64,
            ..NotifierSettings::default()
        },
    )
    .await;
    let users: Vec<UserId> = (1..=60).map(uid).collect();
    for &u in &users {
        rig.queue(u, 1).await;
    }
    assert_eq!(rig.depth().await, 60);
    let report = rig.pass().await;
    assert_eq!(
        report,
        PassReport {
            sent: 60,
            ..PassReport::default()
        }
    );
    let log = rig.fake.log();
    assert_eq!(log.len(), 60);
    let ids: HashSet<i64> = log.iter().map(|a| a.id).collect();
    assert_eq!(ids.len(), 60, "each notification exactly once");
    let chats: HashSet<UserId> = log.iter().map(|a| a.user).collect();
    assert_eq!(chats.len(), 60);
    let mut times: Vec<Instant> = log.iter().map(|a| a.at).collect();
    times.sort();
    for w in times.windows(31) {
        assert!(
            w[30] - w[0] >= Duration::from_secs(1),
            "31 sends within {:?}",
            w[30] - w[0]
        );
    }
    assert!(
        times[59] - times[0] >= Duration::from_millis(1900),
        "60 sends at 30/s take about two seconds, took {:?}",
        times[59] - times[0]
    );
    assert_eq!(rig.depth().await, 0);
    assert_eq!(rig.pass().await, PassReport::default(), "nothing left");
    assert_eq!(rig.fake.log().len(), 60);
}

async fn one_chat_is_served_in_commit_order_a_second_apart(backend: Backend) {
    let rig = Rig::new(backend, NotifierSettings::default()).await;
    let (chatty, other) = (uid(101), uid(102));
    let ids = rig.queue(chatty, 3).await;
    let theirs = rig.queue(other, 1).await;
    let report = rig.pass().await;
    assert_eq!(report.sent, 4);
    let log = rig.fake.log();
    let mine: Vec<&Attempt> = log.iter().filter(|a| a.user == chatty).collect();
    assert_eq!(
        mine.iter().map(|a| a.id).collect::<Vec<_>>(),
        ids,
        "commit order"
    );
    for w in mine.windows(2) {
        let gap = w[1].at - w[0].at;
        assert!(
            gap >= Duration::from_millis(990),
            "{gap:?} between two messages to one chat"
        );
    }
    let other_at = log.iter().find(|a| a.id == theirs[0]).expect("sent").at;
    assert!(
        other_at < mine[1].at,
        "another chat does not wait for this chat's budget"
    );
    assert_eq!(rig.depth().await, 0);
}

async fn retry_after_pauses_every_send_and_keeps_the_order(backend: Backend) {
    let pause = Duration::from_millis(600);
    let rig = Rig::new(
        backend,
        NotifierSettings {
            // Slow enough that the other chat's send is still queued for the
            // global budget when the 429 comes back.
            global_per_second: 5,
            per_chat_interval: Duration::from_millis(100),
            ..quick(8)
        },
    )
    .await;
    let (a, b) = (uid(201), uid(202));
    let ids_a = rig.queue(a, 2).await;
    let ids_b = rig.queue(b, 1).await;
    rig.fake.script(ids_a[0], [Delivery::RetryAfter(pause)]);
    // The 429 comes back a moment after the request, as over a network.
    rig.fake.answer_after(Duration::from_millis(100));

    let first = rig.pass().await;
    assert_eq!((first.sent, first.retried), (1, 1));
    let log = rig.fake.log();
    let limited = log
        .iter()
        .find(|x| x.outcome == Delivery::RetryAfter(pause))
        .expect("the 429")
        .at;
    let b_at = log
        .iter()
        .find(|x| x.id == ids_b[0])
        .expect("b was sent")
        .at;
    assert!(
        b_at >= limited + pause,
        "a send went out {:?} into a {pause:?} pause",
        b_at - limited
    );
    assert_eq!(
        rig.fake.attempts_of(ids_a[1]),
        0,
        "a's second message waits behind the first"
    );

    // The retried one is due again only after its retry time, and until then
    // the later message of the same chat does not overtake it.
    let store = rig.store();
    let due = store.due_notifications(t0(), 10).await.expect("due");
    assert!(
        due.is_empty(),
        "nothing of a's may go before the retry: {due:?}"
    );
    assert_eq!(rig.pass().await, PassReport::default());
    assert_eq!(rig.fake.attempts_of(ids_a[1]), 0);
    let at = t0() + chrono::Duration::from_std(pause).expect("fits");
    let due = store.due_notifications(at, 10).await.expect("due");
    assert_eq!(due.iter().map(|n| n.id).collect::<Vec<_>>(), ids_a);
    // A 429 is Telegram's flood control, not a failure: it uses up no attempt.
    assert_eq!(due[0].attempts, 0);

    rig.clock.set(at);
    let second = rig.pass().await;
    assert_eq!(second.sent, 2);
    assert_eq!(rig.fake.sent(), vec![ids_b[0], ids_a[0], ids_a[1]]);
    assert_eq!(rig.fake.attempts_of(ids_a[0]), 2);
    assert_eq!(rig.depth().await, 0);
    assert_eq!(rig.pass().await, PassReport::default());
}

async fn a_blocked_user_is_marked_and_their_queue_given_up(backend: Backend) {
    let rig = Rig::new(backend, quick(8)).await;
    let (a, b) = (uid(301), uid(302));
    let ids_a = rig.queue(a, 3).await;
    let ids_b = rig.queue(b, 2).await;
    rig.fake.script(ids_a[0], [Delivery::Blocked]);

    let report = rig.pass().await;
    assert_eq!((report.sent, report.blocked), (2, 1));
    let store = rig.store();
    assert!(
        store
            .user(a)
            .await
            .expect("read")
            .expect("exists")
            .bot_blocked
    );
    assert!(
        !store
            .user(b)
            .await
            .expect("read")
            .expect("exists")
            .bot_blocked
    );
    assert_eq!(rig.fake.sent(), ids_b, "b unaffected");
    assert_eq!(rig.fake.attempts_of(ids_a[0]), 1);
    assert_eq!(rig.fake.attempts_of(ids_a[1]), 0);
    assert_eq!(rig.fake.attempts_of(ids_a[2]), 0);
    for (kind, state, _, error) in rig.db.notification_rows(a).await {
        assert_eq!(
            (state.as_str(), error.as_deref()),
            ("failed", Some(BLOCKED)),
            "{kind}"
        );
    }
    assert!(
        rig.db
            .notification_rows(b)
            .await
            .iter()
            .all(|(_, state, _, _)| state == "sent")
    );
    assert_eq!(rig.depth().await, 0);
    assert_eq!(rig.pass().await, PassReport::default());

    // Queued while blocked: given up without trying.
    let later = rig.queue(a, 1).await;
    assert_eq!(later.len(), 1);
    let report = rig.pass().await;
    assert_eq!((report.sent, report.blocked), (0, 1));
    assert_eq!(rig.fake.attempts_of(later[0]), 0);
    assert_eq!(rig.depth().await, 0);
    let rows = rig.db.notification_rows(a).await;
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[3].3.as_deref(), Some(BLOCKED));

    // They talk to the bot again: messages flow again.
    store
        .touch_user(&ctx(t0(), &[]), a, &Profile::default())
        .await
        .expect("touch");
    let back = rig.queue(a, 1).await;
    assert_eq!(rig.pass().await.sent, 1);
    assert_eq!(rig.fake.attempts_of(back[0]), 1);
    assert_eq!(rig.fake.sent().last(), Some(&back[0]));
}

async fn failures_back_off_and_are_given_up(backend: Backend) {
    let rig = Rig::new(backend, quick(3)).await;
    let (flaky, broken, fine) = (uid(401), uid(402), uid(403));
    let ids_flaky = rig.queue(flaky, 1).await;
    let ids_broken = rig.queue(broken, 1).await;
    let ids_fine = rig.queue(fine, 1).await;
    rig.fake.always(
        flaky,
        Delivery::Failed {
            permanent: false,
            error: "HTTP 500".into(),
        },
    );
    rig.fake.always(
        broken,
        Delivery::Failed {
            permanent: true,
            error: "Bad Request: chat not found".into(),
        },
    );
    let store = rig.store();
    let due_at = |secs: i64, millis: i64| {
        t0() + chrono::Duration::seconds(secs) + chrono::Duration::milliseconds(millis)
    };
    let due_ids = |now: chrono::DateTime<chrono::Utc>| async move {
        store
            .due_notifications(now, 10)
            .await
            .expect("due")
            .iter()
            .map(|n| (n.id, n.attempts))
            .collect::<Vec<_>>()
    };

    let first = rig.pass().await;
    assert_eq!(
        first,
        PassReport {
            sent: 1,
            retried: 1,
            blocked: 0,
            failed: 1
        }
    );
    assert_eq!(
        rig.fake.attempts_of(ids_broken[0]),
        1,
        "permanent: no retry"
    );
    assert_eq!(rig.fake.sent(), ids_fine);
    // Backoff 1 s, then 2 s.
    assert!(due_ids(due_at(0, 999)).await.is_empty());
    assert_eq!(due_ids(due_at(1, 0)).await, vec![(ids_flaky[0], 1)]);
    assert_eq!(rig.pass().await, PassReport::default(), "not due yet");
    rig.clock.set(due_at(1, 0));
    assert_eq!(rig.pass().await.retried, 1);
    assert!(due_ids(due_at(2, 999)).await.is_empty());
    assert_eq!(due_ids(due_at(3, 0)).await, vec![(ids_flaky[0], 2)]);
    rig.clock.set(due_at(3, 0));
    let last = rig.pass().await;
    assert_eq!(
        (last.failed, last.retried),
        (1, 0),
        "given up after 3 attempts"
    );
    assert_eq!(rig.fake.attempts_of(ids_flaky[0]), 3);
    rig.clock.set(due_at(3600, 0));
    assert_eq!(rig.pass().await, PassReport::default());
    assert_eq!(rig.fake.attempts_of(ids_flaky[0]), 3);
    assert_eq!(rig.depth().await, 0);
    let rows = rig.db.notification_rows(flaky).await;
    assert_eq!(
        (rows[0].1.as_str(), rows[0].2, rows[0].3.as_deref()),
        ("failed", 3, Some("HTTP 500"))
    );
    let rows = rig.db.notification_rows(broken).await;
    assert_eq!(
        (rows[0].1.as_str(), rows[0].2, rows[0].3.as_deref()),
        ("failed", 1, Some("Bad Request: chat not found"))
    );
}
