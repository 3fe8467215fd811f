//! [`Locale`]: what the bot needs to speak to a user in their terms, from the
//! config: the time zone of every date it shows (`[bot] timezone`), which
//! Telegram languages map to which of its own (`[bot] language_map`), and
//! the plans' titles and descriptions per language.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use jiff::tz::TimeZone;
use subvisor_actors::domain::Plan;

use super::i18n::{Lang, format_date};
use crate::config::LocalizedText;

/// A plan's configured texts.
#[derive(Debug, Clone)]
pub struct PlanTexts {
    pub title: LocalizedText,
    pub description: Option<LocalizedText>,
}

/// The time zone, language map and plan texts (see the module docs).
#[derive(Debug, Clone)]
pub struct Locale {
    tz: TimeZone,
    /// Telegram primary language subtag → the bot's language.
    languages: BTreeMap<String, Lang>,
    /// Plan id → its texts.
    plans: BTreeMap<String, PlanTexts>,
}

impl Default for Locale {
    /// UTC, `uk`/`be`/`kk` → Russian, the plans' own titles.
    fn default() -> Self {
        let languages = ["uk", "be", "kk"]
            .into_iter()
            .map(|c| (c.to_owned(), Lang::Ru))
            .collect();
        Self::new(TimeZone::UTC, languages, BTreeMap::new())
    }
}

impl Locale {
    pub fn new(
        tz: TimeZone,
        languages: BTreeMap<String, Lang>,
        plans: BTreeMap<String, PlanTexts>,
    ) -> Self {
        Self {
            tz,
            languages,
            plans,
        }
    }

    /// The language for a `language_code` (`"ru"`, `"uk-UA"`, a stored
    /// choice): one of ours as it is, else the map's, else English.
    pub fn lang(&self, code: Option<&str>) -> Lang {
        let primary = code
            .and_then(|c| c.trim().split(['-', '_']).next())
            .unwrap_or_default()
            .to_ascii_lowercase();
        if let Ok(ours) = primary.parse::<Lang>() {
            return ours;
        }
        self.languages.get(&primary).copied().unwrap_or(Lang::En)
    }

    /// A moment for people, in the configured time zone.
    pub fn date(&self, lang: Lang, at: DateTime<Utc>) -> String {
        format_date(lang, &self.tz, at)
    }

    /// The plan's title in `lang` (the configured one, else the plan's own).
    pub fn plan_title(&self, lang: Lang, plan: &Plan) -> String {
        match self.plans.get(plan.id.as_str()) {
            Some(texts) => texts.title.get(lang.code()).to_owned(),
            None => plan.title.clone(),
        }
    }

    /// The plan's description in `lang`, if one is configured.
    pub fn plan_description(&self, lang: Lang, plan: &Plan) -> Option<String> {
        self.plans
            .get(plan.id.as_str())
            .and_then(|t| t.description.as_ref())
            .map(|d| d.get(lang.code()).to_owned())
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    #[test]
    fn languages_map_to_ours_and_default_to_english() {
        let l = Locale::new(
            TimeZone::UTC,
            [("uk".to_owned(), Lang::Ru), ("de".to_owned(), Lang::Ru)].into(),
            BTreeMap::new(),
        );
        assert_eq!(l.lang(Some("uk-UA")), Lang::Ru);
        assert_eq!(l.lang(Some("de")), Lang::Ru);
        assert_eq!(l.lang(Some("be")), Lang::En);
        assert_eq!(l.lang(Some("RU")), Lang::Ru);
        assert_eq!(l.lang(Some("en-GB")), Lang::En);
        assert_eq!(l.lang(None), Lang::En);
        let d = Locale::default();
        assert_eq!(d.lang(Some("kk")), Lang::Ru);
        assert_eq!(d.lang(Some("de")), Lang::En);
    }

    #[test]
    fn dates_are_in_the_configured_zone() {
        let at = Utc.with_ymd_and_hms(2026, 12, 31, 22, 5, 0).single();
        let at = at.unwrap_or_default();
        let moscow = Locale::new(
            TimeZone::get("Europe/Moscow").expect("zone"),
            BTreeMap::new(),
            BTreeMap::new(),
        );
        assert_eq!(moscow.date(Lang::En, at), "1 Jan 2027, 01:05");
        assert_eq!(Locale::default().date(Lang::Ru, at), "31 дек. 2026, 22:05");
    }
}
