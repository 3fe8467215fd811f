//! The user's access: "My subscription", the links and a QR code of the
//! subscription URL, reissuing the key, resetting the subscription URL, and
//! the free trial.

use subvisor_actors::Error as CoreError;
use subvisor_actors::domain::{Principal, UserId};
use subvisor_actors::messages::{Reissue, RotateSubToken, StartTrial};
use subvisor_actors::store::UserSnapshot;
use teloxide::payloads::SendPhotoSetters;
use teloxide::requests::{Request, Requester};
use teloxide::types::{ChatId, InputFile};

use crate::bot::BotContext;
use crate::bot::callback::Callback;
use crate::bot::error::BotError;
use crate::bot::i18n::{Lang, html_escape, tr};
use crate::bot::qr;
use crate::bot::reply::{Reply, Target, show};
use crate::bot::screens::{self, Screen, row};
use crate::t;

/// "My subscription": status, traffic, and links while it is live.
pub fn screen(ctx: &BotContext, lang: Lang, s: Option<&UserSnapshot>) -> Screen {
    let now = ctx.registry.clock().now();
    let links = s.map(|s| ctx.links.links(s, now)).unwrap_or_default();
    let url = s.and_then(|s| ctx.links.subscription_url(s));
    screens::subscription(lang, s, &links, url.as_deref(), now)
}

/// The links and subscription URL as a new message, then a QR code of the
/// URL; without a live subscription, a Buy button instead.
pub async fn send_links(
    ctx: &BotContext,
    chat: ChatId,
    lang: Lang,
    s: Option<&UserSnapshot>,
) -> Reply {
    let now = ctx.registry.clock().now();
    let target = Target::chat(chat);
    let Some(s) = s.filter(|s| screens::is_live(Some(s), now)) else {
        let screen = Screen::with(
            tr(lang, "no-subscription"),
            vec![row([(tr(lang, "btn-buy"), Callback::Buy)])],
        );
        show(ctx, target, screen).await;
        return Reply::Done;
    };
    let links = ctx.links.links(s, now);
    let url = ctx.links.subscription_url(s);
    let screen = Screen::with(
        screens::links_text(lang, &links, url.as_deref()),
        vec![screens::back_to_menu(lang)],
    );
    show(ctx, target, screen).await;
    if let Some(url) = url {
        send_qr(ctx, chat, lang, &url).await;
    }
    Reply::Done
}

/// A QR code of `text` as a photo.
pub async fn send_qr(ctx: &BotContext, chat: ChatId, lang: Lang, text: &str) {
    match qr::qr_png(text) {
        Ok(png) => {
            let photo = InputFile::memory(png).file_name("subscription-qr.png");
            if let Err(e) = ctx
                .bot
                .send_photo(chat, photo)
                .caption(tr(lang, "qr-caption"))
                .send()
                .await
            {
                tracing::warn!(error = %e, "sendPhoto failed");
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot render the QR code"),
    }
}

pub fn reissue_ask(lang: Lang) -> Screen {
    screens::confirm(
        lang,
        tr(lang, "reissue-confirm"),
        Callback::ReissueConfirm,
        Callback::MySub,
    )
}

/// A new key (the old one stops working); the new links come in the screen.
pub async fn reissue(ctx: &BotContext, lang: Lang, user: UserId) -> Result<Screen, BotError> {
    let by = Principal::User(user);
    match ctx.registry.send(user, Reissue { by }).await {
        Ok(change) => {
            ctx.notifier.notify_one();
            let mut screen = screen(ctx, lang, Some(&change.snapshot));
            screen.text = format!("{}\n\n{}", tr(lang, "reissued"), screen.text);
            Ok(screen)
        }
        Err(CoreError::NotActive(_) | CoreError::NoSubscription(_)) => {
            Ok(screens::notice(lang, "no-subscription"))
        }
        Err(e) => Err(e.into()),
    }
}

pub fn reset_link_ask(lang: Lang) -> Screen {
    screens::confirm(
        lang,
        tr(lang, "reset-link-confirm"),
        Callback::ResetLinkConfirm,
        Callback::MySub,
    )
}

/// A new subscription URL (the old one stops working).
pub async fn reset_link(ctx: &BotContext, lang: Lang, user: UserId) -> Result<Screen, BotError> {
    let by = Principal::User(user);
    match ctx.registry.send(user, RotateSubToken { by }).await {
        Ok(change) => {
            let url = ctx
                .links
                .subscription_url(&change.snapshot)
                .unwrap_or_default();
            let text = t!(lang, "link-reset", url = html_escape(&url));
            Ok(Screen::with(
                text,
                vec![row([(tr(lang, "btn-my-sub"), Callback::MySub)])],
            ))
        }
        Err(CoreError::NoSubscription(_) | CoreError::NotActive(_)) => {
            Ok(screens::notice(lang, "no-subscription"))
        }
        Err(e) => Err(e.into()),
    }
}

/// The free trial, once per user (if trials are on).
pub async fn trial(ctx: &BotContext, lang: Lang, user: UserId) -> Result<Screen, BotError> {
    if ctx.trial_days == 0 {
        return Ok(screens::notice(lang, "trial-disabled"));
    }
    match ctx.registry.send(user, StartTrial).await {
        Ok(_) => {
            ctx.notifier.notify_one();
            let text = t!(lang, "trial-started", days = ctx.trial_days);
            Ok(Screen::with(
                text,
                vec![row([(tr(lang, "btn-my-sub"), Callback::MySub)])],
            ))
        }
        Err(CoreError::TrialAlreadyUsed(_)) => Ok(Screen::with(
            tr(lang, "trial-used"),
            vec![
                row([(tr(lang, "btn-buy"), Callback::Buy)]),
                screens::back_to_menu(lang),
            ],
        )),
        Err(e) => Err(e.into()),
    }
}
