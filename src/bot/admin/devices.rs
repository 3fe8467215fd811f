//! An admin forgets a user's devices (`x-hwid`): the "reset devices" button of
//! the user's view, with a confirmation; audited with the admin's id.

use subvisor_actors::domain::UserId;
use subvisor_actors::messages::ResetDevices;

use super::Admin;
use super::access::open_user;
use crate::bot::BotContext;
use crate::bot::callback::Callback;
use crate::bot::error::BotError;
use crate::bot::i18n::Lang;
use crate::bot::screens::{self, Screen};
use crate::t;

pub fn reset_ask(lang: Lang, user: i64) -> Screen {
    screens::confirm(
        lang,
        t!(lang, "admin-devices-reset-confirm", user = user),
        Callback::AdminDevicesReset { user },
        Callback::AdminUser { user },
    )
}

pub async fn reset(ctx: &BotContext, admin: &Admin, user: UserId) -> Result<Screen, BotError> {
    let lang = admin.lang;
    let by = admin.principal();
    let removed = ctx.registry.send(user, ResetDevices { by }).await?;
    let text = t!(
        lang,
        "admin-devices-reset",
        user = user.get(),
        count = removed
    );
    Ok(Screen::with(text, open_user(lang, user.get())))
}
