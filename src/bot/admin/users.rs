//! `/users [search]` (pages of users, the search kept per admin) and
//! `/user <id>`: one user's status, balance, last orders and audit entries,
//! with grant, revoke and refund buttons.

use chrono::{DateTime, Utc};
use subvisor_actors::domain::{
    Currency, Money, OrderKind, OrderStatus, Provider, SubscriptionStatus, UserId,
};

use super::{Admin, AdminState};
use crate::bot::BotContext;
use crate::bot::callback::Callback;
use crate::bot::error::BotError;
use crate::bot::i18n::{Lang, html_escape, tr};
use crate::bot::screens::{self, Screen, row};
use crate::t;

/// Users per page.
const PAGE: u32 = 10;

/// `/users [search]`: the first page, remembering the search for the pages.
pub async fn search(ctx: &BotContext, admin: &Admin, args: &str) -> Result<Screen, BotError> {
    let search = Some(args.to_owned()).filter(|a| !a.is_empty());
    ctx.admin_state.insert(
        admin.id,
        AdminState::Search {
            query: search.clone(),
            page: 0,
        },
    );
    list(ctx, admin.lang, search.as_deref(), 0).await
}

/// Another page of the admin's last search.
pub async fn page(ctx: &BotContext, admin: &Admin, page: u32) -> Result<Screen, BotError> {
    let search = match ctx.admin_state.get(&admin.id).map(|s| s.clone()) {
        Some(AdminState::Search { query, .. }) => query,
        _ => None,
    };
    ctx.admin_state.insert(
        admin.id,
        AdminState::Search {
            query: search.clone(),
            page,
        },
    );
    list(ctx, admin.lang, search.as_deref(), page).await
}

