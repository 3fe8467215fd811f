//! A panic inside a user actor's store work (the part spawned on the main
//! runtime, whose panic the actor re-raises) kills that actor only: the
//! caller gets an error rather than a hang, the Registry counts the death and
//! re-activates the actor from the store, nothing of the failed message is
//! written, and the next message for that user works. The panic is injected
//! with the `fault-injection` feature, which this test suite builds with.

use std::time::Duration;

use subvisor_actors::Error;
use subvisor_actors::domain::Principal;
use subvisor_actors::faults::panic_in_next_store_work;
use subvisor_actors::messages::GrantDays;
use subvisor_testkit::fixtures::uid;

use crate::helpers::{Db, both_backends, spawn_app};

/// Far longer than any store call here: only a hang exceeds it.
const HANG: Duration = Duration::from_secs(60);

both_backends!(a_panic_in_the_store_work_restarts_only_that_actor);

async fn a_panic_in_the_store_work_restarts_only_that_actor(db: Db) {
    let app = spawn_app(db, None).await;
    // The fault is armed process-wide: users of this test only, per backend.
    let (victim, bystander) = match db {
        Db::Sqlite => (uid(980_001), uid(980_002)),
        Db::Postgres => (uid(980_011), uid(980_012)),
    };
    let grant = |days| GrantDays {
        days,
        by: Principal::Ops,
    };
    let registry = &app.registry;
    let store = registry.store();
    registry.send(victim, grant(10)).await.expect("grant");
    registry.send(bystander, grant(10)).await.expect("grant");
    let before = store.user(victim).await.expect("read").expect("user");
    let audit_before = store.recent_audit(victim, 100).await.expect("audit");
    let stats = registry.stats();

    panic_in_next_store_work(victim);
    let crashed = tokio::time::timeout(HANG, registry.send(victim, grant(1)))
        .await
        .expect("the caller gets an answer, not a hang");
    assert!(
        matches!(crashed, Err(Error::ActorDied(u)) if u == victim),
        "{crashed:?}"
    );
    assert_eq!(
        registry.stats().restarts,
        stats.restarts + 1,
        "the death is counted"
    );
    // Nothing of the failed grant was written.
    assert_eq!(
        store.user(victim).await.expect("read").expect("user"),
        before
    );
    assert_eq!(
        store.recent_audit(victim, 100).await.expect("audit"),
        audit_before
    );

    // Others go on; the victim's next message re-activates its actor and works.
    registry
        .send(bystander, grant(1))
        .await
        .expect("the bystander is served");
    let renewed = tokio::time::timeout(HANG, registry.send(victim, grant(1)))
        .await
        .expect("the caller gets an answer, not a hang")
        .expect("the next message works");
    let after = registry.stats();
    assert_eq!(
        after.activations,
        stats.activations + 1,
        "a new actor for the victim"
    );
    assert_eq!(after.restarts, stats.restarts + 1, "one death only");
    let old = before.subscription.expect("subscription");
    let new = renewed.snapshot.subscription.expect("subscription");
    assert_eq!(new.expires_at, old.expires_at + chrono::Duration::days(1));
    assert_eq!(new.version, old.version + 1, "one write since the crash");
    app.stop().await;
}
