//! `/stats`: users (active, blocked), revenue of the last 7 days per day and
//! provider, and the state of each VPN node.

use crate::bot::BotContext;
use crate::bot::error::BotError;
use crate::bot::i18n::{Lang, html_escape, tr};
use crate::bot::screens::{self, Screen};
use crate::t;

pub async fn screen(ctx: &BotContext, lang: Lang) -> Result<Screen, BotError> {
    let now = ctx.registry.clock().now();
    let since = now - chrono::Duration::days(7);
    let stats = ctx.registry.queries().stats(now, since).await?;
    let revenue = if stats.revenue.is_empty() {
        "—".to_owned()
    } else {
        stats
            .revenue
            .iter()
            .map(|r| {
                format!(
                    "{} · {} · {}",
                    r.day,
                    super::users::provider_name(lang, r.provider),
                    screens::money(lang, &r.amount)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let nodes = ctx
        .registry
        .provisioner()
        .statuses()
        .into_iter()
        .map(|n| {
            // The state in the admin's language ("up", "down"; anything else as is).
            let (up, state) = match n.state.as_str() {
                "up" => ("🟢", tr(lang, "admin-node-up")),
                "down" => ("🔴", tr(lang, "admin-node-down")),
                "unknown" => ("⚪", tr(lang, "admin-node-unknown")),
                other => ("🔴", format!("<code>{}</code>", html_escape(other))),
            };
            format!("{up} <code>{}</code> ({state})", html_escape(&n.name))
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut text = t!(
        lang,
        "admin-stats",
        users = stats.users,
        active = stats.active,
        blocked = stats.blocked,
        revenue = revenue,
        nodes = nodes
    );
    // Traffic: subscriptions paused for traffic, bytes counted today / this month.
    let traffic = ctx.registry.queries().traffic_totals(now).await?;
    text.push_str("\n\n");
    text.push_str(&t!(
        lang,
        "admin-stats-traffic",
        limited = traffic.limited,
        today = crate::bot::traffic::format_size(lang, traffic.today_bytes),
        month = crate::bot::traffic::format_size(lang, traffic.month_bytes)
    ));
    Ok(Screen::text(text))
}
