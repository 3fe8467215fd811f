//! The bot's slash commands, typed: [`Command`] for everyone, [`AdminCommand`]
//! for the ids in `telegram.admins` (for anyone else those do not exist).
//! [`Input::parse`] turns a text message (`/cmd@botname args`) into one of
//! them, the handlers `match` on them, and [`set_menu`] registers the user
//! commands with Telegram (`setMyCommands`) in every language.

use std::str::FromStr;

use teloxide::Bot;
use teloxide::payloads::SetMyCommandsSetters;
use teloxide::requests::{Request, Requester};
use teloxide::types::BotCommand;

use super::i18n::{Lang, tr};

/// A command anyone can send (and the command menu lists).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `/start [ref<id>]`: the main menu; a referral link carries `ref<id>`.
    Start,
    /// `/sub`: my subscription.
    Sub,
    /// `/menu`: the main menu.
    Menu,
    /// `/help`: help and the support contact.
    Help,
    /// `/paysupport`: help with payments (Telegram expects it from Stars sellers).
    Paysupport,
    /// `/terms`: the terms of service.
    Terms,
}

impl Command {
    /// Every user command, in menu order.
    pub const ALL: [Command; 6] = [
        Command::Start,
        Command::Sub,
        Command::Menu,
        Command::Help,
        Command::Paysupport,
        Command::Terms,
    ];

    /// The name, without the slash.
    pub fn name(self) -> &'static str {
        match self {
            Command::Start => "start",
            Command::Sub => "sub",
            Command::Menu => "menu",
            Command::Help => "help",
            Command::Paysupport => "paysupport",
            Command::Terms => "terms",
        }
    }

    /// The i18n key of the command menu's description.
    pub fn description_key(self) -> &'static str {
        match self {
            Command::Start => "cmd-start",
            Command::Sub => "cmd-sub",
            Command::Menu => "cmd-menu",
            Command::Help => "cmd-help",
            Command::Paysupport => "cmd-paysupport",
            Command::Terms => "cmd-terms",
        }
    }
}

/// A command only admins have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminCommand {
    /// `/stats`: users, revenue of the last week, node states.
    Stats,
    /// `/users [search]`: a page of users.
    Users,
    /// `/user <id>`: one user, with grant / revoke / refund buttons.
    User,
    /// `/grant <id> <days>`.
    Grant,
    /// `/revoke <id>` (asks first).
    Revoke,
    /// `/ban <id>`: revoke, and no buying or trial until `/unban`.
    Ban,
    /// `/unban <id>`.
    Unban,
    /// `/broadcast <text>`: preview, confirm, progress, report.
    Broadcast,
    /// `/maintenance on|off`: pause or resume purchases.
    Maintenance,
    /// `/cancel`: forget what the admin was in the middle of.
    Cancel,
    /// `/promo`, `/promo new …`, `/promo off <code>`: promo codes.
    Promo,
}

impl AdminCommand {
    pub const ALL: [AdminCommand; 11] = [
        AdminCommand::Stats,
        AdminCommand::Users,
        AdminCommand::User,
        AdminCommand::Grant,
        AdminCommand::Revoke,
        AdminCommand::Ban,
        AdminCommand::Unban,
        AdminCommand::Broadcast,
        AdminCommand::Maintenance,
        AdminCommand::Cancel,
        AdminCommand::Promo,
    ];

    /// The name, without the slash.
    pub fn name(self) -> &'static str {
        match self {
            AdminCommand::Stats => "stats",
            AdminCommand::Users => "users",
            AdminCommand::User => "user",
            AdminCommand::Grant => "grant",
            AdminCommand::Revoke => "revoke",
            AdminCommand::Ban => "ban",
            AdminCommand::Unban => "unban",
            AdminCommand::Broadcast => "broadcast",
            AdminCommand::Maintenance => "maintenance",
            AdminCommand::Cancel => "cancel",
            AdminCommand::Promo => "promo",
        }
    }
}

/// A name that is not a command of this kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown command {0:?}")]
pub struct UnknownCommand(pub String);

/// `"/start"` → [`Command::Start`]: the slash and the exact (lowercase) name.
impl FromStr for Command {
    type Err = UnknownCommand;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        find(&Command::ALL, s, |c| c.name())
    }
}

/// `"/stats"` → [`AdminCommand::Stats`]: the slash and the exact (lowercase) name.
impl FromStr for AdminCommand {
    type Err = UnknownCommand;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        find(&AdminCommand::ALL, s, |c| c.name())
    }
}

