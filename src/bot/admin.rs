//! Admin commands (ids in `telegram.admins`; for anyone else these commands do
//! not exist): `/stats`, `/users [search]`, `/user <id>`, `/grant <id> <days>`,
//! `/revoke <id>`, `/broadcast <text>` (preview, confirm, progress, report),
//! `/maintenance on|off`, `/cancel`. Dialogue state (a broadcast waiting for
//! confirmation, the last search) is per admin and cleared on cancel or error.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use subvisor_actors::domain::{OrderId, OrderStatus, Principal, UserId};
use subvisor_actors::messages::{GrantDays, Revoke};
use subvisor_actors::store::WriteCtx;
use teloxide::payloads::{EditMessageTextSetters, SendMessageSetters};
use teloxide::requests::{Request, Requester};
use teloxide::types::{ParseMode, User};

use super::BotContext;
use super::callback::Callback;
use super::handlers::{Target, lang_of, show};
use super::i18n::{Lang, format_date, html_escape, tr};
use super::screens::{self, Screen, row};
use crate::t;

const PAGE: u32 = 10;
const MAX_GRANT_DAYS: u32 = 3660;

/// What an admin is in the middle of.
#[derive(Debug, Clone)]
pub enum AdminState {
    /// `/broadcast` previewed; waits for Confirm with this id.
    Broadcast { id: u32, text: String },
    /// The last `/users` search (pages keep it).
    Search(Option<String>),
}

static NEXT_BROADCAST: AtomicU32 = AtomicU32::new(1);

pub fn handles(command: &str) -> bool {
    matches!(
        command,
        "/stats"
            | "/users"
            | "/user"
            | "/grant"
            | "/revoke"
            | "/broadcast"
            | "/maintenance"
            | "/cancel"
    )
}

pub fn is_admin_action(action: &Callback) -> bool {
    matches!(
        action,
        Callback::AdminUser { .. }
            | Callback::AdminUsers { .. }
            | Callback::AdminGrant { .. }
            | Callback::AdminRevokeAsk { .. }
            | Callback::AdminRevoke { .. }
            | Callback::AdminRefundAsk { .. }
            | Callback::AdminRefund { .. }
            | Callback::BroadcastConfirm { .. }
            | Callback::BroadcastCancel { .. }
    )
}

async fn admin_lang(ctx: &BotContext, from: &User) -> Lang {
    let s = match UserId::new(from.id.0 as i64) {
        Ok(id) => ctx.registry.store().user(id).await.ok().flatten(),
        Err(_) => None,
    };
    lang_of(s.as_ref(), from)
}

fn parse_user(raw: &str) -> Option<UserId> {
    raw.trim()
        .parse::<i64>()
        .ok()
        .and_then(|id| UserId::new(id).ok())
}

