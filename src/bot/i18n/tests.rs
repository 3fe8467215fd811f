//! Tests of the translations (every key in every locale, plurals, markup)
//! and of the formatting helpers.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{TimeZone, Utc};

use super::*;

const FTL: [(Lang, &str); 2] = [
    (Lang::En, include_str!("../../../locales/en/main.ftl")),
    (Lang::Ru, include_str!("../../../locales/ru/main.ftl")),
];

/// Message ids of an .ftl file with the `$variables` each one mentions.
fn parse_ftl(src: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in src.lines() {
        if line.starts_with('#') {
            continue;
        }
        if line.starts_with(|c: char| c.is_ascii_lowercase())
            && let Some((id, _)) = line.split_once(" =")
        {
            current = Some(id.trim().to_owned());
            out.entry(id.trim().to_owned()).or_default();
        }
        let Some(id) = &current else { continue };
        let mut rest = line;
        while let Some(at) = rest.find('$') {
            rest = rest.get(at + 1..).unwrap_or_default();
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                .collect();
            out.entry(id.clone()).or_default().insert(name);
        }
    }
    out
}

/// A value for each variable: `2` for numbers, `«name»` for strings.
fn sample_args<'a>(vars: &[&'a str]) -> Vec<(&'a str, Arg)> {
    vars.iter()
        .map(|v| {
            let value = if NUMERIC_VARS.contains(v) {
                Arg::Int(2)
            } else {
                Arg::Str(format!("«{v}»"))
            };
            (*v, value)
        })
        .collect()
}

#[test]
fn files_define_exactly_the_listed_keys_and_variables() {
    let expected: BTreeMap<String, BTreeSet<String>> = KEYS
        .iter()
        .map(|(k, vars)| (k.to_string(), vars.iter().map(|v| v.to_string()).collect()))
        .collect();
    assert_eq!(expected.len(), KEYS.len(), "duplicate keys in KEYS");
    for (lang, src) in FTL {
        let found = parse_ftl(src);
        for (key, vars) in &expected {
            assert_eq!(found.get(key), Some(vars), "{lang}: {key}");
        }
        for key in found.keys() {
            assert!(expected.contains_key(key), "{lang}: {key} is not in KEYS");
        }
    }
}

#[test]
fn every_key_renders_in_both_languages() {
    for lang in Lang::ALL.iter().copied() {
        for (key, vars) in KEYS {
            let args = sample_args(vars);
            let text = tr_with(lang, key, &args);
            assert_ne!(text, *key, "{lang}: {key} did not render");
            assert!(!text.trim().is_empty(), "{lang}: {key} is empty");
            assert!(!text.contains(['{', '}']), "{lang}: {key}: {text}");
            for (name, value) in &args {
                if let Arg::Str(s) = value {
                    assert!(text.contains(s.as_str()), "{lang}: {key} lost ${name}");
                }
            }
            if vars.is_empty() {
                assert_eq!(tr(lang, key), text);
            }
        }
    }
}

#[test]
fn russian_is_really_russian() {
    let same = KEYS.iter().filter(|(key, vars)| {
        let args = sample_args(vars);
        tr_with(Lang::En, key, &args) == tr_with(Lang::Ru, key, &args)
    });
    // Only language-neutral labels may be identical.
    let neutral = [
        "btn-plan",
        "invoice-title",
        "invoice-label",
        "btn-provider-stars",
        "btn-provider-cryptobot",
        "btn-topup-amount",
        "btn-open-user",
        "apps-line",
        "card-traffic",
        "pack-line",
    ];
    for (key, _) in same {
        assert!(neutral.contains(key), "{key} is not translated");
    }
}

