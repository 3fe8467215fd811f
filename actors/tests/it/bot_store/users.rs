//! Users: created once and refreshed, the chosen language.

use super::*;

both_backends!(
    touch_user_creates_once_and_refreshes_after,
    set_language_overrides_the_telegram_language,
);

async fn touch_user_creates_once_and_refreshes_after(backend: Backend) {
    let db = Db::open(backend, None).await;
    let s = db.store.as_ref();
    let (referrer, user, selfish, orphan, known) =
        (uid(1001), uid(1002), uid(1003), uid(1004), uid(1005));

    let (new, snap) = s
        .touch_user(
            &ctx(t0(), &[]),
            referrer,
            &profile(Some("ref"), Some("en"), None),
        )
        .await
        .expect("touch");
    assert!(new);
    assert_eq!(snap.referrer, None);
    assert_eq!(snap.created_at, t0());

    let at = t0() + Duration::minutes(1);
    let (new, snap) = s
        .touch_user(
            &ctx(at, &[]),
            user,
            &profile(Some("Alice"), Some("ru"), Some(referrer)),
        )
        .await
        .expect("touch");
    assert!(new, "first contact creates the user");
    assert_eq!(snap.user, user);
    assert_eq!(snap.username.as_deref(), Some("Alice"));
    assert_eq!(snap.language.as_deref(), Some("ru"));
    assert_eq!(snap.referrer, Some(referrer));
    assert!(!snap.bot_blocked);
    assert!(snap.subscription.is_none());
    assert_eq!(snap.balance_minor, 0);
    assert_eq!(snap.created_at, at);
    let audit = s.recent_audit(user, 10).await.expect("audit");
    assert_eq!(audit[0].action, "first_contact");
    assert_eq!(audit[0].details["referrer"], json!(referrer.get()));

    // Self-referral is ignored.
    let (new, snap) = s
        .touch_user(&ctx(at, &[]), selfish, &profile(None, None, Some(selfish)))
        .await
        .expect("touch");
    assert!(new);
    assert_eq!(snap.referrer, None, "nobody refers themself");
    // An unknown referrer is recorded as none (and not created).
    let ghost = uid(999_999);
    let (new, snap) = s
        .touch_user(
            &ctx(at, &[]),
            orphan,
            &profile(None, Some("en"), Some(ghost)),
        )
        .await
        .expect("touch with an unknown referrer");
    assert!(new);
    assert_eq!(snap.referrer, None);
    assert!(s.user(ghost).await.expect("read").is_none());
    assert_eq!(s.referral_count(referrer).await.expect("count"), 1);
    assert_eq!(s.referral_count(selfish).await.expect("count"), 0);
    assert_eq!(s.referral_count(ghost).await.expect("count"), 0);

    // Second contact: not new, username refreshed, language and referrer kept,
    // and the bot is no longer blocked (they talk to us).
    s.set_bot_blocked(user, true, at).await.expect("block");
    assert!(
        s.user(user)
            .await
            .expect("read")
            .expect("exists")
            .bot_blocked
    );
    let later = t0() + Duration::hours(1);
    let (new, snap) = s
        .touch_user(
            &ctx(later, &[]),
            user,
            &profile(Some("alice_new"), Some("de"), Some(selfish)),
        )
        .await
        .expect("touch");
    assert!(!new);
    assert_eq!(snap.username.as_deref(), Some("alice_new"));
    assert_eq!(
        snap.language.as_deref(),
        Some("ru"),
        "the first language (or the user's choice) wins"
    );
    assert_eq!(snap.referrer, Some(referrer), "the referrer never changes");
    assert!(!snap.bot_blocked, "talking to us again clears bot_blocked");
    assert_eq!(snap.created_at, at);
    assert_eq!(s.referral_count(selfish).await.expect("count"), 0);
    // The username was removed on Telegram: refreshed to none.
    let (_, snap) = s
        .touch_user(&ctx(later, &[]), user, &profile(None, None, None))
        .await
        .expect("touch");
    assert_eq!(snap.username, None);
    assert_eq!(snap.language.as_deref(), Some("ru"));

    // A user first seen through a grant (no language yet) gets the Telegram
    // language on first touch, but no referrer: they are not brand-new.
    s.grant_days(&ctx(t0(), &[]), known, 3)
        .await
        .expect("grant");
    let (new, snap) = s
        .touch_user(
            &ctx(later, &[]),
            known,
            &profile(Some("k"), Some("uk"), Some(referrer)),
        )
        .await
        .expect("touch");
    assert!(!new);
    assert_eq!(snap.language.as_deref(), Some("uk"));
    assert_eq!(snap.username.as_deref(), Some("k"));
    assert_eq!(snap.referrer, None);
    assert_eq!(s.referral_count(referrer).await.expect("count"), 1);
}

async fn set_language_overrides_the_telegram_language(backend: Backend) {
    let db = Db::open(backend, None).await;
    let s = db.store.as_ref();
    let user = uid(1101);
    s.touch_user(&ctx(t0(), &[]), user, &profile(Some("u"), Some("ru"), None))
        .await
        .expect("touch");
    let change = s
        .set_language(&ctx(t0(), &[]), user, "en")
        .await
        .expect("set language");
    assert!(change.applied);
    assert_eq!(change.snapshot.language.as_deref(), Some("en"));
    assert_eq!(
        s.user(user)
            .await
            .expect("read")
            .expect("exists")
            .language
            .as_deref(),
        Some("en")
    );
    // Telegram's language_code on later contacts does not override the choice.
    let (_, snap) = s
        .touch_user(&ctx(t0(), &[]), user, &profile(Some("u"), Some("de"), None))
        .await
        .expect("touch");
    assert_eq!(snap.language.as_deref(), Some("en"));
    // And the notifications carry it.
    s.grant_days(&ctx(t0(), &[]), user, 1).await.expect("grant");
    let due = pending(s).await;
    assert_eq!(due[0].language.as_deref(), Some("en"));
}
