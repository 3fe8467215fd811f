//! Admin commands and buttons (ids in `telegram.admins`; for anyone else
//! these commands do not exist): `/stats`, `/users [search]`, `/user <id>`,
//! `/grant <id> <days>`, `/revoke <id>`, `/broadcast <text>` (preview,
//! confirm, progress, report), `/maintenance on|off`, `/cancel`, and the
//! refund buttons of a user's orders. Dialogue state (a broadcast waiting
//! for confirmation, the last search) is per admin and cleared on cancel or
//! error.

pub mod access;
pub mod bans;
pub mod broadcast;
pub mod devices;
pub mod maintenance;
pub mod promo;
pub mod refunds;
pub mod stats;
pub mod users;
mod way_back;

use std::sync::Arc;

use subvisor_actors::domain::{OrderId, Principal, UserId};
use teloxide::types::User;

use super::BotContext;
use super::callback::Callback;
use super::commands::AdminCommand;
use super::error::{Audience, BotError, report};
use super::i18n::{Lang, tr};
use super::reply::{Reply, Target, send};
use super::screens::Screen;
use super::user::expired;

/// What an admin is in the middle of.
#[derive(Debug, Clone)]
pub enum AdminState {
    /// `/broadcast` previewed; waits for Confirm with this id.
    Broadcast { id: u32, text: String },
    /// The last `/users` search (pages keep it) and the page shown last.
    Search { query: Option<String>, page: u32 },
    /// `/grant` for someone who never started the bot: waits for Confirm.
    Grant { user: i64, days: u32 },
}

/// Whether a button is an admin's (the router checks the sender).
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
            | Callback::AdminDevicesResetAsk { .. }
            | Callback::AdminDevicesReset { .. }
            | Callback::AdminTrafficResetAsk { .. }
            | Callback::AdminTrafficReset { .. }
            | Callback::BroadcastConfirm { .. }
            | Callback::BroadcastCancel { .. }
    )
}

/// The admin who sent an update, in their language.
pub struct Admin {
    pub id: i64,
    pub lang: Lang,
}

impl Admin {
    pub fn principal(&self) -> Principal {
        Principal::Admin(self.id)
    }
}

/// Reads the admin's language; a failure is reported and gives `None`.
async fn admin(ctx: &BotContext, from: &User, target: Target) -> Option<Admin> {
    let id = from.id.0 as i64;
    match ctx.stored_user(from).await {
        Ok(s) => Some(Admin {
            id,
            lang: ctx.lang_of(s.as_ref(), from),
        }),
        Err(error) => {
            report(
                ctx,
                target,
                ctx.telegram_lang(from),
                error,
                Audience::Admin(id),
            )
            .await;
            None
        }
    }
}

/// Shows the reply, or reports the error (and clears the dialogue state).
async fn finish(ctx: &BotContext, target: Target, admin: &Admin, reply: Result<Reply, BotError>) {
    match reply {
        Ok(reply) => send(ctx, target, way_back::ensure(reply, admin.lang)).await,
        Err(error) => report(ctx, target, admin.lang, error, Audience::Admin(admin.id)).await,
    }
}

/// A user id typed as a command argument.
fn parse_user(raw: &str) -> Option<UserId> {
    raw.trim()
        .parse::<i64>()
        .ok()
        .and_then(|id| UserId::new(id).ok())
}

/// A usage hint (`admin-usage-*`).
fn usage(lang: Lang, key: &str) -> Screen {
    Screen::text(tr(lang, key))
}

/// An admin command with its arguments.
pub async fn command(
    ctx: &Arc<BotContext>,
    from: &User,
    target: Target,
    command: AdminCommand,
    args: &str,
) {
    if let Some(admin) = admin(ctx, from, target).await {
        let reply = command_reply(ctx, &admin, command, args).await;
        finish(ctx, target, &admin, reply).await;
    }
}

