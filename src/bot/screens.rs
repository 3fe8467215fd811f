//! Screens: the text and inline keyboard of each thing the bot shows, built
//! from a user's state. Pure functions of their inputs (no I/O), so handlers,
//! the Notifier and admin views share them.

use chrono::{DateTime, Utc};
use subvisor_actors::domain::{Money, Plan, Provider, SubscriptionStatus};
use subvisor_actors::store::UserSnapshot;
use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};

use super::callback::Callback;
use super::i18n::{Lang, format_money, html_escape, tr};
use super::locale::Locale;
use crate::t;

/// A message to show: HTML text and an optional keyboard.
#[derive(Debug, Clone)]
pub struct Screen {
    pub text: String,
    pub keyboard: Option<InlineKeyboardMarkup>,
}

impl Screen {
    pub fn text(text: String) -> Self {
        Self {
            text,
            keyboard: None,
        }
    }

    pub fn with(text: String, rows: Vec<Vec<InlineKeyboardButton>>) -> Self {
        Self {
            text,
            keyboard: Some(InlineKeyboardMarkup::new(rows)),
        }
    }
}

/// A callback button; a value that cannot be encoded (a plan id too long for
/// 64 bytes) is logged and left out rather than sent broken.
pub fn button(label: String, action: Callback) -> Option<InlineKeyboardButton> {
    match action.encode() {
        Ok(data) => Some(InlineKeyboardButton::callback(label, data)),
        Err(e) => {
            tracing::error!(error = %e, ?action, "callback data cannot be encoded; button left out");
            None
        }
    }
}

/// A row of callback buttons (unencodable ones dropped).
pub fn row(buttons: impl IntoIterator<Item = (String, Callback)>) -> Vec<InlineKeyboardButton> {
    buttons
        .into_iter()
        .filter_map(|(label, action)| button(label, action))
        .collect()
}

pub fn back_to_menu(lang: Lang) -> Vec<InlineKeyboardButton> {
    row([(tr(lang, "btn-menu"), Callback::Menu)])
}

/// A short message with a way back to the menu.
pub fn notice(lang: Lang, key: &str) -> Screen {
    Screen::with(tr(lang, key), vec![back_to_menu(lang)])
}

pub fn money(lang: Lang, m: &Money) -> String {
    format_money(lang, m.minor, m.currency.as_str())
}

fn days_left(expires: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    let secs = (expires - now).num_seconds().max(0);
    (secs + 86_399) / 86_400
}

/// One line about the subscription, for the main menu.
pub fn status_line(
    locale: &Locale,
    lang: Lang,
    s: Option<&UserSnapshot>,
    now: DateTime<Utc>,
) -> String {
    match s.and_then(|s| s.subscription.as_ref()) {
        Some(sub) if sub.is_live(now) => t!(
            lang,
            "status-active",
            expires = locale.date(lang, sub.expires_at),
            days_left = days_left(sub.expires_at, now)
        ),
        Some(sub) if sub.status == SubscriptionStatus::Revoked => tr(lang, "status-revoked"),
        Some(sub) => t!(
            lang,
            "status-expired",
            expired_at = locale.date(lang, sub.expires_at)
        ),
        None => tr(lang, "status-none"),
    }
}

pub fn is_live(s: Option<&UserSnapshot>, now: DateTime<Utc>) -> bool {
    s.and_then(|s| s.subscription.as_ref())
        .is_some_and(|sub| sub.is_live(now))
}

pub fn main_menu(
    locale: &Locale,
    lang: Lang,
    name: &str,
    s: Option<&UserSnapshot>,
    now: DateTime<Utc>,
    trial_days: u32,
) -> Screen {
    let text = format!(
        "{}\n\n{}",
        t!(lang, "menu-greeting", name = html_escape(name)),
        status_line(locale, lang, s, now)
    );
    let buy = if s.and_then(|s| s.subscription.as_ref()).is_some() {
        tr(lang, "btn-renew")
    } else {
        tr(lang, "btn-buy")
    };
    let mut rows = vec![row([
        (buy, Callback::Buy),
        (tr(lang, "btn-my-sub"), Callback::MySub),
    ])];
    let trial_open = trial_days > 0 && !s.is_some_and(|s| s.trial_used) && !is_live(s, now);
    if trial_open {
        rows.push(row([(tr(lang, "btn-trial"), Callback::Trial)]));
    }
    rows.push(row([
        (tr(lang, "btn-balance"), Callback::Balance),
        (tr(lang, "btn-referral"), Callback::Referral),
    ]));
    rows.push(row([
        (tr(lang, "btn-help"), Callback::Help),
        (tr(lang, "btn-language"), Callback::Language),
    ]));
    Screen::with(text, rows)
}

