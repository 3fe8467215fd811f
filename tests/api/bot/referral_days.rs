//! `[referral] bonus_days`: a referrer gets days of access (one message
//! saying why, in their language) when a friend first pays, and the
//! Referral screen promises days rather than money.

use super::*;

#[actix_rt::test]
async fn a_referrer_gets_days_once_when_the_friend_pays() {
    let (app, tg) = spawn_bot(Db::Sqlite, Arc::new(SystemClock), |s| {
        s.referral.bonus_days = 7;
    })
    .await;
    let (referrer, friend) = (1_100_101, 1_100_102);
    tg.push_update(FakeTelegram::message(referrer, "/start", Some("ru")));
    nth_to_chat(&tg, "sendMessage", referrer, 0).await;
    tg.push_update(FakeTelegram::message(
        friend,
        &format!("/start ref{referrer}"),
        Some("en"),
    ));
    nth_to_chat(&tg, "sendMessage", friend, 0).await;

    buy_with_stars(&app, &tg, friend, "charge-days-1").await;
    let told = message_with(&tg, referrer, "вам добавлено").await;
    assert!(text_of(&told).contains("7 дней"), "{told:?}");
    let s = snapshot(&app, referrer).await;
    let sub = s.subscription.expect("the referrer has access now");
    let left = sub.expires_at - Utc::now();
    assert!(left > chrono::Duration::days(6) && left <= chrono::Duration::days(7));
    assert_eq!(s.balance_minor, 0, "days, not money");

    // A second purchase gives no second bonus.
    buy_with_stars(&app, &tg, friend, "charge-days-2").await;
    message_with(&tg, friend, "Subscription extended").await;
    let again = snapshot(&app, referrer).await.subscription.expect("sub");
    assert_eq!(again.expires_at, sub.expires_at);
    assert_eq!(count_messages(&tg, referrer, "вам добавлено"), 1);

    let before = to_chat(&tg, "editMessageText", referrer).len();
    tg.push_update(FakeTelegram::callback(
        referrer,
        &data(&Callback::Referral),
        MSG,
    ));
    let screen = nth_to_chat(&tg, "editMessageText", referrer, before).await;
    let text = text_of(&screen);
    assert!(
        text.contains("7 дней") && text.contains("доступа к VPN"),
        "{text}"
    );
    app.stop().await;
}