pub async fn command(
    ctx: &Arc<BotContext>,
    from: &User,
    target: Target,
    command: &str,
    args: &str,
) {
    let lang = admin_lang(ctx, from).await;
    let admin = from.id.0 as i64;
    let by = Principal::Admin(admin);
    match command {
        "/stats" => show(ctx, target, stats(ctx, lang).await).await,
        "/users" => {
            let search = Some(args.to_owned()).filter(|a| !a.is_empty());
            ctx.admin_state
                .insert(admin, AdminState::Search(search.clone()));
            show(ctx, target, users(ctx, lang, search.as_deref(), 0).await).await;
        }
        "/user" => match parse_user(args) {
            Some(user) => show(ctx, target, user_view(ctx, lang, user).await).await,
            None => show(ctx, target, Screen::text(tr(lang, "admin-usage-user"))).await,
        },
        "/grant" => {
            let mut parts = args.split_whitespace();
            let user = parts.next().and_then(parse_user);
            let days = parts
                .next()
                .and_then(|d| d.parse::<u32>().ok())
                .filter(|d| (1..=MAX_GRANT_DAYS).contains(d));
            match (user, days, parts.next()) {
                (Some(user), Some(days), None) => grant(ctx, lang, target, user, days, by).await,
                _ => show(ctx, target, Screen::text(tr(lang, "admin-usage-grant"))).await,
            }
        }
        "/revoke" => match parse_user(args) {
            Some(user) => {
                let screen = screens::confirm(
                    lang,
                    t!(lang, "admin-revoke-confirm", user = user.get()),
                    Callback::AdminRevoke { user: user.get() },
                    Callback::AdminUser { user: user.get() },
                );
                show(ctx, target, screen).await;
            }
            None => show(ctx, target, Screen::text(tr(lang, "admin-usage-revoke"))).await,
        },
        "/broadcast" => {
            if args.is_empty() {
                show(ctx, target, Screen::text(tr(lang, "admin-broadcast-usage"))).await;
                return;
            }
            let id = NEXT_BROADCAST.fetch_add(1, Ordering::Relaxed);
            let count = ctx
                .registry
                .store()
                .stats(ctx.registry.clock().now(), ctx.registry.clock().now())
                .await
                .map(|s| s.users - s.blocked)
                .unwrap_or(0);
            ctx.admin_state.insert(
                admin,
                AdminState::Broadcast {
                    id,
                    text: args.to_owned(),
                },
            );
            let screen = screens::confirm(
                lang,
                t!(
                    lang,
                    "admin-broadcast-preview",
                    count = count,
                    text = html_escape(args)
                ),
                Callback::BroadcastConfirm { id },
                Callback::BroadcastCancel { id },
            );
            show(ctx, target, screen).await;
        }
        "/maintenance" => {
            let value = match args.to_ascii_lowercase().as_str() {
                "on" => "true",
                "off" => "false",
                _ => {
                    show(
                        ctx,
                        target,
                        Screen::text(tr(lang, "admin-maintenance-usage")),
                    )
                    .await;
                    return;
                }
            };
            let now = ctx.registry.clock().now();
            let write = WriteCtx {
                now,
                by,
                nodes: &[],
            };
            match ctx
                .registry
                .store()
                .set_setting(&write, super::PURCHASES_PAUSED, value)
                .await
            {
                Ok(()) => {
                    let key = if value == "true" {
                        "admin-maintenance-on"
                    } else {
                        "admin-maintenance-off"
                    };
                    show(ctx, target, Screen::text(tr(lang, key))).await;
                }
                Err(e) => error(ctx, lang, target, admin, &e.to_string()).await,
            }
        }
        "/cancel" => {
            ctx.admin_state.remove(&admin);
            show(ctx, target, Screen::text(tr(lang, "admin-cancelled"))).await;
        }
        _ => {}
    }
}

pub async fn callback(ctx: &Arc<BotContext>, from: &User, target: Target, action: Callback) {
    let lang = admin_lang(ctx, from).await;
    let admin = from.id.0 as i64;
    let by = Principal::Admin(admin);
    match action {
        Callback::AdminUser { user } => match UserId::new(user) {
            Ok(user) => show(ctx, target, user_view(ctx, lang, user).await).await,
            Err(_) => show(ctx, target, Screen::text(tr(lang, "button-expired"))).await,
        },
        Callback::AdminUsers { page } => {
            let search = match ctx.admin_state.get(&admin).map(|s| s.clone()) {
                Some(AdminState::Search(s)) => s,
                _ => None,
            };
            show(ctx, target, users(ctx, lang, search.as_deref(), page).await).await;
        }
        Callback::AdminGrant { user, days } => match UserId::new(user) {
            Ok(user) if (1..=MAX_GRANT_DAYS).contains(&days) => {
                grant(ctx, lang, target, user, days, by).await
            }
            _ => show(ctx, target, Screen::text(tr(lang, "button-expired"))).await,
        },
        Callback::AdminRevokeAsk { user } => {
            let screen = screens::confirm(
                lang,
                t!(lang, "admin-revoke-confirm", user = user),
                Callback::AdminRevoke { user },
                Callback::AdminUser { user },
            );
            show(ctx, target, screen).await;
        }
        Callback::AdminRevoke { user } => {
            let Ok(user) = UserId::new(user) else { return };
            match ctx.registry.send(user, Revoke { by }).await {
                Ok(_) => {
                    ctx.notifier.notify_one();
                    let text = t!(lang, "admin-revoked", user = user.get());
                    show(
                        ctx,
                        target,
                        Screen::with(
                            text,
                            vec![row([(
                                t!(lang, "btn-open-user", user = user.get()),
                                Callback::AdminUser { user: user.get() },
                            )])],
                        ),
                    )
                    .await;
                }
                Err(e) => error(ctx, lang, target, admin, &e.to_string()).await,
            }
        }
        Callback::AdminRefundAsk { order } => {
            let order = OrderId::from_uuid(order);
            match ctx.registry.store().order(order).await {
                Ok(Some(o)) => {
                    let screen = screens::confirm(
                        lang,
                        t!(
                            lang,
                            "admin-refund-confirm",
                            order = order.to_string(),
                            amount = screens::money(lang, &o.amount)
                        ),
                        Callback::AdminRefund {
                            order: order.uuid(),
                        },
                        Callback::AdminUser { user: o.user.get() },
                    );
                    show(ctx, target, screen).await;
                }
                _ => show(ctx, target, Screen::text(tr(lang, "button-expired"))).await,
            }
        }
        Callback::AdminRefund { order } => {
            let order = OrderId::from_uuid(order);
            let found = ctx.registry.store().order(order).await;
            let Ok(Some(o)) = found else {
                show(ctx, target, Screen::text(tr(lang, "button-expired"))).await;
                return;
            };
            match ctx.intake.refund_order(&o, by).await {
                Ok(_) => {
                    ctx.notifier.notify_one();
                    let text = t!(lang, "admin-refunded", order = order.to_string());
                    show(
                        ctx,
                        target,
                        Screen::with(
                            text,
                            vec![row([(
                                t!(lang, "btn-open-user", user = o.user.get()),
                                Callback::AdminUser { user: o.user.get() },
                            )])],
                        ),
                    )
                    .await;
                }
                Err(e) => {
                    ctx.admin_state.remove(&admin);
                    show(
                        ctx,
                        target,
                        Screen::text(t!(
                            lang,
                            "admin-refund-failed",
                            reason = html_escape(&e.to_string())
                        )),
                    )
                    .await;
                }
            }
        }
        Callback::BroadcastConfirm { id } => {
            let pending = match ctx.admin_state.get(&admin).map(|s| s.clone()) {
                Some(AdminState::Broadcast { id: pending, text }) if pending == id => Some(text),
                _ => None,
            };
            let Some(text) = pending else {
                show(ctx, target, Screen::text(tr(lang, "button-expired"))).await;
                return;
            };
            ctx.admin_state.remove(&admin);
            let now = ctx.registry.clock().now();
            let write = WriteCtx {
                now,
                by,
                nodes: &[],
            };
            match ctx.registry.store().create_broadcast(&write, &text).await {
                Ok(report) => {
                    ctx.notifier.notify_one();
                    tokio::spawn(progress(ctx.clone(), lang, target, report.id));
                }
                Err(e) => error(ctx, lang, target, admin, &e.to_string()).await,
            }
        }
        Callback::BroadcastCancel { .. } => {
            ctx.admin_state.remove(&admin);
            show(
                ctx,
                target,
                Screen::text(tr(lang, "admin-broadcast-cancelled")),
            )
            .await;
        }
        _ => {}
    }
}