/// Whether the balance covers `price` (same currency, enough of it).
pub fn covers(balance: &Money, price: &Money) -> bool {
    balance.currency == price.currency && balance.minor >= price.minor
}

/// The providers of `offered` that can pay `plan` now: priced, and the
/// balance only when it covers the price.
pub fn payable(plan: &Plan, offered: &[Provider], balance: &Money) -> Vec<Provider> {
    offered
        .iter()
        .copied()
        .filter(|p| match plan.price_for(*p) {
            Some(price) => *p != Provider::Balance || covers(balance, &price),
            None => false,
        })
        .collect()
}

/// The prices of a plan in the currencies some method can take now, e.g.
/// "150 ⭐ / $2.99" (no fiat price when only Stars can pay).
pub fn plan_price(lang: Lang, plan: &Plan, offered: &[Provider], balance: &Money) -> String {
    let payable = payable(plan, offered, balance);
    let mut prices: Vec<String> = Vec::new();
    if payable.contains(&Provider::Stars)
        && let Some(p) = plan.price_for(Provider::Stars)
    {
        prices.push(money(lang, &p));
    }
    if payable.iter().any(|p| *p != Provider::Stars)
        && let Some(p) = plan.price_for(Provider::Balance)
    {
        prices.push(money(lang, &p));
    }
    prices.join(" / ")
}

pub fn plans<'a>(
    locale: &Locale,
    lang: Lang,
    plans: impl Iterator<Item = &'a Plan>,
    offered: &[Provider],
    balance: &Money,
) -> Screen {
    let mut rows = Vec::new();
    let mut lines = vec![tr(lang, "plans-title")];
    for plan in plans {
        let price = plan_price(lang, plan, offered, balance);
        if price.is_empty() {
            continue;
        }
        let title = locale.plan_title(lang, plan);
        lines.push(t!(
            lang,
            "plan-line",
            title = html_escape(&title),
            days = plan.days,
            price = price.clone()
        ));
        rows.push(row([(
            t!(lang, "btn-plan", title = title, price = price),
            Callback::Plan {
                plan: plan.id.to_string(),
            },
        )]));
    }
    rows.push(back_to_menu(lang));
    Screen::with(lines.join("\n"), rows)
}

pub fn provider_label(lang: Lang, provider: Provider, balance: &Money) -> String {
    match provider {
        Provider::Stars => tr(lang, "btn-provider-stars"),
        Provider::Cryptobot => tr(lang, "btn-provider-cryptobot"),
        Provider::Nowpayments => tr(lang, "btn-provider-nowpayments"),
        Provider::Balance => t!(lang, "btn-provider-balance", balance = money(lang, balance)),
    }
}

pub fn pay_methods(
    locale: &Locale,
    lang: Lang,
    plan: &Plan,
    offered: &[Provider],
    balance: &Money,
) -> Screen {
    let mut text = t!(
        lang,
        "pay-method-title",
        plan = html_escape(&locale.plan_title(lang, plan)),
        days = plan.days,
        price = plan_price(lang, plan, offered, balance)
    );
    if let Some(description) = locale.plan_description(lang, plan) {
        text = format!("{text}\n\n<i>{}</i>", html_escape(&description));
    }
    let mut rows = pay_rows(lang, plan, offered, balance);
    rows.push(row([
        (tr(lang, "btn-back"), Callback::Buy),
        (tr(lang, "btn-menu"), Callback::Menu),
    ]));
    Screen::with(text, rows)
}

/// A Pay button for each method that can pay `plan` now.
pub fn pay_rows(
    lang: Lang,
    plan: &Plan,
    offered: &[Provider],
    balance: &Money,
) -> Vec<Vec<InlineKeyboardButton>> {
    payable(plan, offered, balance)
        .into_iter()
        .map(|provider| {
            row([(
                provider_label(lang, provider, balance),
                Callback::Pay {
                    plan: plan.id.to_string(),
                    provider,
                    key: Some(getrandom::u32().unwrap_or_default()),
                },
            )])
        })
        .collect()
}

pub fn confirm(lang: Lang, text: String, yes: Callback, no: Callback) -> Screen {
    Screen::with(
        text,
        vec![row([
            (tr(lang, "btn-confirm"), yes),
            (tr(lang, "btn-cancel"), no),
        ])],
    )
}

/// A keyboard with one Renew button (reminders, expiry).
pub fn renew_keyboard(lang: Lang) -> Vec<Vec<InlineKeyboardButton>> {
    vec![
        row([
            (tr(lang, "btn-renew"), Callback::Buy),
            (tr(lang, "btn-my-sub"), Callback::MySub),
        ]),
        back_to_menu(lang),
    ]
}

pub fn languages() -> Vec<Vec<InlineKeyboardButton>> {
    vec![row(Lang::ALL.iter().map(|l| {
        (l.native_name().to_owned(), Callback::SetLanguage(*l))
    }))]
}