async fn command_reply(
    ctx: &BotContext,
    admin: &Admin,
    command: AdminCommand,
    args: &str,
) -> Result<Reply, BotError> {
    let lang = admin.lang;
    Ok(match command {
        AdminCommand::Stats => stats::screen(ctx, lang).await?.into(),
        AdminCommand::Users => users::search(ctx, admin, args).await?.into(),
        AdminCommand::User => match parse_user(args) {
            Some(user) => users::view(ctx, admin, user).await?.into(),
            None => usage(lang, "admin-usage-user").into(),
        },
        AdminCommand::Grant => match access::parse_grant(args) {
            Ok((user, days)) => access::grant_asked(ctx, admin, user, days).await?.into(),
            Err(why) => access::bad_grant(lang, why).into(),
        },
        AdminCommand::Revoke => match parse_user(args) {
            Some(user) => access::revoke_ask(lang, user.get()).into(),
            None => usage(lang, "admin-usage-revoke").into(),
        },
        AdminCommand::Ban | AdminCommand::Unban => {
            bans::set(ctx, admin, args, command == AdminCommand::Ban)
                .await?
                .into()
        }
        AdminCommand::Broadcast => broadcast::preview(ctx, admin, args).await?.into(),
        AdminCommand::Maintenance => maintenance::set(ctx, admin, args).await?.into(),
        AdminCommand::Promo => promo::command(ctx, admin, args).await?.into(),
        AdminCommand::Cancel => {
            ctx.admin_state.remove(&admin.id);
            Screen::text(tr(lang, "admin-cancelled")).into()
        }
    })
}

/// An admin button.
pub async fn callback(ctx: &Arc<BotContext>, from: &User, target: Target, action: Callback) {
    if let Some(admin) = admin(ctx, from, target).await {
        let reply = callback_reply(ctx, &admin, target, action).await;
        finish(ctx, target, &admin, reply).await;
    }
}

async fn callback_reply(
    ctx: &Arc<BotContext>,
    admin: &Admin,
    target: Target,
    action: Callback,
) -> Result<Reply, BotError> {
    let lang = admin.lang;
    Ok(match action {
        Callback::AdminUser { user } => match UserId::new(user) {
            Ok(user) => users::view(ctx, admin, user).await?.into(),
            Err(_) => expired(lang).into(),
        },
        Callback::AdminUsers { page } => users::page(ctx, admin, page).await?.into(),
        Callback::AdminGrant { user, days, key } => match UserId::new(user) {
            Ok(user) if access::grantable(days) => {
                access::grant_pressed(ctx, admin, user, days, key)
                    .await?
                    .into()
            }
            _ => expired(lang).into(),
        },
        Callback::AdminRevokeAsk { user } => access::revoke_ask(lang, user).into(),
        Callback::AdminRevoke { user } => match UserId::new(user) {
            Ok(user) => access::revoke(ctx, admin, user).await?.into(),
            Err(_) => Reply::Done,
        },
        Callback::AdminRefundAsk { order } => refunds::ask(ctx, lang, OrderId::from_uuid(order))
            .await?
            .into(),
        Callback::AdminRefund { order } => refunds::refund(ctx, admin, OrderId::from_uuid(order))
            .await?
            .into(),
        Callback::AdminDevicesResetAsk { user } => devices::reset_ask(lang, user).into(),
        Callback::AdminTrafficResetAsk { user } => {
            crate::bot::traffic::admin_reset_ask(lang, user).into()
        }
        Callback::AdminTrafficReset { user } => match UserId::new(user) {
            Ok(user) => crate::bot::traffic::admin_reset(ctx, admin, user)
                .await?
                .into(),
            Err(_) => Reply::Done,
        },
        Callback::AdminDevicesReset { user } => match UserId::new(user) {
            Ok(user) => devices::reset(ctx, admin, user).await?.into(),
            Err(_) => Reply::Done,
        },
        Callback::BroadcastConfirm { id } => broadcast::confirm(ctx, admin, target, id).await?,
        Callback::BroadcastCancel { .. } => broadcast::cancel(ctx, admin).into(),
        // User actions are routed elsewhere.
        _ => Reply::Done,
    })
}
