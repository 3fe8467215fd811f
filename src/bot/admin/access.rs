//! Giving and taking access by hand: `/grant <id> <days>` (and the +30/+7
//! buttons of a user), `/revoke <id>` with its confirmation.

use subvisor_actors::domain::UserId;
use subvisor_actors::messages::{GrantDays, GrantDaysOnce, Revoke};

use super::{Admin, AdminState, parse_user};
use crate::bot::BotContext;
use crate::bot::callback::Callback;
use crate::bot::error::BotError;
use crate::bot::i18n::{Lang, tr};
use crate::bot::screens::{self, Screen, row};
use crate::t;

/// The most days one grant may add.
const MAX_GRANT_DAYS: u32 = 3660;

/// Whether `days` may be granted at once.
pub fn grantable(days: u32) -> bool {
    (1..=MAX_GRANT_DAYS).contains(&days)
}

/// Why `/grant` arguments were refused (the text key shown to the admin).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadGrant {
    /// Fewer or more than `<id> <days>`.
    Arguments,
    /// The id is not a Telegram user id.
    User,
    /// Days not a whole number.
    DaysNotNumber,
    /// Days out of 1..=MAX_GRANT_DAYS.
    DaysRange,
}

impl BadGrant {
    fn key(self) -> &'static str {
        match self {
            BadGrant::Arguments => "admin-grant-bad-arguments",
            BadGrant::User => "admin-grant-bad-user",
            BadGrant::DaysNotNumber => "admin-grant-bad-days",
            BadGrant::DaysRange => "admin-grant-days-range",
        }
    }
}

/// `<id> <days>` and nothing more.
pub fn parse_grant(args: &str) -> Result<(UserId, u32), BadGrant> {
    let parts: Vec<&str> = args.split_whitespace().collect();
    let [user, days] = parts.as_slice() else {
        return Err(BadGrant::Arguments);
    };
    let user = parse_user(user).ok_or(BadGrant::User)?;
    let days = days.parse::<u32>().map_err(|_| BadGrant::DaysNotNumber)?;
    if !grantable(days) {
        return Err(BadGrant::DaysRange);
    }
    Ok((user, days))
}

/// Why the `/grant` arguments were refused, then the usage.
pub fn bad_grant(lang: Lang, why: BadGrant) -> Screen {
    Screen::text(format!(
        "{}\n{}",
        t!(lang, why.key(), max = MAX_GRANT_DAYS),
        tr(lang, "admin-usage-grant")
    ))
}

/// `/grant <id> <days>`: granted to a known user; someone who never started
/// the bot is only added (and so reached by broadcasts) once confirmed.
pub async fn grant_asked(
    ctx: &BotContext,
    admin: &Admin,
    user: UserId,
    days: u32,
) -> Result<Screen, BotError> {
    if ctx.registry.queries().user(user).await?.is_some() {
        return grant(ctx, admin, user, days, None).await;
    }
    Ok(ask_unknown(ctx, admin, user, days))
}

/// A grant button (+30, +7 on a user, or Confirm for an unknown user); its
/// `key` makes a second press of the same button a no-op.
pub async fn grant_pressed(
    ctx: &BotContext,
    admin: &Admin,
    user: UserId,
    days: u32,
    key: Option<u32>,
) -> Result<Screen, BotError> {
    let confirmed = matches!(
        ctx.admin_state.get(&admin.id).map(|s| s.clone()),
        Some(AdminState::Grant { user: u, days: d }) if u == user.get() && d == days
    );
    if confirmed {
        ctx.admin_state.remove(&admin.id);
    } else if ctx.registry.queries().user(user).await?.is_none() {
        return Ok(ask_unknown(ctx, admin, user, days));
    }
    grant(ctx, admin, user, days, key).await
}

fn ask_unknown(ctx: &BotContext, admin: &Admin, user: UserId, days: u32) -> Screen {
    let lang = admin.lang;
    ctx.admin_state.insert(
        admin.id,
        AdminState::Grant {
            user: user.get(),
            days,
        },
    );
    screens::confirm(
        lang,
        t!(
            lang,
            "admin-grant-unknown-confirm",
            user = user.get(),
            days = days
        ),
        Callback::AdminGrant {
            user: user.get(),
            days,
            key: Some(getrandom::u32().unwrap_or_default()),
        },
        Callback::AdminUsers { page: 0 },
    )
}

/// A button opening the user's view.
pub fn open_user(lang: Lang, user: i64) -> Vec<Vec<teloxide::types::InlineKeyboardButton>> {
    vec![row([(
        t!(lang, "btn-open-user", user = user),
        Callback::AdminUser { user },
    )])]
}

async fn grant(
    ctx: &BotContext,
    admin: &Admin,
    user: UserId,
    days: u32,
    key: Option<u32>,
) -> Result<Screen, BotError> {
    let lang = admin.lang;
    let by = admin.principal();
    let change = match key {
        Some(key) => {
            let key = format!("{}:{}:{days}:{key:x}", admin.id, user.get());
            let change = ctx
                .registry
                .send(user, GrantDaysOnce { days, by, key })
                .await?;
            if !change.applied {
                let text = t!(lang, "admin-grant-already", user = user.get());
                return Ok(Screen::with(text, open_user(lang, user.get())));
            }
            change
        }
        None => ctx.registry.send(user, GrantDays { days, by }).await?,
    };
    ctx.notifier.notify_one();
    let expires = change
        .snapshot
        .subscription
        .as_ref()
        .map(|s| ctx.date(lang, s.expires_at))
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
        assert_eq!(ok("42 30"), Ok((42, 30)));
        assert_eq!(ok(" 42   3660 "), Ok((42, 3660)));
        assert_eq!(ok("42 3661"), Err(BadGrant::DaysRange));
        assert_eq!(ok("42 0"), Err(BadGrant::DaysRange));
        assert_eq!(ok("42 -1"), Err(BadGrant::DaysNotNumber));
        assert_eq!(ok("42 x"), Err(BadGrant::DaysNotNumber));
        assert_eq!(ok("42"), Err(BadGrant::Arguments));
        assert_eq!(ok("42 30 extra"), Err(BadGrant::Arguments));
        assert_eq!(ok("x 30"), Err(BadGrant::User));
        assert_eq!(ok(""), Err(BadGrant::Arguments));
    }
}
