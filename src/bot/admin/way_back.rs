//! Every admin screen has a way back: a Menu button is added to a screen
//! whose buttons lead neither to the menu nor to the users list.

use teloxide::types::{InlineKeyboardButtonKind, InlineKeyboardMarkup};

use crate::bot::callback::Callback;
use crate::bot::i18n::Lang;
use crate::bot::reply::Reply;
use crate::bot::screens::{Screen, back_to_menu};

/// `reply` with a Menu button added when it has no way back.
pub fn ensure(reply: Reply, lang: Lang) -> Reply {
    match reply {
        Reply::Show(screen) if !has_way_back(&screen) => Reply::Show(with_menu(screen, lang)),
        other => other,
    }
}

fn has_way_back(screen: &Screen) -> bool {
    let Some(keyboard) = &screen.keyboard else {
        return false;
    };
    keyboard.inline_keyboard.iter().flatten().any(|b| {
        matches!(&b.kind, InlineKeyboardButtonKind::CallbackData(data)
        if matches!(
            Callback::decode(data),
            Ok(Callback::Menu | Callback::AdminUsers { .. })
        ))
    })
}

fn with_menu(screen: Screen, lang: Lang) -> Screen {
    let mut rows = screen
        .keyboard
        .map(|k| k.inline_keyboard)
        .unwrap_or_default();
    rows.push(back_to_menu(lang));
    Screen {
        text: screen.text,
        keyboard: Some(InlineKeyboardMarkup::new(rows)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bot::screens::row;

    fn datas(reply: &Reply) -> Vec<String> {
        let Reply::Show(s) = reply else {
            return Vec::new();
        };
        s.keyboard
            .iter()
            .flat_map(|k| k.inline_keyboard.iter().flatten())
            .filter_map(|b| match &b.kind {
                InlineKeyboardButtonKind::CallbackData(d) => Some(d.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn menu_only_where_there_is_no_way_back() {
        let menu = Callback::Menu.encode().expect("menu");
        let bare = ensure(Screen::text("Stats".into()).into(), Lang::En);
        assert_eq!(datas(&bare), vec![menu.clone()]);
        let list = Callback::AdminUsers { page: 0 };
        let listed = ensure(
            Screen::with("User".into(), vec![row([("Back".into(), list.clone())])]).into(),
            Lang::En,
        );
        assert_eq!(datas(&listed), vec![list.encode().expect("list")]);
        let confirm = ensure(
            Screen::with(
                "Revoke?".into(),
                vec![row([("Cancel".into(), Callback::AdminUser { user: 5 })])],
            )
            .into(),
            Lang::En,
        );
        assert_eq!(datas(&confirm).last(), Some(&menu));
    }
}
