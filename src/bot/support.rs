//! The way to a human: the Support button (from `telegram.support`; left
//! out only when none is set), `/terms` and `/paysupport` (config texts or
//! defaults naming the contact), and the answer to photos and stickers.

use teloxide::types::InlineKeyboardButton;

use super::callback::Callback;
use super::card::url_button;
use super::i18n::{Lang, html_escape, tr};
use super::screens::{Screen, back_to_menu, button};
use crate::config::LocalizedText;
use crate::t;

/// "💬 Support": opens the contact when it is a link or `@name`, else shows
/// Help (which names it); `None` without a contact.
pub fn support_button(lang: Lang, contact: Option<&str>) -> Option<InlineKeyboardButton> {
    let contact = contact.filter(|c| !c.trim().is_empty())?;
    let label = tr(lang, "btn-support");
    subvisor_http::support_url_from_contact(contact)
        .and_then(|url| url_button(label.clone(), &url))
        .or_else(|| button(label, Callback::Help))
}

/// `screen` with a Support row just above its last row (the way back).
pub fn with_support(mut screen: Screen, lang: Lang, contact: Option<&str>) -> Screen {
    let Some(support) = support_button(lang, contact) else {
        return screen;
    };
    let mut rows = screen
        .keyboard
        .take()
        .map(|k| k.inline_keyboard)
        .unwrap_or_default();
    let at = rows.len().saturating_sub(1);
    rows.insert(at, vec![support]);
    if rows.len() == 1 {
        rows.push(back_to_menu(lang));
    }
    Screen::with(screen.text, rows)
}

/// The contact line of the default texts.
fn contact_line(lang: Lang, contact: Option<&str>) -> String {
    match contact.filter(|c| !c.trim().is_empty()) {
        Some(c) => t!(lang, "support-contact", support = html_escape(c)),
        None => tr(lang, "support-contact-none"),
    }
}

/// `/terms` or `/paysupport`: the configured text (escaped) or the default.
fn page(
    lang: Lang,
    configured: Option<&LocalizedText>,
    default_key: &str,
    contact: Option<&str>,
) -> Screen {
    let text = match configured {
        Some(text) => html_escape(text.get(lang.code())),
        None => format!(
            "{}\n\n{}",
            tr(lang, default_key),
            contact_line(lang, contact)
        ),
    };
    with_support(Screen::with(text, vec![back_to_menu(lang)]), lang, contact)
}

pub fn terms(lang: Lang, configured: Option<&LocalizedText>, contact: Option<&str>) -> Screen {
    page(lang, configured, "terms-default", contact)
}

pub fn paysupport(lang: Lang, configured: Option<&LocalizedText>, contact: Option<&str>) -> Screen {
    page(lang, configured, "paysupport-default", contact)
}

/// A photo, sticker, voice message…: where to get help, and the menu.
pub fn media(lang: Lang, contact: Option<&str>) -> Screen {
    let text = format!(
        "{}\n{}",
        tr(lang, "media-reply"),
        contact_line(lang, contact)
    );
    with_support(Screen::with(text, vec![back_to_menu(lang)]), lang, contact)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(screen: &Screen) -> Vec<String> {
        screen
            .keyboard
            .iter()
            .flat_map(|k| k.inline_keyboard.iter().flatten())
            .map(|b| b.text.clone())
            .collect()
    }

    #[test]
    fn support_is_hidden_only_without_a_contact() {
        let menu = || Screen::with("x".into(), vec![back_to_menu(Lang::En)]);
        assert_eq!(labels(&with_support(menu(), Lang::En, None)).len(), 1);
        for contact in ["@help_desk", "https://t.me/help_desk", "mail me"] {
            let screen = with_support(menu(), Lang::En, Some(contact));
            assert_eq!(
                labels(&screen),
                vec![tr(Lang::En, "btn-support"), tr(Lang::En, "btn-menu")],
                "{contact}"
            );
        }
    }

    #[test]
    fn configured_texts_are_escaped_and_per_language() {
        let text = LocalizedText::PerLanguage(
            [("en", "<b>T</b>"), ("ru", "Условия")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        );
        assert!(
            terms(Lang::En, Some(&text), None)
                .text
                .contains("&lt;b&gt;")
        );
        assert_eq!(terms(Lang::Ru, Some(&text), None).text, "Условия");
        assert!(terms(Lang::Ru, None, Some("@desk")).text.contains("@desk"));
    }
}
