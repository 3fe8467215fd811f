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
use crate::bot::card::{self, DeviceCount};
use crate::bot::error::BotError;
use crate::bot::i18n::{Lang, html_escape, tr};
use crate::bot::qr;
use crate::bot::reply::Reply;
use crate::bot::screens::{self, Screen, row};
use crate::bot::support;
use crate::t;

/// The devices under `user`'s subscription and the limit in force (`None`
/// when they cannot be read: the card then leaves the line out).
pub async fn device_count(ctx: &BotContext, user: UserId) -> Option<DeviceCount> {
    match ctx.registry.queries().devices(user).await {
        Ok(list) => Some(DeviceCount {
            count: list.devices.len(),
            limit: list.limit(ctx.default_devices),
        }),
        Err(e) => {
            tracing::warn!(error = %e, "devices not read for the card");
            None
        }
    }
}

/// The status card under an optional headline.
pub async fn card_with(
    ctx: &BotContext,
    lang: Lang,
    head: Option<String>,
    s: Option<&UserSnapshot>,
) -> Screen {
    let now = ctx.registry.clock().now();
    let url = s.and_then(|s| ctx.links.subscription_url(s));
    let devices = match s {
        Some(s) if screens::is_live(Some(s), now) => device_count(ctx, s.user).await,
        _ => None,
    };
    let traffic = match s {
        Some(s) => ctx.registry.queries().traffic(s.user).await.ok().flatten(),
        None => None,
    };
    let packs = crate::bot::traffic::offers_packs(ctx, traffic.as_ref());
    let traffic = traffic
        .as_ref()
        .map(|state| card::TrafficCard { state, packs });
    let screen = card::card(
        &ctx.locale,
        lang,
        head,
        s,
        card::Usage { devices, traffic },
        url.as_deref(),
        now,
    );
    if s.and_then(|s| s.subscription.as_ref()).is_some() && !screens::is_live(s, now) {
        // Expired or revoked: a way to ask why.
        return support::with_support(screen, lang, ctx.support.as_deref());
    }
    screen
}

/// "My subscription": the status card.
pub async fn screen(ctx: &BotContext, lang: Lang, s: Option<&UserSnapshot>) -> Screen {
    card_with(ctx, lang, None, s).await
}

/// The live subscription, or the "no subscription" screen to show instead.
fn live<'a>(
    ctx: &BotContext,
    lang: Lang,
    s: Option<&'a UserSnapshot>,
) -> Result<&'a UserSnapshot, Screen> {
    let now = ctx.registry.clock().now();
    s.filter(|s| screens::is_live(Some(s), now)).ok_or_else(|| {
        Screen::with(
            tr(lang, "no-subscription"),
            vec![
                row([(tr(lang, "btn-buy"), Callback::Buy)]),
                screens::back_to_menu(lang),
            ],
        )
    })
}

/// The subscription link to copy.
pub fn link(ctx: &BotContext, lang: Lang, s: Option<&UserSnapshot>) -> Screen {
    let s = match live(ctx, lang, s) {
        Ok(s) => s,
        Err(screen) => return screen,
    };
    match ctx.links.subscription_url(s) {
        Some(url) => card::link_screen(lang, &url),
        None => keys(ctx, lang, Some(s)),
    }
}

/// The raw keys, on request.
pub fn keys(ctx: &BotContext, lang: Lang, s: Option<&UserSnapshot>) -> Screen {
    let s = match live(ctx, lang, s) {
        Ok(s) => s,
        Err(screen) => return screen,
    };
    let now = ctx.registry.clock().now();
    card::keys_screen(lang, &ctx.links.links(s, now))
}

/// The VPN apps per OS with their store links.
pub fn apps(ctx: &BotContext, lang: Lang, s: Option<&UserSnapshot>) -> Screen {
    let url = s.and_then(|s| ctx.links.subscription_url(s));
    card::apps_screen(lang, url.as_deref())
}

/// A QR code of the subscription link as a new photo (the screen stays).
pub async fn send_qr_of(
    ctx: &BotContext,
    chat: ChatId,
    lang: Lang,
    s: Option<&UserSnapshot>,
) -> Reply {
    let s = match live(ctx, lang, s) {
        Ok(s) => s,
        Err(screen) => return screen.into(),
    };
    match ctx.links.subscription_url(s) {
        Some(url) => {
            send_qr(ctx, chat, lang, &url).await;
            Reply::Done
        }
        None => keys(ctx, lang, Some(s)).into(),
    }
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
            // The screen says it; the queued notice of a reissue the user
            // asked for is not sent (see `notify.rs`).
            ctx.notifier.notify_one();
            Ok(card_with(
                ctx,
                lang,
                Some(tr(lang, "reissued")),
                Some(&change.snapshot),
            )
            .await)
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
            let mut rows = Vec::new();
            if let Some(connect) = card::url_button(tr(lang, "btn-connect"), &url) {
                rows.push(vec![connect]);
            }
            rows.push(row([(tr(lang, "btn-qr"), Callback::Qr)]));
            rows.push(row([
                (tr(lang, "btn-my-sub"), Callback::MySub),
                (tr(lang, "btn-menu"), Callback::Menu),
            ]));
            Ok(Screen::with(text, rows))
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
        Ok(change) => {
            // One message: this screen (the queued activation notice of a
            // trial is not sent, see `notify.rs`).
            ctx.notifier.notify_one();
            let head = t!(lang, "trial-started", days = ctx.trial_days);
            Ok(card_with(ctx, lang, Some(head), Some(&change.snapshot)).await)
        }
        Err(CoreError::Banned(_)) => Ok(support::with_support(
            screens::notice(lang, "banned"),
            lang,
            ctx.support.as_deref(),
        )),
        Err(CoreError::TrialAfterPayment(_)) => Ok(Screen::with(
            tr(lang, "trial-new-users"),
            vec![
                row([(tr(lang, "btn-renew"), Callback::Buy)]),
                screens::back_to_menu(lang),
            ],
        )),
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
