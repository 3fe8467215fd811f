//! `/start`, `/menu` and `/help`: the main menu (greeting, status line and
//! the feature buttons), the referral code a `/start` carries, and help with
//! the support contact.

use subvisor_actors::domain::UserId;
use subvisor_actors::store::UserSnapshot;

use super::Caller;
use crate::bot::BotContext;
use crate::bot::i18n::{Lang, html_escape, tr};
use crate::bot::screens::{self, Screen};
use crate::bot::support;
use crate::t;

/// The referrer in `/start ref<id>` (a referral link), if valid.
pub fn referrer(args: &str) -> Option<UserId> {
    args.strip_prefix("ref")
        .and_then(|r| r.parse::<i64>().ok())
        .and_then(|r| UserId::new(r).ok())
}

/// The main menu for the caller.
pub async fn main(ctx: &BotContext, caller: &Caller<'_>) -> Screen {
    let now = ctx.registry.clock().now();
    let trial_days = trial_days_offered(ctx, caller.snapshot.as_ref()).await;
    let menu = screens::main_menu(
        &ctx.locale,
        caller.lang,
        &caller.from.first_name,
        caller.snapshot.as_ref(),
        now,
        trial_days,
    );
    support::with_support(menu, caller.lang, ctx.support.as_deref())
}

/// The trial's days when the menu should offer it to this user, else 0:
/// hidden from users who cannot start it (used, banned, or with
/// `trial.only_new_users` a plan paid). A failed read offers it (the press
/// is refused all the same).
pub async fn trial_days_offered(ctx: &BotContext, s: Option<&UserSnapshot>) -> u32 {
    let Some(s) = s.filter(|_| ctx.trial_days > 0) else {
        return ctx.trial_days;
    };
    if s.trial_used {
        return 0;
    }
    match ctx
        .registry
        .queries()
        .trial_open(s.user, ctx.trial_only_new_users)
        .await
    {
        Ok(true) => ctx.trial_days,
        Ok(false) => 0,
        Err(error) => {
            tracing::warn!(%error, "cannot tell whether the trial is open");
            ctx.trial_days
        }
    }
}

/// Help: what this bot offers as configured (the trial only when there is
/// one, the balance only when it can be topped up), with the support contact
/// when one is configured.
pub fn help(ctx: &BotContext, lang: Lang) -> Screen {
    let mut lines = vec![
        tr(lang, "help-title"),
        tr(lang, "help-buy"),
        tr(lang, "help-sub"),
        tr(lang, "help-reissue"),
    ];
    if ctx.trial_days > 0 {
        lines.push(tr(lang, "help-trial"));
    }
    if super::checkout::offers_top_ups(ctx) {
        lines.push(tr(lang, "help-balance"));
    }
    lines.push(tr(lang, "help-referral"));
    lines.push(tr(lang, "help-language"));
    let mut text = lines.join("\n");
    if let Some(support) = &ctx.support {
        text = format!(
            "{text}\n\n{}",
            t!(lang, "help-support", support = html_escape(support))
        );
    }
    Screen::with(text, vec![screens::back_to_menu(lang)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referral_codes() {
        assert_eq!(referrer("ref42").map(UserId::get), Some(42));
        assert_eq!(referrer("ref0"), None);
        assert_eq!(referrer("ref-1"), None);
        assert_eq!(referrer("42"), None);
        assert_eq!(referrer(""), None);
    }
}
