//! `/ban <id>` and `/unban <id>`: a ban revokes access and blocks buying and
//! the trial until `/unban` (a plain `/revoke` leaves both open).

use subvisor_actors::Error as CoreError;
use subvisor_actors::messages::{Revoke, SetBanned};

use super::{Admin, parse_user};
use crate::bot::BotContext;
use crate::bot::error::BotError;
use crate::bot::i18n::tr;
use crate::bot::screens::Screen;
use crate::t;

/// Bans (`banned`) or unbans the user named in `args`.
pub async fn set(
    ctx: &BotContext,
    admin: &Admin,
    args: &str,
    banned: bool,
) -> Result<Screen, BotError> {
    let lang = admin.lang;
    let Some(user) = parse_user(args).filter(|_| args.split_whitespace().count() == 1) else {
        return Ok(Screen::text(tr(lang, "admin-usage-ban")));
    };
    let by = admin.principal();
    if banned {
        match ctx.registry.send(user, Revoke { by }).await {
            Ok(_) | Err(CoreError::NoSubscription(_)) => {}
            Err(e) => return Err(e.into()),
        }
        ctx.notifier.notify_one();
    }
    ctx.registry.send(user, SetBanned { banned, by }).await?;
    let key = if banned {
        "admin-banned"
    } else {
        "admin-unbanned"
    };
    Ok(Screen::text(t!(lang, key, user = user.get())))
}