async fn grant(
    ctx: &BotContext,
    lang: Lang,
    target: Target,
    user: UserId,
    days: u32,
    by: Principal,
) {
    match ctx.registry.send(user, GrantDays { days, by }).await {
        Ok(change) => {
            ctx.notifier.notify_one();
            let expires = change
                .snapshot
                .subscription
                .as_ref()
                .map(|s| format_date(lang, s.expires_at))
                .unwrap_or_default();
            let text = t!(
                lang,
                "admin-granted",
                user = user.get(),
                days = days,
                expires = expires
            );
            show(
                ctx,
                target,
                Screen::with(
                    text,
                    vec![row([(
                        t!(lang, "btn-open-user", user = user.get()),
                        Callback::AdminUser { user: user.get() },
                    )])],
                ),
            )
            .await;
        }
        Err(e) => error(ctx, lang, target, by_admin(by), &e.to_string()).await,
    }
}

fn by_admin(by: Principal) -> i64 {
    match by {
        Principal::Admin(a) => a,
        _ => 0,
    }
}

/// Reports an error and clears the admin's dialogue state.
async fn error(ctx: &BotContext, lang: Lang, target: Target, admin: i64, reason: &str) {
    ctx.admin_state.remove(&admin);
    tracing::warn!(admin, %reason, "admin action failed");
    show(
        ctx,
        Target {
            edit: None,
            ..target
        },
        Screen::text(format!(
            "{}\n<code>{}</code>",
            tr(lang, "error-generic"),
            html_escape(reason)
        )),
    )
    .await;
}

async fn stats(ctx: &BotContext, lang: Lang) -> Screen {
    let now = ctx.registry.clock().now();
    let since = now - chrono::Duration::days(7);
    let stats = match ctx.registry.store().stats(now, since).await {
        Ok(s) => s,
        Err(e) => {
            return Screen::text(format!(
                "{}\n<code>{}</code>",
                tr(lang, "error-generic"),
                html_escape(&e.to_string())
            ));
        }
    };
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
                    r.provider,
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
            let up = if n.state == "up" { "🟢" } else { "🔴" };
            format!("{up} {} ({})", html_escape(&n.name), html_escape(&n.state))
        })
        .collect::<Vec<_>>()
        .join("\n");
    Screen::text(t!(
        lang,
        "admin-stats",
        users = stats.users,
        active = stats.active,
        blocked = stats.blocked,
        revenue = revenue,
        nodes = nodes
    ))
}

