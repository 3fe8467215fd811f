//! `/start`, `/menu` and `/help`: the main menu (greeting, status line and
//! the feature buttons), the referral code a `/start` carries, and help with
//! the support contact.

use subvisor_actors::domain::UserId;

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
pub fn main(ctx: &BotContext, caller: &Caller<'_>) -> Screen {
    let now = ctx.registry.clock().now();
    let menu = screens::main_menu(
        &ctx.locale,
        caller.lang,
        &caller.from.first_name,
        caller.snapshot.as_ref(),
        now,
        ctx.trial_days,
    );
    support::with_support(menu, caller.lang, ctx.support.as_deref())
}

/// Help, with the support contact when one is configured.
pub fn help(ctx: &BotContext, lang: Lang) -> Screen {
    let text = match &ctx.support {
        Some(support) => t!(lang, "help", support = html_escape(support)),
        None => tr(lang, "help-no-support"),
    };
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
