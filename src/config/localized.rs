//! [`LocalizedText`]: a configured text in one language for everyone, or per
//! language (`{ en = "…", ru = "…" }`).

use std::collections::BTreeMap;

use serde::Deserialize;

/// A text from the config: a plain string, or one per language code.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum LocalizedText {
    Plain(String),
    PerLanguage(BTreeMap<String, String>),
}

impl LocalizedText {
    /// The text for `lang` (a code such as `"ru"`): that language's, else
    /// English, else the first one given.
    pub fn get(&self, lang: &str) -> &str {
        match self {
            LocalizedText::Plain(s) => s,
            LocalizedText::PerLanguage(map) => map
                .get(lang)
                .or_else(|| map.get("en"))
                .or_else(|| map.values().next())
                .map_or("", String::as_str),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_or_per_language_with_english_fallback() {
        let plain: LocalizedText = serde_json::from_str(r#""Terms""#).expect("plain");
        assert_eq!(plain.get("ru"), "Terms");
        let per: LocalizedText =
            serde_json::from_str(r#"{"en": "Terms", "ru": "Условия"}"#).expect("map");
        assert_eq!(per.get("ru"), "Условия");
        assert_eq!(per.get("kk"), "Terms");
        let only_ru: LocalizedText = serde_json::from_str(r#"{"ru": "Условия"}"#).expect("map");
        assert_eq!(only_ru.get("en"), "Условия");
    }
}