async fn users(ctx: &BotContext, lang: Lang, search: Option<&str>, page: u32) -> Screen {
    let page_data = match ctx
        .registry
        .store()
        .list_users(search, page.saturating_mul(PAGE), PAGE)
        .await
    {
        Ok(p) => p,
        Err(e) => {
            return Screen::text(format!(
                "{}\n<code>{}</code>",
                tr(lang, "error-generic"),
                html_escape(&e.to_string())
            ));
        }
    };
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
    Screen::with(lines.join("\n"), rows)
}

async fn user_view(ctx: &BotContext, lang: Lang, user: UserId) -> Screen {
    let store = ctx.registry.store();
    let snapshot = match store.user(user).await {
        Ok(Some(s)) => s,
        Ok(None) => return Screen::text(t!(lang, "admin-user-not-found", user = user.get())),
        Err(e) => {
            return Screen::text(format!(
                "{}\n<code>{}</code>",
                tr(lang, "error-generic"),
                html_escape(&e.to_string())
            ));
        }
    };
    let now = ctx.registry.clock().now();
    let orders = store.orders_of(user, 5).await.unwrap_or_default();
    let audit = store.recent_audit(user, 5).await.unwrap_or_default();
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
    let text = t!(
        lang,
        "admin-user",
        user = user.get(),
        username = username,
        status = screens::status_line(lang, Some(&snapshot), now),
        balance = screens::money(
            lang,
            &subvisor_actors::domain::Money::new(
                snapshot.balance_minor,
                ctx.balance_currency.clone()
            )
        ),
        created = format_date(lang, snapshot.created_at),
        orders = if order_lines.is_empty() {
            "—".to_owned()
        } else {
            order_lines
        },
        audit = if audit_lines.is_empty() {
            "—".to_owned()
        } else {
            audit_lines
        }
    );
    let mut rows = vec![row([
        (
            t!(lang, "btn-grant", days = 30),
            Callback::AdminGrant {
                user: user.get(),
                days: 30,
            },
        ),
        (
            t!(lang, "btn-grant", days = 7),
            Callback::AdminGrant {
                user: user.get(),
                days: 7,
            },
        ),
    ])];
    if screens::is_live(Some(&snapshot), now) {
        rows.push(row([(
            tr(lang, "btn-revoke"),
            Callback::AdminRevokeAsk { user: user.get() },
        )]));
    }
    for o in orders.iter().filter(|o| o.status == OrderStatus::Paid) {
        rows.push(row([(
            t!(lang, "btn-refund", amount = screens::money(lang, &o.amount)),
            Callback::AdminRefundAsk { order: o.id.uuid() },
        )]));
    }
    Screen::with(text, rows)
}

/// Edits a progress message while the Notifier sends a broadcast, then reports.
async fn progress(ctx: Arc<BotContext>, lang: Lang, target: Target, id: i64) {
    let store = ctx.registry.store().clone();
    let first = ctx
        .bot
        .send_message(
            target.chat,
            t!(
                lang,
                "admin-broadcast-progress",
                done = 0,
                total = 0,
                delivered = 0,
                blocked = 0,
                failed = 0
            ),
        )
        .parse_mode(ParseMode::Html)
        .send()
        .await;
    let message = first.ok().map(|m| m.id);
    let mut last = String::new();
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let report = match store.broadcast_report(id).await {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "broadcast progress unavailable");
                continue;
            }
        };
        if report.done() {
            let text = t!(
                lang,
                "admin-broadcast-report",
                total = report.total,
                delivered = report.delivered,
                blocked = report.blocked,
                failed = report.failed
            );
            let _ = ctx
                .bot
                .send_message(target.chat, text)
                .parse_mode(ParseMode::Html)
                .send()
                .await;
            return;
        }
        let text = t!(
            lang,
            "admin-broadcast-progress",
            done = report.total - report.pending,
            total = report.total,
            delivered = report.delivered,
            blocked = report.blocked,
            failed = report.failed
        );
        if let Some(message) = message
            && text != last
        {
            let _ = ctx
                .bot
                .edit_message_text(target.chat, message, text.clone())
                .parse_mode(ParseMode::Html)
                .send()
                .await;
            last = text;
        }
    }
}