#[test]
fn only_telegram_html_is_used() {
    let allowed = ["b", "/b", "i", "/i", "code", "/code", "/a"];
    let plain = ["btn-", "cmd-", "invoice-", "precheckout-"];
    for lang in Lang::ALL.iter().copied() {
        for (key, vars) in KEYS {
            let text = tr_with(lang, key, &sample_args(vars));
            if plain.iter().any(|p| key.starts_with(p)) {
                assert!(!text.contains(['<', '>']), "{lang}: {key} has markup");
                continue;
            }
            for (at, _) in text.match_indices('&') {
                let entity = text.get(at..).unwrap_or_default();
                assert!(
                    ["&lt;", "&gt;", "&amp;", "&quot;"]
                        .iter()
                        .any(|e| entity.starts_with(e)),
                    "{lang}: {key}: bare '&'"
                );
            }
            let mut rest = text.as_str();
            while let Some(at) = rest.find('<') {
                let tail = rest.get(at + 1..).unwrap_or_default();
                let Some(end) = tail.find('>') else {
                    panic!("{lang}: {key}: unclosed tag");
                };
                let tag = tail.get(..end).unwrap_or_default();
                assert!(
                    allowed.contains(&tag) || tag.starts_with("a href=\""),
                    "{lang}: {key}: <{tag}>"
                );
                rest = tail.get(end..).unwrap_or_default();
            }
        }
    }
}

#[test]
fn russian_plurals() {
    let days = |n: i64| t!(Lang::Ru, "trial-started", days = n);
    assert!(days(1).contains("1 день "), "{}", days(1));
    assert!(days(2).contains("2 дня "), "{}", days(2));
    assert!(days(5).contains("5 дней "), "{}", days(5));
    assert!(days(11).contains("11 дней "), "{}", days(11));
    assert!(days(21).contains("21 день "), "{}", days(21));
    assert!(days(24).contains("24 дня "), "{}", days(24));
    let mins = |n: i64| {
        t!(
            Lang::Ru,
            "pay-with-link",
            provider = "X",
            amount = "Y",
            ttl_minutes = n
        )
    };
    assert!(mins(1).contains("1 минуту."), "{}", mins(1));
    assert!(mins(3).contains("3 минуты."), "{}", mins(3));
    assert!(mins(30).contains("30 минут."), "{}", mins(30));
}

#[test]
fn english_plurals() {
    assert!(t!(Lang::En, "trial-started", days = 1).contains("1 day of"));
    assert!(t!(Lang::En, "trial-started", days = 3).contains("3 days of"));
    assert_eq!(t!(Lang::En, "btn-grant", days = 30u32), "+30 days");
    assert_eq!(t!(Lang::En, "btn-grant", days = 1), "+1 day");
}

#[test]
fn urls_come_out_untouched() {
    let url = "https://sub.example.com/s/AbC_123-xyz?x=1&amp;y=2";
    let vless = "vless://0b5f9c1e-1111-4222-8333-944455556666@1.2.3.4:443?security=reality&amp;sni=www.example.com#de-1";
    for lang in Lang::ALL.iter().copied() {
        for text in [
            t!(lang, "sub-url", url = url),
            t!(lang, "link-reset", url = vless),
            t!(lang, "referral", link = url, bonus = "$1.00", count = 3),
        ] {
            assert!(!text.contains(['\u{2068}', '\u{2069}']), "{text:?}");
            assert!(text.contains(url) || text.contains(vless), "{text:?}");
        }
    }
    assert!(t!(Lang::En, "sub-url", url = url).contains(&format!("<code>{url}</code>")));
}

#[test]
fn missing_keys_and_variables_do_not_panic() {
    assert_eq!(tr(Lang::Ru, "no-such-key"), "no-such-key");
    assert_eq!(tr(Lang::En, "no-such-key"), "no-such-key");
    // A missing variable is an error, not a half-rendered text.
    assert_eq!(tr(Lang::Ru, "sub-url"), "sub-url");
}

#[test]
fn languages_from_telegram_codes() {
    for (code, lang) in [
        (Some("ru"), Lang::Ru),
        (Some("ru-RU"), Lang::Ru),
        (Some("RU"), Lang::Ru),
        (Some("uk"), Lang::Ru),
        (Some("be"), Lang::Ru),
        (Some("kk"), Lang::Ru),
        (Some("en"), Lang::En),
        (Some("en-US"), Lang::En),
        (Some("de"), Lang::En),
        (Some("rus"), Lang::En),
        (Some(""), Lang::En),
        (None, Lang::En),
    ] {
        assert_eq!(Lang::from_code(code), lang, "{code:?}");
    }
    for lang in Lang::ALL.iter().copied() {
        assert_eq!(lang.code().parse::<Lang>(), Ok(lang));
        assert_eq!(lang.to_string(), lang.code());
    }
    assert_eq!(" RU ".parse::<Lang>(), Ok(Lang::Ru));
    assert!("de".parse::<Lang>().is_err());
}

