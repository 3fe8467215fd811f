//! The page's words in English and Russian, and the choice between them.
//!
//! A small typed table rather than the bot's Fluent files: those live in the
//! root crate (`src/bot/i18n`), which the http crate cannot depend on, and the
//! page needs a few dozen fixed strings. A missing translation is a compile error.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Utc};

/// Which other languages' speakers read the page in which of ours: the
/// bot's `[bot] language_map` (by default Ukrainian, Belarusian and Kazakh
/// speakers get Russian).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LanguageMap(BTreeMap<String, Lang>);

impl Default for LanguageMap {
    fn default() -> Self {
        Self(
            ["uk", "be", "kk"]
                .into_iter()
                .map(|code| (code.to_owned(), Lang::Ru))
                .collect(),
        )
    }
}

impl LanguageMap {
    /// From `code → "en" | "ru"` (validated by `check-config`; other
    /// targets are left out).
    pub fn from_codes<'a>(codes: impl IntoIterator<Item = (&'a String, &'a String)>) -> Self {
        Self(
            codes
                .into_iter()
                .filter_map(|(code, lang)| {
                    let lang = match lang.as_str() {
                        "ru" => Lang::Ru,
                        "en" => Lang::En,
                        _ => return None,
                    };
                    Some((code.to_ascii_lowercase(), lang))
                })
                .collect(),
        )
    }

    /// The page's language for a language tag: ours directly, else mapped.
    fn lang_of(&self, tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "ru" => Some(Lang::Ru),
            "en" => Some(Lang::En),
            other => self.0.get(other).copied(),
        }
    }
}

/// A language the page speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Ru,
}

impl Lang {
    /// `<html lang>`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ru => "ru",
        }
    }

    /// The language for an `Accept-Language` header: of the languages we
    /// speak (directly or through `map`), the one with the highest q-value
    /// (the first listed on a tie; `q=0` means "not this one"). When the
    /// header names none of ours, the language the user chose in the bot,
    /// else English.
    pub fn choose(
        accept_language: Option<&str>,
        bot_language: Option<&str>,
        map: &LanguageMap,
    ) -> Lang {
        let mut best: Option<(u16, Lang)> = None;
        for item in accept_language.unwrap_or_default().split(',') {
            let mut parts = item.split(';');
            let Some(lang) = parts.next().and_then(|tag| map.lang_of(tag)) else {
                continue;
            };
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(Some(1000), parse_q);
            match q {
                Some(q) if q > 0 && best.is_none_or(|(b, _)| q > b) => best = Some((q, lang)),
                _ => {}
            }
        }
        best.map(|(_, lang)| lang)
            .or_else(|| bot_language.and_then(|tag| map.lang_of(tag)))
            .unwrap_or(Lang::En)
    }

    pub fn texts(self) -> &'static Texts {
        match self {
            Lang::En => &EN,
            Lang::Ru => &RU,
        }
    }

    /// "12 March 2027" / "12 марта 2027".
    pub fn date(self, at: DateTime<Utc>) -> String {
        const EN_MONTHS: [&str; 12] = [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ];
        const RU_MONTHS: [&str; 12] = [
            "января",
            "февраля",
            "марта",
            "апреля",
            "мая",
            "июня",
            "июля",
            "августа",
            "сентября",
            "октября",
            "ноября",
            "декабря",
        ];
        let months = match self {
            Lang::En => &EN_MONTHS,
            Lang::Ru => &RU_MONTHS,
        };
        let month = months
            .get(at.month0() as usize)
            .copied()
            .unwrap_or_default();
        format!("{} {month} {}", at.day(), at.year())
    }

    /// `days` > 0: days left (a started day counts); 0: ended less than a
    /// day ago; < 0: ended that many whole days ago.
    pub fn days_left(self, days: i64) -> String {
        match (self, days) {
            (Lang::En, 0) => "ended today".into(),
            (Lang::En, 1) => "1 day left".into(),
            (Lang::En, d) if d > 0 => format!("{d} days left"),
            (Lang::En, -1) => "ended yesterday".into(),
            (Lang::En, d) => format!("ended {} days ago", -d),
            (Lang::Ru, 0) => "закончилась сегодня".into(),
            (Lang::Ru, d) if d > 0 => format!(
                "{} {d} {}",
                ru_plural(d, "остался", "осталось", "осталось"),
                ru_plural(d, "день", "дня", "дней")
            ),
            (Lang::Ru, -1) => "закончилась вчера".into(),
            (Lang::Ru, d) => format!(
                "закончилась {} {} назад",
                -d,
                ru_plural(-d, "день", "дня", "дней")
            ),
        }
    }

    /// "3.2 GB" / "3,2 ГБ" (binary units, one decimal).
    pub fn bytes(self, n: u64) -> String {
        const EN: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
        const RU: [&str; 5] = ["Б", "КБ", "МБ", "ГБ", "ТБ"];
        let units = match self {
            Lang::En => &EN,
            Lang::Ru => &RU,
        };
        let mut value = n as f64;
        let mut unit = 0;
        while value >= 1024.0 && unit + 1 < units.len() {
            value /= 1024.0;
            unit += 1;
        }
        let text = if unit == 0 {
            format!("{n}")
        } else {
            format!("{value:.1}")
        };
        let text = match self {
            Lang::En => text,
            Lang::Ru => text.replace('.', ","),
        };
        format!("{text} {}", units[unit])
    }

    /// The explanation for a device limit of `limit`.
    pub fn device_limit(self, limit: u32) -> String {
        match self {
            Lang::En => format!(
                "This subscription is already in use on {limit} {}, its limit. Remove a device \
                 in the bot (“My subscription”) to add this one.",
                if limit == 1 { "device" } else { "devices" }
            ),
            Lang::Ru => format!(
                "Подписка уже используется на {limit} {} — это её предел. Удалите устройство \
                 в боте («Моя подписка»), чтобы добавить это.",
                ru_plural(i64::from(limit), "устройстве", "устройствах", "устройствах")
            ),
        }
    }
}

