//! The `[subscription]` settings `/sub` reads besides title and refresh
//! interval (support link, announcements, info entries, where to renew), and
//! the bot's username, learnt from `getMe` once the bot connects.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use serde::Deserialize;

/// `announce`: one text for everyone, or one per language (`en`, `ru`, …),
/// chosen by the user's language in the bot, else `en`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Announce {
    #[default]
    None,
    Everyone(String),
    PerLanguage(BTreeMap<String, String>),
}

impl Announce {
    pub fn for_language(&self, lang: &str) -> Option<&str> {
        let text = match self {
            Announce::None => None,
            Announce::Everyone(text) => Some(text),
            Announce::PerLanguage(texts) => texts.get(lang).or_else(|| texts.get("en")),
        };
        text.map(String::as_str).filter(|t| !t.trim().is_empty())
    }
}

/// The bot's `@username` (without `@`) once `getMe` answered; shared by the
/// bot (which sets it) and `/sub` (which links to the bot in stub entries).
#[derive(Debug, Clone, Default)]
pub struct BotName(Arc<OnceLock<String>>);

impl BotName {
    /// Records the name; false if it was already known.
    pub fn set(&self, name: String) -> bool {
        self.0.set(name).is_ok()
    }

    /// The name, empty until the bot has connected.
    pub fn get(&self) -> &str {
        self.0.get().map_or("", String::as_str)
    }
}

#[derive(Debug, Clone, Default)]
pub struct SubscriptionOptions {
    /// `support-url` header; also where stub entries send people when
    /// there is neither `renew_url` nor a bot.
    pub support_url: Option<String>,
    /// `announce` header.
    pub announce: Announce,
    /// Start headerless formats (base64, xray) with an info entry.
    pub info_entries: bool,
    /// Where stub entries send people to renew; unset: the bot, else support.
    pub renew_url: Option<String>,
    pub bot: BotName,
    /// Which other languages' speakers read the page in English or Russian
    /// (`[bot] language_map`, shared with the bot).
    pub language_map: super::page::LanguageMap,
}

impl SubscriptionOptions {
    /// Where to renew: `renew_url`, else `https://t.me/<bot>`, else support.
    pub fn renew_url(&self) -> Option<String> {
        if let Some(url) = &self.renew_url {
            return Some(url.clone());
        }
        match self.bot.get() {
            "" => self.support_url.clone(),
            bot => Some(format!("https://t.me/{bot}")),
        }
    }
}

/// The support contact as a URL: an `http(s)://` URL as is, `@name` (or a
/// bare Telegram username) as `https://t.me/name`; anything else (an e-mail
/// address, a phrase) is no URL.
pub fn support_url_from_contact(contact: &str) -> Option<String> {
    let contact = contact.trim();
    if contact.starts_with("https://") || contact.starts_with("http://") {
        // Served as a header value: visible ASCII only.
        return contact
            .bytes()
            .all(|b| b.is_ascii_graphic())
            .then(|| contact.to_owned());
    }
    let name = contact.strip_prefix('@').unwrap_or(contact);
    let username = (5..=32).contains(&name.len())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && name.as_bytes()[0].is_ascii_alphabetic();
    username.then(|| format!("https://t.me/{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn support_contacts_become_urls() {
        let url = |c| support_url_from_contact(c);
        assert_eq!(url("@vpn_help").as_deref(), Some("https://t.me/vpn_help"));
        assert_eq!(url("vpn_help").as_deref(), Some("https://t.me/vpn_help"));
        assert_eq!(
            url("https://example.com/help").as_deref(),
            Some("https://example.com/help")
        );
        assert_eq!(url("help@example.com"), None);
        assert_eq!(url("https://example.com/a b"), None);
        assert_eq!(url("https://example.com/помощь"), None);
        assert_eq!(url("write to @vpn_help"), None);
        assert_eq!(url("@abc"), None);
    }

    #[test]
    fn announcements_by_language_fall_back_to_english() {
        let per = Announce::PerLanguage(BTreeMap::from([
            ("en".to_owned(), "Hello".to_owned()),
            ("ru".to_owned(), "Привет".to_owned()),
        ]));
        assert_eq!(per.for_language("ru"), Some("Привет"));
        assert_eq!(per.for_language("de"), Some("Hello"));
        assert_eq!(
            Announce::Everyone("Hi".into()).for_language("ru"),
            Some("Hi")
        );
        assert_eq!(Announce::None.for_language("en"), None);
    }

    #[test]
    fn renewal_prefers_config_then_bot_then_support() {
        let mut o = SubscriptionOptions {
            support_url: Some("https://t.me/help".into()),
            ..Default::default()
        };
        assert_eq!(o.renew_url().as_deref(), Some("https://t.me/help"));
        o.bot.set("vpn_bot".into());
        assert_eq!(o.renew_url().as_deref(), Some("https://t.me/vpn_bot"));
        o.renew_url = Some("https://vpn.example.com/renew".into());
        assert_eq!(
            o.renew_url().as_deref(),
            Some("https://vpn.example.com/renew")
        );
    }
}