/// The page of the admin's last search they were on (for Back to the list).
fn last_page(ctx: &BotContext, admin: i64) -> u32 {
    match ctx.admin_state.get(&admin).map(|s| s.clone()) {
        Some(AdminState::Search { page, .. }) => page,
        _ => 0,
    }
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
        let name = person(u.display_name.as_deref(), u.username.as_deref());
        let status = match (u.status, u.expires_at) {
            (Some(s), Some(e)) => sub_status(ctx, lang, s, e),
            _ => "—".to_owned(),
        };
        lines.push(format!(
            "<code>{}</code> {} · {}",
            u.user,
            html_escape(&name),
            status
        ));
        let label = if name.is_empty() {
            u.user.to_string()
        } else {
            name
        };
        rows.push(row([(label, Callback::AdminUser { user: u.user.get() })]));
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
pub async fn view(ctx: &BotContext, admin: &Admin, user: UserId) -> Result<Screen, BotError> {
    let lang = admin.lang;
    let back = row([(
        tr(lang, "btn-back-to-users"),
        Callback::AdminUsers {
            page: last_page(ctx, admin.id),
        },
    )]);
    let store = ctx.registry.queries();
    let Some(snapshot) = store.user(user).await? else {
        return Ok(Screen::with(
            t!(lang, "admin-user-not-found", user = user.get()),
            vec![back],
        ));
    };
    let now = ctx.registry.clock().now();
    let orders = store.orders_of(user, 5).await?;
    let audit = store.recent_audit(user, 5).await?;
    let order_lines = orders
        .iter()
        .map(|o| {
            let what = match o.kind {
                OrderKind::Topup => tr(lang, "admin-order-topup"),
                OrderKind::Plan | OrderKind::Gift => ctx
                    .registry
                    .plans()
                    .get(&o.plan)
                    .map_or_else(|| o.plan.to_string(), |p| ctx.locale.plan_title(lang, p)),
                OrderKind::Pack => ctx
                    .registry
                    .traffic_packs()
                    .get(&o.plan)
                    .map_or_else(|| o.plan.to_string(), |p| p.title.clone()),
            };
            format!(
                "{} · {} · {} · {} · {}",
                ctx.date(lang, o.created_at),
                html_escape(&what),
                provider_name(lang, o.provider),
                screens::money(lang, &o.amount),
                tr(lang, &format!("admin-order-{}", o.status.as_str()))
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    let audit_lines = audit
        .iter()
        .map(|a| {
            format!(
                "{} · {}: {}",
                ctx.date(lang, a.created_at),
                actor_name(lang, &a.actor),
                action_name(lang, &a.action)
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    let username = html_escape(&person(
        snapshot.display_name.as_deref(),
        snapshot.username.as_deref(),
    ));
    let balance = Money::new(snapshot.balance_minor, ctx.balance_currency.clone());
    let text = t!(
        lang,
        "admin-user",
        user = user.get(),
        username = username,
        status = screens::status_line(&ctx.locale, lang, Some(&snapshot), now),
        balance = screens::money(lang, &balance),
        created = ctx.date(lang, snapshot.created_at),
        orders = or_dash(order_lines),
        audit = or_dash(audit_lines)
    );
    let traffic = store.traffic(user).await?.filter(|t| t.is_limited_plan());
    let text = match &traffic {
        Some(t) => crate::bot::traffic::admin_line(&ctx.locale, lang, t, text),
        None => text,
    };
    let grant = |days: u32| {
        (
            t!(lang, "btn-grant", days = days),
            Callback::AdminGrant {
                user: user.get(),
                days,
                key: Some(getrandom::u32().unwrap_or_default()),
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
    if traffic.is_some() {
        rows.push(row([(
            tr(lang, "btn-admin-traffic-reset"),
            Callback::AdminTrafficResetAsk { user: user.get() },
        )]));
    }
    for o in orders.iter().filter(|o| o.status == OrderStatus::Paid) {
        rows.push(row([(
            t!(lang, "btn-refund", amount = screens::money(lang, &o.amount)),
            Callback::AdminRefundAsk { order: o.id.uuid() },
        )]));
    }
    rows.push(back);
    Ok(Screen::with(text, rows))
}

/// A subscription's status in the list, in the admin's language.
fn sub_status(
    ctx: &BotContext,
    lang: Lang,
    status: SubscriptionStatus,
    expires: DateTime<Utc>,
) -> String {
    let expires = ctx.date(lang, expires);
    match status {
        SubscriptionStatus::Active => t!(lang, "admin-sub-active", expires = expires),
        SubscriptionStatus::Expired => t!(lang, "admin-sub-expired", expires = expires),
        SubscriptionStatus::Revoked => tr(lang, "admin-sub-revoked"),
    }
}

/// A payment provider's name (without the balance amount of the user's button).
pub(crate) fn provider_name(lang: Lang, provider: Provider) -> String {
    match provider {
        Provider::Balance => tr(lang, "admin-provider-balance"),
        p => screens::provider_label(lang, p, &Money::new(0, Currency::stars())),
    }
}

/// Who did something in the audit log (`user:…`, `admin:ID`, `ops`, `system`).
fn actor_name(lang: Lang, actor: &str) -> String {
    match actor.split_once(':') {
        Some(("user", _)) => tr(lang, "admin-by-user"),
        Some(("admin", id)) => t!(lang, "admin-by-admin", id = html_escape(id)),
        _ if actor == "ops" => tr(lang, "admin-by-ops"),
        _ if actor == "system" => tr(lang, "admin-by-system"),
        _ => html_escape(actor),
    }
}

/// Audit actions the bot names in words; any other is shown in plain words.
const ACTIONS: &[&str] = &[
    "first_contact",
    "create_order",
    "close_order",
    "apply_payment",
    "payment_credited",
    "payment_return_queued",
    "payment_returned",
    "stray_payment_flagged",
    "flag_order",
    "refund_order",
    "adjust_balance",
    "grant_days",
    "revoke",
    "expire",
    "start_trial",
    "reissue",
    "rotate_sub_token",
    "referral_bonus",
    "referral_reversed",
    "device_added",
    "device_removed",
    "devices_reset",
    "gift_created",
    "gift_redeemed",
    "gift_voided",
    "promo_used",
    "reset_traffic",
    "set_auto_renew",
    "traffic_limited",
    "traffic_unlimited",
];

fn action_name(lang: Lang, action: &str) -> String {
    if ACTIONS.contains(&action) {
        tr(lang, &format!("admin-action-{}", action.replace('_', "-")))
    } else {
        html_escape(&action.replace('_', " "))
    }
}

/// "Name @username", either alone, or empty.
fn person(name: Option<&str>, username: Option<&str>) -> String {
    let name = name.map(str::trim).filter(|n| !n.is_empty());
    let username = username.map(|u| format!("@{u}"));
    match (name, username) {
        (Some(n), Some(u)) => format!("{n} {u}"),
        (Some(n), None) => n.to_owned(),
        (None, Some(u)) => u,
        (None, None) => String::new(),
    }
}

fn or_dash(lines: String) -> String {
    if lines.is_empty() {
        "—".to_owned()
    } else {
        lines
    }
}