/// Parses a q-value into thousandths (`0.8` → 800); `None` if malformed.
fn parse_q(q: &str) -> Option<u16> {
    let q = q.trim();
    let (int, frac) = q.split_once('.').unwrap_or((q, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac: u16 = format!("{frac:0<3}").parse().ok()?;
    match int {
        "0" => Some(frac),
        "1" if frac == 0 => Some(1000),
        _ => None,
    }
}

/// Russian plural form for `n`: one (1, 21…), few (2–4, 22–24…), many.
fn ru_plural<'a>(n: i64, one: &'a str, few: &'a str, many: &'a str) -> &'a str {
    let n = n.abs();
    match (n % 10, n % 100) {
        (1, r) if r != 11 => one,
        (2..=4, r) if !(12..=14).contains(&r) => few,
        _ => many,
    }
}

/// Every fixed string of the page.
#[derive(Debug)]
pub struct Texts {
    pub page_title: &'static str,
    pub status: &'static str,
    pub active: &'static str,
    pub expired: &'static str,
    pub revoked: &'static str,
    pub device_limit: &'static str,
    pub hwid_required: &'static str,
    pub expired_body: &'static str,
    pub revoked_body: &'static str,
    pub hwid_required_body: &'static str,
    pub limited: &'static str,
    pub limited_body: &'static str,
    pub renew: &'static str,
    pub renew_in_bot: &'static str,
    pub valid_until: &'static str,
    pub ended_on: &'static str,
    pub traffic: &'static str,
    pub of: &'static str,
    pub unlimited: &'static str,
    pub subscription_link: &'static str,
    pub subscription_link_hint: &'static str,
    pub copy: &'static str,
    pub copied: &'static str,
    pub show_qr: &'static str,
    pub qr_of_subscription: &'static str,
    pub add_to_app: &'static str,
    pub add_to_app_hint: &'static str,
    pub add: &'static str,
    pub copy_then_import: &'static str,
    pub get_app: &'static str,
    pub servers: &'static str,
    pub servers_hint: &'static str,
    pub footer: &'static str,
}

