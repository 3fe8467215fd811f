//! The one error type of the bot's handlers ([`BotError`]) and the one place
//! that turns it into something the user sees ([`report`]): the error is
//! logged, the user gets the localized "something went wrong, try again"
//! message as a new message.

use subvisor_actors::Error as CoreError;

use super::BotContext;
use super::i18n::{Lang, html_escape, tr};
use super::reply::{Target, show};
use super::screens::{self, Screen};

/// Why a handler could not produce its screen.
#[derive(Debug, thiserror::Error)]
pub enum BotError {
    /// The core (store, user actors, payments) failed or refused.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// A Stars invoice for more than Telegram can carry (a `u32`).
    #[error("amount {0} is too large for Stars")]
    StarsAmount(i64),
}

/// Who sees the error: users get the generic text with a way back to the
/// menu; admins also get the reason, and their dialogue state is cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    User,
    Admin(i64),
}

/// The error screen: the generic "something went wrong" text in `lang`.
pub fn error_screen(lang: Lang, error: &BotError, audience: Audience) -> Screen {
    match audience {
        Audience::User => match error {
            BotError::Core(CoreError::Banned(_)) => screens::notice(lang, "banned"),
            _ => screens::notice(lang, "error-generic"),
        },
        Audience::Admin(_) => Screen::with(
            format!(
                "{}\n<code>{}</code>",
                tr(lang, "error-generic"),
                html_escape(&error.to_string())
            ),
            vec![screens::back_to_menu(lang)],
        ),
    }
}

/// Logs `error` (never message texts or tokens: core errors carry neither)
/// and shows the error screen as a new message.
pub async fn report(
    ctx: &BotContext,
    target: Target,
    lang: Lang,
    error: BotError,
    audience: Audience,
) {
    match audience {
        Audience::User => tracing::warn!(%error, "bot action failed"),
        Audience::Admin(admin) => {
            ctx.admin_state.remove(&admin);
            tracing::warn!(admin, %error, "admin action failed");
        }
    }
    let mut screen = error_screen(lang, &error, audience);
    if let Audience::User = audience {
        screen = super::support::with_support(screen, lang, ctx.support.as_deref());
    }
    show(ctx, target.new_message(), screen).await;
}

#[cfg(test)]
mod tests {
    use subvisor_actors::domain::UserId;

    use super::*;

    fn busy() -> BotError {
        let user = UserId::new(42).expect("valid id");
        CoreError::Busy(user).into()
    }

    #[test]
    fn users_see_only_the_generic_text() {
        for lang in Lang::ALL.iter().copied() {
            let screen = error_screen(lang, &busy(), Audience::User);
            assert_eq!(screen.text, tr(lang, "error-generic"));
            assert!(screen.keyboard.is_some(), "a way back to the menu");
        }
    }

    #[test]
    fn admins_also_see_the_reason_escaped() {
        let error = BotError::Core(CoreError::invalid("text", "<b>"));
        let screen = error_screen(Lang::En, &error, Audience::Admin(1));
        assert!(screen.text.starts_with(&tr(Lang::En, "error-generic")));
        assert!(screen.text.contains("<code>invalid text: &lt;b&gt;</code>"));
        let screen = error_screen(Lang::En, &busy(), Audience::Admin(1));
        assert!(screen.text.contains("user 42 is busy"), "{}", screen.text);
    }
}
