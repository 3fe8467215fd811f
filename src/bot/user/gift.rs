//! Gifts: the buyer's message with the link, the receiver's `/start gift<code>`,
//! and the buyer's message once it was activated.

use std::sync::Arc;

use subvisor_actors::Error as CoreError;
use subvisor_actors::domain::{GiftRefusal, UserId};
use subvisor_actors::messages::ActivateGift;

use super::Caller;
use crate::bot::BotContext;
use crate::bot::callback::Callback;
use crate::bot::error::BotError;
use crate::bot::i18n::{Lang, format_date, html_escape, tr};
use crate::bot::screens::{self, Screen, row};
use crate::t;

/// The `/start` argument of a gift link: `gift<code>`.
pub fn code_of(args: &str) -> Option<&str> {
    let code = args.trim().strip_prefix("gift")?;
    let ok = (16..=64).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_alphanumeric());
    ok.then_some(code)
}

/// The link the buyer passes on.
pub fn link(bot: &str, code: &str) -> String {
    format!("https://t.me/{bot}?start=gift{code}")
}

/// The buyer's message once the gift order is paid.
pub fn ready(lang: Lang, bot: &str, code: &str, days: i64) -> Screen {
    Screen::with(
        t!(
            lang,
            "notify-gift-ready",
            link = html_escape(&link(bot, code)),
            days = days
        ),
        vec![screens::back_to_menu(lang)],
    )
}

/// The buyer's message once someone activated the gift.
pub fn redeemed(lang: Lang, days: i64) -> Screen {
    Screen::with(
        t!(lang, "notify-gift-redeemed", days = days),
        vec![screens::back_to_menu(lang)],
    )
}

/// `/start gift<code>`: activates the gift for the caller (once, whoever
/// they are — the buyer may activate their own gift).
pub async fn activate(
    ctx: &Arc<BotContext>,
    caller: &Caller<'_>,
    user: UserId,
    code: &str,
) -> Result<Screen, BotError> {
    let lang = caller.lang;
    let msg = ActivateGift {
        code: code.to_owned(),
    };
    match ctx.registry.send(user, msg).await {
        Ok(done) => {
            ctx.notifier.notify_one();
            let expires = done
                .change
                .snapshot
                .subscription
                .as_ref()
                .map(|s| format_date(lang, s.expires_at))
                .unwrap_or_default();
            Ok(Screen::with(
                t!(
                    lang,
                    "gift-activated",
                    days = i64::from(done.gift.days),
                    expires = expires
                ),
                vec![row([(tr(lang, "btn-my-sub"), Callback::MySub)])],
            ))
        }
        Err(CoreError::GiftRefused(why)) => Ok(refused(lang, why)),
        Err(e) => Err(e.into()),
    }
}

fn refused(lang: Lang, why: GiftRefusal) -> Screen {
    let key = match why {
        GiftRefusal::Unknown => "gift-unknown",
        GiftRefusal::AlreadyRedeemed => "gift-already-redeemed",
        GiftRefusal::Voided => "gift-voided",
    };
    Screen::with(tr(lang, key), vec![screens::back_to_menu(lang)])
}
