//! The language picker and the user's choice of language.

use subvisor_actors::domain::UserId;
use subvisor_actors::messages::SetLanguage;

use super::Caller;
use crate::bot::BotContext;
use crate::bot::error::BotError;
use crate::bot::i18n::{Lang, tr};
use crate::bot::screens::{self, Screen};

/// One button per language.
pub fn picker(lang: Lang) -> Screen {
    let mut rows = screens::languages();
    rows.push(screens::back_to_menu(lang));
    Screen::with(tr(lang, "language-title"), rows)
}

/// Stores `new` as the user's language and shows the menu in it.
pub async fn set(
    ctx: &BotContext,
    caller: &Caller<'_>,
    user: UserId,
    new: Lang,
) -> Result<Screen, BotError> {
    let language = new.code().to_owned();
    let change = ctx.registry.send(user, SetLanguage { language }).await?;
    let now = ctx.registry.clock().now();
    let trial_days = super::menu::trial_days_offered(ctx, Some(&change.snapshot)).await;
    let menu = screens::main_menu(
        &ctx.locale,
        new,
        &caller.from.first_name,
        Some(&change.snapshot),
        now,
        trial_days,
    );
    Ok(Screen {
        text: format!("{}\n\n{}", tr(new, "language-set"), menu.text),
        ..menu
    })
}
