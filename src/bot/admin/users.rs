//! `/users [search]` (pages of users, the search kept per admin) and
//! `/user <id>`: one user's status, balance, last orders and audit entries,
//! with grant, revoke and refund buttons.

use subvisor_actors::domain::{Money, OrderStatus, UserId};

use super::{Admin, AdminState};
use crate::bot::BotContext;
use crate::bot::callback::Callback;
use crate::bot::error::BotError;
use crate::bot::i18n::{Lang, format_date, html_escape, tr};
use crate::bot::screens::{self, Screen, row};
use crate::t;

/// Users per page.
const PAGE: u32 = 10;

/// `/users [search]`: the first page, remembering the search for the pages.
pub async fn search(ctx: &BotContext, admin: &Admin, args: &str) -> Result<Screen, BotError> {
    let search = Some(args.to_owned()).filter(|a| !a.is_empty());
    ctx.admin_state
        .insert(admin.id, AdminState::Search(search.clone()));
    list(ctx, admin.lang, search.as_deref(), 0).await
}

/// Another page of the admin's last search.
pub async fn page(ctx: &BotContext, admin: &Admin, page: u32) -> Result<Screen, BotError> {
    let search = match ctx.admin_state.get(&admin.id).map(|s| s.clone()) {
        Some(AdminState::Search(s)) => s,
        _ => None,
    };
    list(ctx, admin.lang, search.as_deref(), page).await
}

async fn list(
    ctx: &BotContext,
    lang: Lang,
    search: Option<&str>,
    page: u32,
) -> Result<Screen, BotError> {
    let page_data = ctx
        .registry
        .queries()
        .list_users(search, page.saturating_mul(PAGE), PAGE)
        .await?;
    let pages = (page_data.total + i64::from(PAGE) - 1) / i64::from(PAGE);
    let mut lines = vec![t!(
        lang,
        "admin-users-title",
        page = i64::from(page) + 1,
        pages = pages.max(1),
        total = page_data.total
    )];
    let mut rows = Vec::new();
    for u in &page_data.users {
        let name = u
            .username
            .as_deref()
            .map(|n| format!("@{n}"))
            .unwrap_or_default();
        let status = match (u.status, u.expires_at) {
            (Some(s), Some(e)) => format!("{s} {}", format_date(lang, e)),
            _ => "—".to_owned(),
        };
        lines.push(format!(
            "<code>{}</code> {} · {}",
            u.user,
            html_escape(&name),
            status
        ));
        rows.push(row([(
            format!("{} {}", u.user, name),
            Callback::AdminUser { user: u.user.get() },
        )]));
    }
    let mut nav = Vec::new();
    if page > 0 {
        nav.push((
            tr(lang, "btn-prev"),
            Callback::AdminUsers { page: page - 1 },
        ));
    }
    if i64::from(page) + 1 < pages {
        nav.push((
            tr(lang, "btn-next"),
            Callback::AdminUsers { page: page + 1 },
        ));
    }
    if !nav.is_empty() {
        rows.push(row(nav));
    }
    Ok(Screen::with(lines.join("\n"), rows))
}

/// One user: status, balance, the last orders and audit entries.
pub async fn view(ctx: &BotContext, lang: Lang, user: UserId) -> Result<Screen, BotError> {
    let store = ctx.registry.queries();
    let Some(snapshot) = store.user(user).await? else {
        return Ok(Screen::text(t!(
            lang,
            "admin-user-not-found",
            user = user.get()
        )));
    };
    let now = ctx.registry.clock().now();
    let orders = store.orders_of(user, 5).await?;
    let audit = store.recent_audit(user, 5).await?;
    let order_lines = orders
        .iter()
        .map(|o| {
            format!(
                "{} · {} · {} · {}",
                &o.id.to_string()[..8],
                o.provider,
                screens::money(lang, &o.amount),
                o.status
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    let audit_lines = audit
        .iter()
        .map(|a| {
            format!(
                "{} {} {}",
                format_date(lang, a.created_at),
                html_escape(&a.actor),
                html_escape(&a.action)
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    let username = snapshot
        .username
        .as_deref()
        .map(|n| format!("@{}", html_escape(n)))
        .unwrap_or_default();
    let balance = Money::new(snapshot.balance_minor, ctx.balance_currency.clone());
    let text = t!(
        lang,
        "admin-user",
        user = user.get(),
        username = username,
        status = screens::status_line(lang, Some(&snapshot), now),
        balance = screens::money(lang, &balance),
        created = format_date(lang, snapshot.created_at),
        orders = or_dash(order_lines),
        audit = or_dash(audit_lines)
    );
    let grant = |days: u32| {
        (
            t!(lang, "btn-grant", days = days),
            Callback::AdminGrant {
                user: user.get(),
                days,
            },
        )
    };
    let mut rows = vec![row([grant(30), grant(7)])];
    if screens::is_live(Some(&snapshot), now) {
        rows.push(row([(
            tr(lang, "btn-revoke"),
            Callback::AdminRevokeAsk { user: user.get() },
        )]));
    }
    let devices = store.devices(user).await?;
    if !devices.devices.is_empty() {
        rows.push(row([(
            t!(
                lang,
                "btn-reset-devices",
                count = devices.devices.len() as i64
            ),
            Callback::AdminDevicesResetAsk { user: user.get() },
        )]));
    }
    for o in orders.iter().filter(|o| o.status == OrderStatus::Paid) {
        rows.push(row([(
            t!(lang, "btn-refund", amount = screens::money(lang, &o.amount)),
            Callback::AdminRefundAsk { order: o.id.uuid() },
        )]));
    }
    Ok(Screen::with(text, rows))
}

fn or_dash(lines: String) -> String {
    if lines.is_empty() {
        "—".to_owned()
    } else {
        lines
    }
}
