//! `/promo`: the promo codes (list), `/promo new CODE percent|fixed|days VALUE
//! [uses=N] [per_user=N] [until=YYYY-MM-DD] [first] [plans=a,b]
//! [currency=USD]` and `/promo off CODE`. Made and disabled through the
//! Registry's promo service (audited with the admin's id).

use chrono::{NaiveDate, TimeZone, Utc};
use subvisor_actors::domain::{Currency, NewPromo, PlanId, Promo, PromoKind};

use super::Admin;
use crate::bot::BotContext;
use crate::bot::error::BotError;
use crate::bot::i18n::{Lang, html_escape, tr};
use crate::bot::screens::Screen;
use crate::t;

/// Codes listed at most.
const LISTED: usize = 30;

pub async fn command(ctx: &BotContext, admin: &Admin, args: &str) -> Result<Screen, BotError> {
    let lang = admin.lang;
    let mut words = args.split_whitespace();
    match words.next() {
        None | Some("list") => list(ctx, lang).await,
        Some("new") => {
            let words: Vec<&str> = words.collect();
            let promo = match parse_new(&words, ctx) {
                Ok(p) => p,
                Err(why) => {
                    return Ok(Screen::text(t!(
                        lang,
                        "admin-promo-error",
                        reason = html_escape(&why)
                    )));
                }
            };
            match ctx.registry.create_promo(admin.principal(), &promo).await {
                Ok(created) => Ok(Screen::text(t!(
                    lang,
                    "admin-promo-created",
                    line = line(&ctx.locale, lang, &created)
                ))),
                Err(subvisor_actors::Error::InvalidInput { reason, .. }) => Ok(Screen::text(t!(
                    lang,
                    "admin-promo-error",
                    reason = html_escape(&reason)
                ))),
                Err(e) => Err(e.into()),
            }
        }
        Some("off") => match words.next() {
            Some(code) => {
                let key = if ctx.registry.disable_promo(admin.principal(), code).await? {
                    "admin-promo-disabled"
                } else {
                    "admin-promo-not-found"
                };
                Ok(Screen::text(t!(lang, key, code = html_escape(code))))
            }
            None => Ok(Screen::text(tr(lang, "admin-promo-usage"))),
        },
        Some(_) => Ok(Screen::text(tr(lang, "admin-promo-usage"))),
    }
}

async fn list(ctx: &BotContext, lang: Lang) -> Result<Screen, BotError> {
    let promos = ctx.registry.queries().promos().await?;
    if promos.is_empty() {
        return Ok(Screen::text(tr(lang, "admin-promo-none")));
    }
    let lines: Vec<String> = promos
        .iter()
        .take(LISTED)
        .map(|p| line(&ctx.locale, lang, p))
        .collect();
    Ok(Screen::text(t!(
        lang,
        "admin-promo-list",
        lines = lines.join("\n")
    )))
}

/// One code: text, what it gives, uses, limits.
fn line(locale: &crate::bot::locale::Locale, lang: Lang, p: &Promo) -> String {
    let gives = match p.kind {
        PromoKind::Percent => format!("−{}%", p.value),
        PromoKind::Fixed => format!(
            "−{}",
            crate::bot::i18n::format_money(
                lang,
                p.value,
                p.currency.as_ref().map_or("", |c| c.as_str())
            )
        ),
        PromoKind::Days => t!(lang, "admin-promo-days", days = p.value),
    };
    let max = p.max_uses.map_or_else(|| "∞".to_owned(), |m| m.to_string());
    let mut out = format!(
        "<code>{}</code> · {} · {}/{} (+{})",
        html_escape(&p.code),
        gives,
        p.used,
        max,
        p.reserved
    );
    if let Some(until) = p.valid_until {
        out.push_str(&format!(" · ≤ {}", locale.date(lang, until)));
    }
    if p.first_purchase_only {
        out.push_str(" · 1️⃣");
    }
    if !p.plans.is_empty() {
        let plans: Vec<&str> = p.plans.iter().map(|p| p.as_str()).collect();
        out.push_str(&format!(" · {}", html_escape(&plans.join(","))));
    }
    if p.disabled_at.is_some() {
        out.push_str(" · ⛔");
    }
    out
}

/// `CODE KIND VALUE [options]` → a code to make, or why not (in English:
/// the admin's own syntax).
fn parse_new(words: &[&str], ctx: &BotContext) -> Result<NewPromo, String> {
    let [code, kind, value, options @ ..] = words else {
        return Err("/promo new CODE percent|fixed|days VALUE [uses=N] [per_user=N] [until=YYYY-MM-DD] [first] [plans=a,b] [currency=USD]".into());
    };
    let kind: PromoKind = kind
        .parse()
        .map_err(|_| format!("kind {kind:?}: percent, fixed or days"))?;
    let value: i64 = value
        .parse()
        .map_err(|_| format!("value {value:?} is not a whole number"))?;
    let mut promo = NewPromo {
        code: (*code).to_owned(),
        kind,
        value,
        currency: None,
        max_uses: None,
        per_user: 1,
        valid_until: None,
        first_purchase_only: false,
        plans: Vec::new(),
    };
    for option in options {
        let (name, v) = option.split_once('=').unwrap_or((option, ""));
        match name {
            "uses" => {
                promo.max_uses = Some(v.parse().map_err(|_| format!("uses={v:?}"))?);
            }
            "per_user" => promo.per_user = v.parse().map_err(|_| format!("per_user={v:?}"))?,
            "until" => {
                let day = NaiveDate::parse_from_str(v, "%Y-%m-%d")
                    .map_err(|_| format!("until={v:?}: YYYY-MM-DD"))?;
                let end = day
                    .succ_opt()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .ok_or_else(|| format!("until={v:?}"))?;
                promo.valid_until = Some(Utc.from_utc_datetime(&end));
            }
            "first" => promo.first_purchase_only = true,
            "plans" => {
                for id in v.split(',').filter(|p| !p.is_empty()) {
                    let plan = PlanId::new(id).map_err(|_| format!("plan {id:?}"))?;
                    if ctx.registry.plans().get(&plan).is_none() {
                        return Err(format!("unknown plan {id:?}"));
                    }
                    promo.plans.push(plan);
                }
            }
            "currency" => {
                promo.currency = Some(Currency::new(v.to_owned()).map_err(|e| e.to_string())?);
            }
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    promo.validate().map_err(|e| e.to_string())?;
    Ok(promo)
}