static EN: Texts = Texts {
    page_title: "Your VPN subscription",
    status: "Status",
    active: "Active",
    expired: "Expired",
    revoked: "Cancelled",
    device_limit: "Device limit reached",
    hwid_required: "App not supported",
    limited: "Traffic used up",
    limited_body: "The traffic of this period is used up, so this page shows no keys. \
                   Buy a traffic pack in the bot, or wait for the next period.",
    expired_body: "Your subscription has ended, so this page shows no keys. Once you renew, \
                   this link stays the same and your apps pick the keys up by themselves.",
    revoked_body: "This subscription has been cancelled. Open the bot to get a new one.",
    hwid_required_body: "This service needs an app that identifies the device, such as Happ, \
                         v2RayTun or FlClash. Add the subscription in one of them.",
    renew: "Renew",
    renew_in_bot: "Renew it in our Telegram bot.",
    valid_until: "Valid until",
    ended_on: "Ended on",
    traffic: "Traffic used",
    of: "of",
    unlimited: "no limit",
    subscription_link: "Subscription link",
    subscription_link_hint: "Add this link to a VPN app once: the app keeps your servers up to \
                             date by itself.",
    copy: "Copy",
    copied: "Copied",
    show_qr: "QR code",
    qr_of_subscription: "Scan with the app on your phone",
    add_to_app: "Add to an app",
    add_to_app_hint: "Tap “Add” with the app installed; no app yet? Get one below.",
    add: "Add",
    copy_then_import: "Copy the link, then in the app: Subscription → Import from clipboard",
    get_app: "Get it",
    servers: "Servers",
    servers_hint: "Single keys, for apps that take no subscription link.",
    footer: "This page's address is private: anyone who has it can use your subscription.",
};

