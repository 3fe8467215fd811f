//! `/broadcast <text>`: a preview with the number of recipients, Confirm or
//! Cancel, then a progress message edited while the Notifier sends it, and
//! a final report.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use teloxide::payloads::{EditMessageTextSetters, SendMessageSetters};
use teloxide::requests::{Request, Requester};
use teloxide::types::ParseMode;

use subvisor_actors::domain::UserId;
use subvisor_actors::store::BroadcastReport;

use super::{Admin, AdminState};
use crate::bot::BotContext;
use crate::bot::callback::Callback;
use crate::bot::error::BotError;
use crate::bot::i18n::{Lang, html_escape, tr};
use crate::bot::reply::{Reply, Target};
use crate::bot::screens::{self, Screen};
use crate::bot::user::expired;
use crate::t;

/// Ids of previews, so an old preview's Confirm cannot send a newer text.
static NEXT_BROADCAST: AtomicU32 = AtomicU32::new(1);

/// The preview; the text waits in the admin's dialogue state.
pub async fn preview(ctx: &BotContext, admin: &Admin, text: &str) -> Result<Screen, BotError> {
    let lang = admin.lang;
    if text.is_empty() {
        return Ok(Screen::text(tr(lang, "admin-broadcast-usage")));
    }
    let id = NEXT_BROADCAST.fetch_add(1, Ordering::Relaxed);
    let now = ctx.registry.clock().now();
    let stats = ctx.registry.queries().stats(now, now).await?;
    let mut admins = 0;
    for admin in admins_of(ctx) {
        if let Some(s) = ctx.registry.queries().user(admin).await?
            && !s.bot_blocked
        {
            admins += 1;
        }
    }
    let count = stats.users - stats.blocked - admins;
    ctx.admin_state.insert(
        admin.id,
        AdminState::Broadcast {
            id,
            text: text.to_owned(),
        },
    );
    Ok(screens::confirm(
        lang,
        t!(
            lang,
            "admin-broadcast-preview",
            count = count,
            text = html_escape(text)
        ),
        Callback::BroadcastConfirm { id },
        Callback::BroadcastCancel { id },
    ))
}

/// Confirm: queues the broadcast and follows it with a progress message.
pub async fn confirm(
    ctx: &Arc<BotContext>,
    admin: &Admin,
    target: Target,
    id: u32,
) -> Result<Reply, BotError> {
    let pending = match ctx.admin_state.get(&admin.id).map(|s| s.clone()) {
        Some(AdminState::Broadcast { id: pending, text }) if pending == id => Some(text),
        _ => None,
    };
    let Some(text) = pending else {
        return Ok(expired(admin.lang).into());
    };
    ctx.admin_state.remove(&admin.id);
    let report = ctx
        .registry
        .broadcast(admin.principal(), &text, &admins_of(ctx))
        .await?;
    ctx.notifier.notify_one();
    tokio::spawn(progress(ctx.clone(), admin.lang, target, report));
    Ok(Reply::Done)
}

/// The admins (not recipients of their own broadcasts).
fn admins_of(ctx: &BotContext) -> Vec<UserId> {
    let mut admins: Vec<UserId> = ctx
        .admins
        .iter()
        .filter_map(|a| UserId::new(*a).ok())
        .collect();
    admins.sort_by_key(|a| a.get());
    admins
}

pub fn cancel(ctx: &BotContext, admin: &Admin) -> Screen {
    ctx.admin_state.remove(&admin.id);
    Screen::text(tr(admin.lang, "admin-broadcast-cancelled"))
}

/// Edits a progress message while the Notifier sends a broadcast, then reports.
async fn progress(ctx: Arc<BotContext>, lang: Lang, target: Target, queued: BroadcastReport) {
    let store = ctx.registry.queries();
    let id = queued.id;
    // Nobody to send to: the report at once, no "0/0".
    let message = if queued.done() {
        None
    } else {
        let first = ctx
            .bot
            .send_message(
                target.chat,
                t!(
                    lang,
                    "admin-broadcast-progress",
                    done = 0,
                    total = queued.total,
                    delivered = 0,
                    blocked = 0,
                    failed = 0
                ),
            )
            .parse_mode(ParseMode::Html)
            .send()
            .await;
        first.ok().map(|m| m.id)
    };
    let mut last = String::new();
    let mut wait = !queued.done();
    loop {
        if wait {
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        wait = true;
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
