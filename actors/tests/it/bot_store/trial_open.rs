//! `trial_open`: what the menu asks before offering the trial — the same
//! refusals `start_trial` makes (used, banned, a plan paid with only_new).

use super::*;

both_backends!(the_trial_is_open_only_to_who_could_start_it);

async fn the_trial_is_open_only_to_who_could_start_it(backend: Backend) {
    let db = Db::open(backend, None).await;
    let s = db.store.as_ref();
    let (fresh, payer, banned, used) = (uid(90), uid(91), uid(92), uid(93));
    let profile = Profile {
        username: None,
        display_name: None,
        language_code: None,
        referrer: None,
    };
    for user in [fresh, payer, banned, used] {
        s.touch_user(&ctx(t0(), &nodes()), user, &profile)
            .await
            .expect("touch");
    }
    let o = plan_order(s, payer, Provider::Stars, t0()).await;
    s.apply_payment(
        &ctx(t0(), &nodes()),
        payer,
        o.id,
        &crate::helpers::paid(Provider::Stars, "tg-trial", xtr(150)),
    )
    .await
    .expect("pay");
    s.set_banned(&ctx(t0(), &nodes()), banned, true)
        .await
        .expect("ban");
    s.start_trial(&ctx(t0(), &nodes()), used, 3, true)
        .await
        .expect("trial");

    assert!(s.trial_open(fresh, true).await.expect("read"));
    assert!(
        !s.trial_open(payer, true).await.expect("read"),
        "paid a plan"
    );
    assert!(
        s.trial_open(payer, false).await.expect("read"),
        "not only for new users"
    );
    assert!(!s.trial_open(banned, false).await.expect("read"), "banned");
    assert!(!s.trial_open(used, false).await.expect("read"), "used");
    // And the start agrees with each answer.
    assert!(
        s.start_trial(&ctx(t0(), &nodes()), payer, 3, true)
            .await
            .is_err()
    );
    assert!(
        s.start_trial(&ctx(t0(), &nodes()), banned, 3, false)
            .await
            .is_err()
    );
}
