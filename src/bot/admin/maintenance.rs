//! `/maintenance on|off`: pauses or resumes purchases (the
//! [`PURCHASES_PAUSED`] setting, read at Pay and at Stars pre-checkout).

use super::Admin;
use crate::bot::error::BotError;
use crate::bot::i18n::tr;
use crate::bot::screens::Screen;
use crate::bot::{BotContext, PURCHASES_PAUSED};

pub async fn set(ctx: &BotContext, admin: &Admin, args: &str) -> Result<Screen, BotError> {
    let lang = admin.lang;
    let (value, done) = match args.to_ascii_lowercase().as_str() {
        "on" => ("true", "admin-maintenance-on"),
        "off" => ("false", "admin-maintenance-off"),
        _ => return Ok(Screen::text(tr(lang, "admin-maintenance-usage"))),
    };
    ctx.registry
        .set_setting(admin.principal(), PURCHASES_PAUSED, value)
        .await?;
    Ok(Screen::text(tr(lang, done)))
}
