//! `[bot]`: how the bot presents things to people: the time zone of the
//! dates it shows and which Telegram languages it answers in which of its
//! own; and [`Settings::bot_locale`], which turns them (with the plans'
//! per-language titles) into the bot's [`Locale`].

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{ConfigError, LocalizedText, Settings, invalid};
use crate::bot::i18n::Lang;
use crate::bot::locale::{Locale, PlanTexts};

/// `[bot]` as written in the files.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BotConfig {
    /// The IANA time zone every date the bot shows is in (`Europe/Moscow`).
    #[serde(default = "utc")]
    pub timezone: String,
    /// Telegram `language_code`s (primary subtags) → one of the bot's
    /// languages, for users who did not pick one. Replaces the default
    /// (`uk`, `be`, `kk` → `ru`); codes not listed get English.
    #[serde(default = "default_language_map")]
    pub language_map: BTreeMap<String, String>,
}

impl Default for BotConfig {
    fn default() -> Self {
        Self {
            timezone: utc(),
            language_map: default_language_map(),
        }
    }
}

fn utc() -> String {
    "UTC".into()
}

fn default_language_map() -> BTreeMap<String, String> {
    ["uk", "be", "kk"]
        .into_iter()
        .map(|code| (code.to_owned(), "ru".to_owned()))
        .collect()
}

impl Settings {
    /// The bot's [`Locale`]: `[bot]` and the plans' titles, validated.
    pub fn bot_locale(&self) -> Result<Locale, ConfigError> {
        let tz = jiff::tz::TimeZone::get(self.bot.timezone.trim()).map_err(|e| {
            invalid(
                "bot.timezone",
                format!(
                    "{:?} is not an IANA time zone such as \"Europe/Moscow\" ({e})",
                    self.bot.timezone
                ),
            )
        })?;
        let mut languages = BTreeMap::new();
        for (code, lang) in &self.bot.language_map {
            let key = format!("bot.language_map.{code}");
            let code = code.trim().to_ascii_lowercase();
            if !(2..=3).contains(&code.len()) || !code.chars().all(|c| c.is_ascii_lowercase()) {
                return Err(invalid(
                    key,
                    "keys are Telegram language codes (2–3 letters, e.g. uk)",
                ));
            }
            if code.parse::<Lang>().is_ok() {
                return Err(invalid(key, "en and ru are the bot's own languages"));
            }
            let lang: Lang = lang
                .parse()
                .map_err(|e: crate::bot::i18n::UnknownLang| invalid(key.clone(), e.to_string()))?;
            languages.insert(code, lang);
        }
        let mut plans = BTreeMap::new();
        for (i, p) in self.plans.iter().enumerate() {
            check_localized(&format!("plans[{i}].title"), &p.title)?;
            if let Some(d) = &p.description {
                check_localized(&format!("plans[{i}].description"), d)?;
            }
            plans.insert(
                p.id.clone(),
                PlanTexts {
                    title: p.title.clone(),
                    description: p.description.clone(),
                },
            );
        }
        Ok(Locale::new(tz, languages, plans))
    }
}

/// A per-language text names only the bot's languages, none of them empty.
fn check_localized(key: &str, text: &LocalizedText) -> Result<(), ConfigError> {
    match text {
        LocalizedText::Plain(s) if s.trim().is_empty() => Err(invalid(key, "must not be empty")),
        LocalizedText::Plain(_) => Ok(()),
        LocalizedText::PerLanguage(map) => {
            if map.is_empty() {
                return Err(invalid(key, "give a text, or one per language (en, ru)"));
            }
            for (code, s) in map {
                if code.parse::<Lang>().is_err() {
                    return Err(invalid(
                        format!("{key}.{code}"),
                        "unknown language (expected en or ru)",
                    ));
                }
                if s.trim().is_empty() {
                    return Err(invalid(format!("{key}.{code}"), "must not be empty"));
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::ConfigError;
    use super::*;

    fn load(toml: &str) -> Result<Settings, ConfigError> {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("default.toml"), toml).expect("write");
        Settings::load(Some(dir.path()))
    }

    fn key_of(err: ConfigError) -> String {
        match err {
            ConfigError::Invalid { key, .. } => key,
            other => panic!("not an invalid key: {other}"),
        }
    }

    #[test]
    fn the_time_zone_and_language_map_are_checked() {
        let ok = load("[bot]\ntimezone = \"Europe/Moscow\"\nlanguage_map = { de = \"ru\" }\n");
        let locale = ok.expect("valid").bot_locale().expect("locale");
        assert_eq!(locale.lang(Some("de")), Lang::Ru);
        assert_eq!(
            locale.lang(Some("uk")),
            Lang::En,
            "the map replaces the default"
        );
        let defaults = load("").expect("valid").bot_locale().expect("locale");
        assert_eq!(defaults.lang(Some("kk")), Lang::Ru);

        let err = load("[bot]\ntimezone = \"Mars/Olympus\"\n").expect_err("bad zone");
        assert_eq!(key_of(err), "bot.timezone");
        let err = load("[bot]\nlanguage_map = { de = \"fr\" }\n").expect_err("bad language");
        assert_eq!(key_of(err), "bot.language_map.de");
        let err = load("[bot]\nlanguage_map = { ru = \"en\" }\n").expect_err("ours");
        assert_eq!(key_of(err), "bot.language_map.ru");
    }

    #[test]
    fn plan_titles_may_be_per_language() {
        let plans = "[[plans]]\nid = \"month\"\ntitle = { en = \"1 month\", ru = \"1 месяц\" }\n\
                     description = \"Fast\"\ndays = 30\nstars = 150\n";
        let settings = load(plans).expect("valid");
        let plan = settings.plans().expect("plans");
        let plan = plan.iter().next().expect("one plan");
        assert_eq!(plan.title, "1 month", "English is the plan's own title");
        let locale = settings.bot_locale().expect("locale");
        assert_eq!(locale.plan_title(Lang::Ru, plan), "1 месяц");
        assert_eq!(locale.plan_title(Lang::En, plan), "1 month");
        assert_eq!(
            locale.plan_description(Lang::Ru, plan).as_deref(),
            Some("Fast")
        );

        let bad = plans.replace("ru = \"1 месяц\"", "de = \"1 Monat\"");
        assert_eq!(key_of(load(&bad).expect_err("de")), "plans[0].title.de");
        let empty = plans.replace("description = \"Fast\"", "description = \" \"");
        assert_eq!(
            key_of(load(&empty).expect_err("empty")),
            "plans[0].description"
        );
    }

    #[test]
    fn the_referral_bonus_is_days_or_money_not_both() {
        let days = load("[referral]\nbonus_days = 7\n").expect("days alone");
        assert_eq!(days.store_options().referral_bonus_days, 7);
        assert!(days.referral_bonus().is_none());
        let both = load("[referral]\nbonus_days = 7\nbonus_minor = 100\n").expect_err("both");
        assert_eq!(key_of(both), "referral.bonus_days");
    }
}