fn find<C: Copy>(
    all: &[C],
    s: &str,
    name: impl Fn(C) -> &'static str,
) -> Result<C, UnknownCommand> {
    s.strip_prefix('/')
        .and_then(|n| all.iter().copied().find(|c| name(*c) == n))
        .ok_or_else(|| UnknownCommand(s.to_owned()))
}

/// What a text message asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input<'a> {
    User(Command, &'a str),
    /// Only when the sender is an admin.
    Admin(AdminCommand, &'a str),
    /// Not a command this sender has (plain text, a typo, an admin command
    /// from a non-admin, a command addressed to another bot).
    Unknown,
}

impl<'a> Input<'a> {
    /// Parses `/cmd@botname args` (the name ignoring case, `@botname` only if
    /// it is `bot`; arguments trimmed). Admin commands count only for admins.
    pub fn parse(text: &'a str, bot: &str, admin: bool) -> Self {
        let (name, args) = split_command(text, bot);
        if admin && let Ok(command) = name.parse() {
            return Input::Admin(command, args);
        }
        match name.parse() {
            Ok(command) => Input::User(command, args),
            Err(_) => Input::Unknown,
        }
    }
}

/// `/cmd@botname args` → ("/cmd", "args"); a command addressed to another
/// bot gives an empty name.
fn split_command<'a>(text: &'a str, bot: &str) -> (String, &'a str) {
    let text = text.trim();
    let (head, args) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let command = match head.split_once('@') {
        Some((cmd, name)) if name.eq_ignore_ascii_case(bot) => cmd,
        Some(_) => "",
        None => head,
    };
    (command.to_ascii_lowercase(), args.trim())
}

/// The command menu in `lang`.
pub fn menu(lang: Lang) -> Vec<BotCommand> {
    Command::ALL
        .iter()
        .map(|c| BotCommand::new(c.name(), tr(lang, c.description_key())))
        .collect()
}

/// Registers the command menu in every language (English as the default).
pub async fn set_menu(bot: &Bot) {
    for lang in Lang::ALL.iter().copied() {
        let mut req = bot.set_my_commands(menu(lang));
        if lang != Lang::En {
            req = req.language_code(lang.code());
        }
        if let Err(e) = req.send().await {
            tracing::warn!(error = %e, lang = lang.code(), "setMyCommands failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for c in Command::ALL {
            assert_eq!(format!("/{}", c.name()).parse(), Ok(c));
        }
        for c in AdminCommand::ALL {
            assert_eq!(format!("/{}", c.name()).parse(), Ok(c));
        }
        assert!("start".parse::<Command>().is_err());
        assert!("/stats".parse::<Command>().is_err());
    }

    #[test]
    fn parses_like_telegram_clients_send_it() {
        use Input::*;
        let user = |text| Input::parse(text, "VpnBot", false);
        assert_eq!(user("/start"), User(Command::Start, ""));
        assert_eq!(user("/start ref42"), User(Command::Start, "ref42"));
        assert_eq!(user("/START@vpnbot  ref42 "), User(Command::Start, "ref42"));
        assert_eq!(user("/sub@VpnBot"), User(Command::Sub, ""));
        assert_eq!(user("/sub@OtherBot"), Unknown);
        assert_eq!(user("/nope"), Unknown);
        assert_eq!(user("hello"), Unknown);
        assert_eq!(user("menu"), Unknown);
        // Admin commands exist only for admins.
        assert_eq!(user("/maintenance on"), Unknown);
        let admin = |text| Input::parse(text, "VpnBot", true);
        assert_eq!(
            admin("/maintenance on"),
            Admin(AdminCommand::Maintenance, "on")
        );
        assert_eq!(admin("/grant 42 30"), Admin(AdminCommand::Grant, "42 30"));
        assert_eq!(
            admin("/broadcast Hi\nall"),
            Admin(AdminCommand::Broadcast, "Hi\nall")
        );
        assert_eq!(admin("/help"), User(Command::Help, ""));
    }

    #[test]
    fn the_menu_lists_every_user_command_in_every_language() {
        for lang in Lang::ALL.iter().copied() {
            let menu = menu(lang);
            let names: Vec<_> = menu.iter().map(|c| c.command.as_str()).collect();
            assert_eq!(
                names,
                ["start", "sub", "menu", "help", "paysupport", "terms"]
            );
            for (c, want) in menu.iter().zip(Command::ALL) {
                assert_eq!(c.description, tr(lang, want.description_key()));
            }
        }
    }
}
