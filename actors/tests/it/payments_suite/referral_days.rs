//! `[referral] bonus_days`: the referrer gets days of access (once, audited,
//! told through the extension's notice) when a referred friend first pays,
//! and loses them when that order is refunded.

use super::*;

both_backends!(referral_days_are_given_once_and_taken_back_with_the_order);

async fn referral_days_are_given_once_and_taken_back_with_the_order(backend: Backend) {
    let db = Db::open_with(backend, |o| o.referral_bonus_days = 7).await;
    let s = db.store.as_ref();
    let (referrer, friend) = (uid(80), uid(81));
    for (user, by) in [(referrer, None), (friend, Some(referrer))] {
        let profile = Profile {
            username: None,
            display_name: None,
            language_code: None,
            referrer: by,
        };
        s.touch_user(&ctx(t0(), &nodes()), user, &profile)
            .await
            .expect("touch");
    }
    // The referrer has 30 days of their own.
    let own = plan_order(s, referrer, Provider::Stars, t0()).await;
    s.apply_payment(
        &ctx(t0(), &nodes()),
        referrer,
        own.id,
        &paid(Provider::Stars, "tg-own", xtr(150)),
    )
    .await
    .expect("own pay");
    let expires = |snap: Option<subvisor_actors::store::UserSnapshot>| {
        snap.and_then(|s| s.subscription).map(|s| s.expires_at)
    };
    assert_eq!(
        expires(s.user(referrer).await.expect("read")),
        Some(t0() + Duration::days(30))
    );

    let first = plan_order(s, friend, Provider::Stars, t0()).await;
    let second = plan_order(s, friend, Provider::Stars, t0()).await;
    for (o, charge) in [(&first, "tg-1"), (&second, "tg-2")] {
        s.apply_payment(
            &ctx(t0(), &nodes()),
            friend,
            o.id,
            &paid(Provider::Stars, charge, xtr(150)),
        )
        .await
        .expect("pay");
    }
    assert_eq!(
        expires(s.user(referrer).await.expect("read")),
        Some(t0() + Duration::days(37)),
        "7 days once, for the first paid order only"
    );
    assert_eq!(s.ledger_sum(referrer).await.expect("sum"), 0, "no money");
    let audit = s.recent_audit(referrer, 20).await.expect("audit");
    let bonus: Vec<_> = audit
        .iter()
        .filter(|a| a.action == "referral_bonus")
        .collect();
    assert_eq!(bonus.len(), 1);
    assert_eq!(bonus[0].details["days"], 7);
    let told = db.notification_rows(referrer).await;
    assert!(
        told.iter().filter(|(kind, ..)| kind == "extended").count() >= 1,
        "{told:?}"
    );

    // The second order earned nothing: its refund takes nothing back.
    s.refund_order(&ctx(t0(), &nodes()), friend, second.id)
        .await
        .expect("refund second");
    assert_eq!(
        expires(s.user(referrer).await.expect("read")),
        Some(t0() + Duration::days(37))
    );
    // The first one's refund takes the 7 days back, once.
    for _ in 0..2 {
        let _ = s.refund_order(&ctx(t0(), &nodes()), friend, first.id).await;
    }
    assert_eq!(
        expires(s.user(referrer).await.expect("read")),
        Some(t0() + Duration::days(30))
    );
    let audit = s.recent_audit(referrer, 20).await.expect("audit");
    let reversed: Vec<_> = audit
        .iter()
        .filter(|a| a.action == "referral_reversed")
        .collect();
    assert_eq!(reversed.len(), 1);
    assert_eq!(reversed[0].details["days"], 7);
}
