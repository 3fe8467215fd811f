//! What the subscription tells a person in words, in English or Russian: the
//! stub entry's name for a subscription that serves no working entries, and
//! the info entry ("12 days left · 3.2 GB used").

use chrono::{DateTime, Utc};

use super::view::{SubscriptionView, ViewStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Ru,
}

impl Lang {
    /// The user's language chosen in the bot (`ru`, `ru-RU`…); anything else: English.
    pub fn of(language: Option<&str>) -> Self {
        match language {
            Some(l) if l.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("ru")) => Lang::Ru,
            _ => Lang::En,
        }
    }
}

/// The stub entry's name: why nothing works and where to go.
pub fn stub(status: ViewStatus, lang: Lang, renew: Option<&str>) -> String {
    let why = match (status, lang) {
        (ViewStatus::Expired, Lang::En) => "Subscription expired".to_owned(),
        (ViewStatus::Expired, Lang::Ru) => "Подписка истекла".to_owned(),
        (ViewStatus::Revoked, Lang::En) => "Subscription revoked".to_owned(),
        (ViewStatus::Revoked, Lang::Ru) => "Подписка отключена".to_owned(),
        (ViewStatus::DeviceLimit { limit }, Lang::En) => {
            format!("Device limit reached ({limit}): remove a device in the bot")
        }
        (ViewStatus::DeviceLimit { limit }, Lang::Ru) => {
            format!("Достигнут лимит устройств ({limit}): удалите устройство в боте")
        }
        (ViewStatus::HwidRequired, Lang::En) => {
            "This app does not identify the device: use another app".to_owned()
        }
        (ViewStatus::HwidRequired, Lang::Ru) => {
            "Приложение не сообщает ID устройства: используйте другое".to_owned()
        }
        (ViewStatus::Limited, Lang::En) => {
            "Traffic for this period is used up: buy more in the bot".to_owned()
        }
        (ViewStatus::Limited, Lang::Ru) => {
            "Трафик за период израсходован: докупите в боте".to_owned()
        }
        (ViewStatus::Active, Lang::En) => "No servers available right now".to_owned(),
        (ViewStatus::Active, Lang::Ru) => "Сейчас нет доступных серверов".to_owned(),
    };
    let Some(url) = renew else { return why };
    let verb = match (status, lang) {
        (ViewStatus::Expired, Lang::En) => "renew",
        (ViewStatus::Expired, Lang::Ru) => "продлить",
        (_, Lang::En) => "help",
        (_, Lang::Ru) => "помощь",
    };
    format!("{why} · {verb}: {url}")
}

/// The info entry's name: days left and traffic used.
pub fn info(view: &SubscriptionView, now: DateTime<Utc>, lang: Lang) -> String {
    let secs = (view.expires_at - now).num_seconds().max(0);
    // A part of a day counts as a day: "1 day left" until the very end.
    let days = (secs + 86_399) / 86_400;
    let used = gigabytes(view.upload.saturating_add(view.download));
    let cap = (view.total > 0).then(|| gigabytes(view.total));
    match (lang, cap) {
        (Lang::En, None) => format!("{days} {} left · {used} GB used", plural_en(days)),
        (Lang::En, Some(cap)) => {
            format!("{days} {} left · {used} of {cap} GB used", plural_en(days))
        }
        (Lang::Ru, None) => format!("Осталось {days} дн. · использовано {used} ГБ"),
        (Lang::Ru, Some(cap)) => {
            format!("Осталось {days} дн. · использовано {used} из {cap} ГБ")
        }
    }
}

fn plural_en(days: i64) -> &'static str {
    if days == 1 { "day" } else { "days" }
}

/// Bytes as GB (10^9) with one decimal.
fn gigabytes(bytes: u64) -> String {
    let tenths = bytes.saturating_add(50_000_000) / 100_000_000;
    format!("{}.{}", tenths / 10, tenths % 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gigabytes_have_one_decimal() {
        assert_eq!(gigabytes(0), "0.0");
        assert_eq!(gigabytes(3_200_000_000), "3.2");
        assert_eq!(gigabytes(3_249_999_999), "3.2");
        assert_eq!(gigabytes(3_250_000_000), "3.3");
    }

    #[test]
    fn languages() {
        assert_eq!(Lang::of(Some("ru")), Lang::Ru);
        assert_eq!(Lang::of(Some("ru-RU")), Lang::Ru);
        assert_eq!(Lang::of(Some("en")), Lang::En);
        assert_eq!(Lang::of(Some("р")), Lang::En);
        assert_eq!(Lang::of(None), Lang::En);
    }
}