static RU: Texts = Texts {
    page_title: "Ваша VPN-подписка",
    status: "Статус",
    active: "Активна",
    expired: "Истекла",
    revoked: "Отменена",
    device_limit: "Достигнут предел устройств",
    hwid_required: "Приложение не подходит",
    limited: "Трафик израсходован",
    limited_body: "Трафик этого периода израсходован, поэтому ключей здесь нет. \
                   Купите пакет трафика в боте или дождитесь следующего периода.",
    expired_body: "Срок подписки закончился, поэтому ключей здесь нет. После продления \
                   ссылка останется прежней, и приложения сами получат ключи.",
    revoked_body: "Эта подписка отменена. Откройте бота, чтобы получить новую.",
    hwid_required_body: "Сервису нужно приложение, которое сообщает устройство, например \
                         Happ, v2RayTun или FlClash. Добавьте подписку в одно из них.",
    renew: "Продлить",
    renew_in_bot: "Продлите её в нашем Telegram-боте.",
    valid_until: "Действует до",
    ended_on: "Закончилась",
    traffic: "Израсходовано",
    of: "из",
    unlimited: "без ограничений",
    subscription_link: "Ссылка на подписку",
    subscription_link_hint: "Добавьте ссылку в VPN-приложение один раз — дальше оно само \
                             обновляет список серверов.",
    copy: "Копировать",
    copied: "Скопировано",
    show_qr: "QR-код",
    qr_of_subscription: "Отсканируйте приложением на телефоне",
    add_to_app: "Добавить в приложение",
    add_to_app_hint: "Нажмите «Добавить», если приложение установлено; если нет — скачайте \
                      его ниже.",
    add: "Добавить",
    copy_then_import: "Скопируйте ссылку, затем в приложении: Подписка → Импорт из буфера обмена",
    get_app: "Скачать",
    servers: "Серверы",
    servers_hint: "Отдельные ключи — для приложений без поддержки подписок.",
    footer: "Адрес этой страницы — личный: любой, у кого он есть, может пользоваться вашей \
             подпиской.",
};

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn language_from_accept_language() {
        let map = LanguageMap::default();
        let choose = |h: &str| Lang::choose(Some(h), None, &map);
        assert_eq!(choose("ru"), Lang::Ru);
        assert_eq!(choose("ru-RU,ru;q=0.9,en-US;q=0.8,en;q=0.7"), Lang::Ru);
        for tag in ["uk", "be-BY", "kk", "RU_ru"] {
            assert_eq!(choose(tag), Lang::Ru, "{tag}");
        }
        assert_eq!(choose("en-US,en;q=0.9"), Lang::En);
        assert_eq!(choose("de-DE"), Lang::En);
        // q-values, not order, decide; the first listed wins a tie.
        assert_eq!(choose("en;q=0.5, ru;q=0.8"), Lang::Ru);
        assert_eq!(choose("ru;q=0.3, en"), Lang::En);
        assert_eq!(choose("en, ru"), Lang::En);
        assert_eq!(choose("ru;q=0.800, en;q=0.799"), Lang::Ru);
        // Languages we do not speak are skipped, not taken for English.
        assert_eq!(choose("de, ru;q=0.5"), Lang::Ru);
        // q=0 refuses; malformed q-values are ignored.
        assert_eq!(choose("ru;q=0, en;q=0.1"), Lang::En);
        assert_eq!(choose("ru;q=0"), Lang::En);
        assert_eq!(choose("ru;q=2, en;q=0.1"), Lang::En);
        assert_eq!(choose("ru;q=abc"), Lang::En);
        assert_eq!(choose(""), Lang::En);
        assert_eq!(choose("*"), Lang::En);
    }

    #[test]
    fn the_bot_language_when_the_browser_names_none_of_ours() {
        let map = LanguageMap::default();
        assert_eq!(Lang::choose(None, Some("ru"), &map), Lang::Ru);
        assert_eq!(Lang::choose(Some("de"), Some("ru"), &map), Lang::Ru);
        assert_eq!(Lang::choose(Some("en"), Some("ru"), &map), Lang::En);
        assert_eq!(Lang::choose(None, None, &map), Lang::En);
    }

    #[test]
    fn a_configured_language_map_replaces_the_default() {
        let codes: BTreeMap<String, String> = [
            ("uk".to_owned(), "en".to_owned()),
            ("de".to_owned(), "ru".to_owned()),
        ]
        .into();
        let map = LanguageMap::from_codes(&codes);
        assert_eq!(Lang::choose(Some("uk-UA"), None, &map), Lang::En);
        assert_eq!(Lang::choose(Some("de"), None, &map), Lang::Ru);
        // Not listed any more: no longer ours.
        assert_eq!(Lang::choose(Some("kk"), None, &map), Lang::En);
        assert_eq!(Lang::choose(Some("ru"), None, &map), Lang::Ru);
    }

    #[test]
    fn q_values() {
        assert_eq!(parse_q("1"), Some(1000));
        assert_eq!(parse_q("1.000"), Some(1000));
        assert_eq!(parse_q("0.8"), Some(800));
        assert_eq!(parse_q("0.05"), Some(50));
        assert_eq!(parse_q("0"), Some(0));
        assert_eq!(parse_q("1.5"), None);
        assert_eq!(parse_q("0.1234"), None);
        assert_eq!(parse_q("-1"), None);
    }

    #[test]
    fn numbers_and_dates() {
        assert_eq!(Lang::Ru.days_left(1), "остался 1 день");
        assert_eq!(Lang::Ru.days_left(3), "осталось 3 дня");
        assert_eq!(Lang::Ru.days_left(11), "осталось 11 дней");
        assert_eq!(Lang::Ru.days_left(21), "остался 21 день");
        assert_eq!(Lang::Ru.days_left(-5), "закончилась 5 дней назад");
        assert_eq!(Lang::En.days_left(30), "30 days left");
        assert_eq!(Lang::En.days_left(-2), "ended 2 days ago");
        assert_eq!(Lang::En.days_left(0), "ended today");
        assert_eq!(Lang::En.bytes(512), "512 B");
        assert_eq!(Lang::En.bytes(3_435_973_837), "3.2 GB");
        assert_eq!(Lang::Ru.bytes(3_435_973_837), "3,2 ГБ");
        let at = Utc
            .with_ymd_and_hms(2027, 3, 12, 10, 0, 0)
            .single()
            .expect("date");
        assert_eq!(Lang::En.date(at), "12 March 2027");
        assert_eq!(Lang::Ru.date(at), "12 марта 2027");
    }
}
