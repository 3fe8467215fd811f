//! Giving and taking access by hand: `/grant <id> <days>` (and the +30/+7
//! buttons of a user), `/revoke <id>` with its confirmation.

use subvisor_actors::domain::UserId;
use subvisor_actors::messages::{GrantDays, Revoke};

use super::{Admin, parse_user};
use crate::bot::BotContext;
use crate::bot::callback::Callback;
use crate::bot::error::BotError;
use crate::bot::i18n::{Lang, format_date};
use crate::bot::screens::{self, Screen, row};
use crate::t;

/// The most days one grant may add.
const MAX_GRANT_DAYS: u32 = 3660;

/// Whether `days` may be granted at once.
pub fn grantable(days: u32) -> bool {
    (1..=MAX_GRANT_DAYS).contains(&days)
}

/// `<id> <days>` and nothing more.
pub fn parse_grant(args: &str) -> Option<(UserId, u32)> {
    let mut parts = args.split_whitespace();
    let user = parts.next().and_then(parse_user);
    let days = parts
        .next()
        .and_then(|d| d.parse::<u32>().ok())
        .filter(|d| grantable(*d));
    match (user, days, parts.next()) {
        (Some(user), Some(days), None) => Some((user, days)),
        _ => None,
    }
}

/// A button opening the user's view.
pub fn open_user(lang: Lang, user: i64) -> Vec<Vec<teloxide::types::InlineKeyboardButton>> {
    vec![row([(
        t!(lang, "btn-open-user", user = user),
        Callback::AdminUser { user },
    )])]
}

pub async fn grant(
    ctx: &BotContext,
    admin: &Admin,
    user: UserId,
    days: u32,
) -> Result<Screen, BotError> {
    let lang = admin.lang;
    let by = admin.principal();
    let change = ctx.registry.send(user, GrantDays { days, by }).await?;
    ctx.notifier.notify_one();
    let expires = change
        .snapshot
        .subscription
        .as_ref()
        .map(|s| format_date(lang, s.expires_at))
        .unwrap_or_default();
    let text = t!(
        lang,
        "admin-granted",
        user = user.get(),
        days = days,
        expires = expires
    );
    Ok(Screen::with(text, open_user(lang, user.get())))
}

pub fn revoke_ask(lang: Lang, user: i64) -> Screen {
    screens::confirm(
        lang,
        t!(lang, "admin-revoke-confirm", user = user),
        Callback::AdminRevoke { user },
        Callback::AdminUser { user },
    )
}

pub async fn revoke(ctx: &BotContext, admin: &Admin, user: UserId) -> Result<Screen, BotError> {
    let lang = admin.lang;
    let by = admin.principal();
    ctx.registry.send(user, Revoke { by }).await?;
    ctx.notifier.notify_one();
    let text = t!(lang, "admin-revoked", user = user.get());
    Ok(Screen::with(text, open_user(lang, user.get())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_arguments() {
        let ok = |args| parse_grant(args).map(|(u, d)| (u.get(), d));
        assert_eq!(ok("42 30"), Some((42, 30)));
        assert_eq!(ok(" 42   3660 "), Some((42, 3660)));
        assert_eq!(ok("42 3661"), None);
        assert_eq!(ok("42 0"), None);
        assert_eq!(ok("42"), None);
        assert_eq!(ok("42 30 extra"), None);
        assert_eq!(ok("x 30"), None);
        assert_eq!(ok(""), None);
    }
}
