//! The referral screen: the user's invitation link, the bonus (if any) and
//! how many friends joined through it.

use subvisor_actors::domain::UserId;

use crate::bot::BotContext;
use crate::bot::error::BotError;
use crate::bot::i18n::{Lang, html_escape};
use crate::bot::screens::{self, Screen};
use crate::t;

pub async fn screen(ctx: &BotContext, lang: Lang, user: UserId) -> Result<Screen, BotError> {
    let link = format!("https://t.me/{}?start=ref{}", ctx.username(), user);
    let count = ctx.registry.queries().referral_count(user).await?;
    let text = match &ctx.referral_bonus {
        None if ctx.referral_bonus_days > 0 => t!(
            lang,
            "referral-days",
            link = html_escape(&link),
            days = ctx.referral_bonus_days,
            count = count
        ),
        Some(bonus) => t!(
            lang,
            "referral",
            link = html_escape(&link),
            bonus = screens::money(lang, bonus),
            count = count
        ),
        None => t!(
            lang,
            "referral-no-bonus",
            link = html_escape(&link),
            count = count
        ),
    };
    Ok(Screen::with(text, vec![screens::back_to_menu(lang)]))
}