#[test]
fn money() {
    use Lang::{En, Ru};
    let cases = [
        (En, 150, "XTR", "150 ⭐"),
        (Ru, 150, "XTR", "150 ⭐"),
        (En, 299, "USD", "$2.99"),
        (Ru, 299, "USD", "2,99 $"),
        (En, 5, "USD", "$0.05"),
        (En, -299, "USD", "-$2.99"),
        (En, 29_900, "RUB", "299 ₽"),
        (Ru, 29_900, "RUB", "299 ₽"),
        (En, 29_950, "RUB", "299.50 ₽"),
        (Ru, 29_950, "RUB", "299,50 ₽"),
        (En, 299, "EUR", "2.99 EUR"),
        (Ru, 299, "EUR", "2,99 EUR"),
        (En, 1_050, "USDT", "10.50 USDT"),
        (En, 123_456_789, "USD", "$1,234,567.89"),
        (Ru, 123_456_789, "USD", "1\u{a0}234\u{a0}567,89 $"),
        (En, 1_500, "XTR", "1,500 ⭐"),
        (Ru, 1_500, "XTR", "1500 ⭐"),
        (Ru, 15_000, "XTR", "15\u{a0}000 ⭐"),
    ];
    for (lang, minor, cur, want) in cases {
        assert_eq!(format_money(lang, minor, cur), want, "{lang} {minor} {cur}");
    }
    // Extremes do not overflow.
    assert!(format_money(En, i64::MIN, "USD").starts_with("-$92,233,720,368,547,758.08"));
}

#[test]
fn dates() {
    let at = Utc.with_ymd_and_hms(2026, 12, 23, 14, 5, 0).single();
    let at = at.unwrap_or_default();
    let utc = jiff::tz::TimeZone::UTC;
    assert_eq!(format_date(Lang::En, &utc, at), "23 Dec 2026, 14:05");
    assert_eq!(format_date(Lang::Ru, &utc, at), "23 дек. 2026, 14:05");
    let may = Utc.with_ymd_and_hms(2027, 5, 1, 0, 0, 0).single();
    assert_eq!(
        format_date(Lang::Ru, &utc, may.unwrap_or_default()),
        "1 мая 2027, 00:00"
    );
    // The zone moves the day (and the month) too.
    let vladivostok = jiff::tz::TimeZone::get("Asia/Vladivostok").expect("zone");
    let eve = Utc.with_ymd_and_hms(2027, 4, 30, 16, 30, 0).single();
    assert_eq!(
        format_date(Lang::Ru, &vladivostok, eve.unwrap_or_default()),
        "1 мая 2027, 02:30"
    );
}

#[test]
fn bytes() {
    assert_eq!(format_bytes(Lang::En, 0), "0 B");
    assert_eq!(format_bytes(Lang::En, 1023), "1023 B");
    assert_eq!(format_bytes(Lang::En, 1024), "1.0 KiB");
    assert_eq!(format_bytes(Lang::En, 1536), "1.5 KiB");
    assert_eq!(format_bytes(Lang::En, 3 * (1 << 29)), "1.5 GiB");
    assert_eq!(format_bytes(Lang::En, (1 << 20) - 1), "1.0 MiB");
    assert_eq!(format_bytes(Lang::En, u64::MAX), "16.0 EiB");
    assert_eq!(format_bytes(Lang::Ru, 0), "0 Б");
    assert_eq!(format_bytes(Lang::Ru, 3 * (1 << 29)), "1,5 ГиБ");
}

#[test]
fn escaping() {
    assert_eq!(
        html_escape(r#"<b>"Tom" & Jerry</b>"#),
        "&lt;b&gt;&quot;Tom&quot; &amp; Jerry&lt;/b&gt;"
    );
    assert_eq!(html_escape("Привет 👋"), "Привет 👋");
}
