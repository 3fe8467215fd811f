//! "My subscription → Devices": the devices (`x-hwid`) registered under the
//! subscription's device limit (model, OS, last seen), each with a remove
//! button and a confirmation. Removing one frees its slot for a new device.

use subvisor_actors::domain::{Device, Principal, UserId};
use subvisor_actors::messages::RemoveDevice;

use crate::bot::BotContext;
use crate::bot::callback::Callback;
use crate::bot::error::BotError;
use crate::bot::i18n::{Lang, html_escape, tr};
use crate::bot::screens::{self, Screen, row};
use crate::t;

/// A device as people recognise it: model, else OS, else app, else "device N".
fn name(lang: Lang, d: &Device) -> String {
    d.model
        .as_deref()
        .or(d.os.as_deref())
        .or(d.app.as_deref())
        .map(str::to_owned)
        .unwrap_or_else(|| t!(lang, "device-unnamed", id = d.id))
}

/// The list: "n/limit" (or "n" without a limit) and one line per device.
pub async fn list(ctx: &BotContext, lang: Lang, user: UserId) -> Result<Screen, BotError> {
    let devices = ctx.registry.queries().devices(user).await?;
    let count = devices.devices.len();
    let mut text = match devices.limit(ctx.default_devices) {
        Some(limit) => t!(lang, "devices-title-limit", count = count, limit = limit),
        None => t!(lang, "devices-title", count = count),
    };
    if devices.devices.is_empty() {
        text.push('\n');
        text.push_str(&tr(lang, "devices-none"));
    }
    let mut rows = Vec::new();
    for d in &devices.devices {
        let os = d.os.as_deref().filter(|_| d.model.is_some());
        text.push('\n');
        text.push_str(&t!(
            lang,
            "device-line",
            name = html_escape(&name(lang, d)),
            os = html_escape(os.unwrap_or("—")),
            seen = ctx.date(lang, d.last_seen)
        ));
        rows.push(row([(
            t!(lang, "btn-device-remove", name = name(lang, d)),
            Callback::DeviceRemoveAsk { device: d.id },
        )]));
    }
    rows.push(row([(tr(lang, "btn-my-sub"), Callback::MySub)]));
    Ok(Screen::with(text, rows))
}

pub async fn remove_ask(
    ctx: &BotContext,
    lang: Lang,
    user: UserId,
    device: i64,
) -> Result<Screen, BotError> {
    let devices = ctx.registry.queries().devices(user).await?;
    let Some(d) = devices.devices.iter().find(|d| d.id == device) else {
        return list(ctx, lang, user).await;
    };
    Ok(screens::confirm(
        lang,
        t!(
            lang,
            "device-remove-confirm",
            name = html_escape(&name(lang, d))
        ),
        Callback::DeviceRemove { device },
        Callback::Devices,
    ))
}

/// Removes the device (through the user's actor: only one of this user's own
/// devices can go) and shows the list again.
pub async fn remove(
    ctx: &BotContext,
    lang: Lang,
    user: UserId,
    device: i64,
) -> Result<Screen, BotError> {
    let by = Principal::User(user);
    let removed = ctx
        .registry
        .send(user, RemoveDevice { id: device, by })
        .await?;
    let mut screen = list(ctx, lang, user).await?;
    if removed {
        screen.text = format!("{}\n\n{}", tr(lang, "device-removed"), screen.text);
    }
    Ok(screen)
}
