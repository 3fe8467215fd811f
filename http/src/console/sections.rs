//! What the console shows: every section read from the same sources as the
//! JSON ops API (the Registry's counters, the provisioner's node statuses,
//! the store's read-only queries, the elections, the workers, the bot),
//! formatted for people.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use subvisor_actors::domain::OrderStatus;
use subvisor_actors::store::UserSnapshot;

use crate::error::ApiError;
use crate::ops::OpsState;

/// A value's serde name (`"half_open"`, `"paid"`…).
pub(crate) fn label<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// "4 s", "12 min", "3 h", "2 d".
pub(crate) fn duration(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        3600..86400 => format!("{} h", secs / 3600),
        _ => format!("{} d", secs / 86400),
    }
}

pub(crate) fn ago(now: DateTime<Utc>, t: DateTime<Utc>) -> String {
    duration((now - t).num_seconds())
}

fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

pub(crate) struct ReconcileRow {
    pub ago: String,
    pub found: usize,
    pub fixed: usize,
    pub failed: usize,
    pub duration_ms: u64,
    pub error: String,
}

pub(crate) struct NodeRow {
    pub name: String,
    pub kind: String,
    pub state: String,
    pub breaker: String,
    pub uptime: String,
    pub users: String,
    pub pending: i64,
    pub oldest: String,
    pub last_error: String,
    pub drift: String,
    pub last_reconcile: Option<ReconcileRow>,
}

pub(crate) struct EventRow {
    pub ago: String,
    pub provider: String,
    pub event_id: String,
    pub outcome: String,
    pub order: Option<String>,
}

pub(crate) struct FlagRow {
    pub ago: String,
    pub provider: String,
    pub reason: String,
    pub amount: String,
    pub order: Option<String>,
    pub user: i64,
}

pub(crate) struct OutboxRow {
    pub name: &'static str,
    pub depth: i64,
    pub oldest: String,
    pub retrying: i64,
    pub failed: i64,
    pub last_error: String,
}

pub(crate) struct RoleRow {
    pub role: &'static str,
    pub leader: bool,
    pub valid_for: String,
}

pub(crate) struct WorkerRow {
    pub name: String,
    pub state: String,
    pub restarts: u64,
    pub crash_looping: bool,
    pub last_failure: String,
}

pub(crate) struct BotRow {
    pub state: String,
    pub since: String,
    pub last_error: String,
}

/// Every section of the front page.
pub(crate) struct Overview {
    /// The Registry's own figures, the 10 busiest users only.
    pub actors: subvisor_actors::RegistryStats,
    pub nodes: Vec<NodeRow>,
    pub events: Vec<EventRow>,
    pub flagged: Vec<FlagRow>,
    /// (provider, outcome, events) over the last 200 events.
    pub provider_counts: Vec<(String, String, usize)>,
    pub outboxes: Vec<OutboxRow>,
    pub roles: Vec<RoleRow>,
    pub workers: Vec<WorkerRow>,
    pub bot: Option<BotRow>,
    pub providers: Vec<String>,
    /// This instance's name, and each role's lease: (role, holder, expires in, held here).
    pub instance: String,
    pub leases: Vec<(String, String, String, bool)>,
    /// The last actions taken by ops (console, API) and on no user.
    pub ops_actions: Vec<AuditRow>,
    pub backend: String,
    pub now: String,
}

pub(crate) async fn overview(state: &OpsState) -> Result<Overview, ApiError> {
    let q = state.registry.queries();
    let now = state.registry.clock().now();
    let mut actors = state.registry.stats();
    actors.busiest.truncate(10);
    let backlogs = q.node_backlogs().await?;
    let nodes = state
        .registry
        .provisioner()
        .statuses()
        .into_iter()
        .map(|s| {
            let backlog = backlogs.iter().find(|b| b.node == s.name);
            let drift = match state.drift.drift(&s.name) {
                None => "unknown".to_owned(),
                Some(m) if m.is_empty() => "none".to_owned(),
                Some(m) => format!("{} mismatch(es)", m.len()),
            };
            let last_reconcile = state.reconciler.last(&s.name).map(|l| ReconcileRow {
                ago: ago(now, l.at),
                found: l.diff.missing + l.diff.extra + l.diff.mismatched,
                fixed: l.diff.fixed,
                failed: l.diff.failed,
                duration_ms: l.diff.duration_ms,
                error: l.diff.error.unwrap_or_default(),
            });
            NodeRow {
                kind: s.kind.to_owned(),
                state: s.state,
                breaker: s.breaker.map(|b| label(&b)).unwrap_or_else(|| "—".into()),
                uptime: s
                    .note
                    .as_deref()
                    .and_then(|n| n.strip_prefix("uptime "))
                    .and_then(|n| n.trim_end_matches('s').parse::<i64>().ok())
                    .map(duration)
                    .or(s.note)
                    .unwrap_or_else(|| "—".into()),
                users: s.users.map_or_else(|| "—".into(), |u| u.to_string()),
                pending: backlog.map_or(0, |b| b.pending),
                oldest: backlog.map_or_else(|| "—".into(), |b| ago(now, b.oldest_at)),
                last_error: s
                    .last_error
                    .or_else(|| backlog.and_then(|b| b.last_error.clone()))
                    .unwrap_or_default(),
                drift,
                last_reconcile,
                name: s.name,
            }
        })
        .collect();
    let recent = q.recent_payment_events(200).await?;
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    for e in &recent {
        *counts
            .entry((e.provider.clone(), e.outcome.clone()))
            .or_default() += 1;
    }
    let events = recent
        .iter()
        .take(15)
        .map(|e| EventRow {
            ago: ago(now, e.received_at),
            provider: e.provider.clone(),
            event_id: e.event_id.clone(),
            outcome: e.outcome.clone(),
            order: e.order.map(|o| o.to_string()),
        })
        .collect();
    let flagged = q
        .flagged_payments(20)
        .await?
        .into_iter()
        .map(|f| FlagRow {
            ago: ago(now, f.at),
            provider: f.provider,
            reason: f.reason,
            amount: f.amount.to_string(),
            order: f.order.map(|o| o.to_string()),
            user: f.user.get(),
        })
        .collect();
    let outboxes = q
        .outbox_stats()
        .await?
        .into_iter()
        .map(|o| OutboxRow {
            name: o.outbox,
            depth: o.depth,
            oldest: o.oldest_at.map_or_else(|| "—".into(), |t| ago(now, t)),
            retrying: o.retrying,
            failed: o.failed,
            last_error: o.last_error.unwrap_or_default(),
        })
        .collect();
    let roles = state
        .leadership
        .views()
        .into_iter()
        .map(|r| RoleRow {
            role: r.role,
            leader: r.leader,
            valid_for: r
                .valid_for_ms
                .map_or_else(String::new, |ms| format!("{:.1} s", ms as f64 / 1000.0)),
        })
        .collect();
    let workers = state
        .workers
        .views()
        .into_iter()
        .map(|w| WorkerRow {
            state: label(&w.state),
            name: w.name,
            restarts: w.restarts,
            crash_looping: w.crash_looping,
            last_failure: w.last_failure.unwrap_or_default(),
        })
        .collect();
    let bot = state.bot.as_ref().map(|b| {
        let v = b.view();
        BotRow {
            state: label(&v.state),
            since: v.since,
            last_error: v.last_error.unwrap_or_default(),
        }
    });
    let providers = subvisor_actors::domain::Provider::ALL
        .iter()
        .filter(|p| state.payments.offers(**p))
        .map(|p| p.to_string())
        .collect();
    let ops_actions = q
        .recent_ops_audit(10)
        .await?
        .into_iter()
        .map(|a| AuditRow {
            at: ago(now, a.created_at),
            actor: a
                .details
                .get("operator")
                .and_then(|o| o.as_str())
                .map_or_else(|| a.actor.clone(), |o| format!("{} ({o})", a.actor)),
            action: a.action,
            details: a.details.to_string(),
        })
        .collect();
    let instance = subvisor_actors::store::instance_name();
    let leases = q
        .lease_holders()
        .await?
        .into_iter()
        .map(|l| {
            let here = l.holder == instance;
            let left = (l.expires_at - now).num_milliseconds();
            let expires = if left > 0 {
                format!("{:.1} s", left as f64 / 1000.0)
            } else {
                "expired".to_owned()
            };
            (l.role, l.holder, expires, here)
        })
        .collect();
    Ok(Overview {
        instance,
        leases,
        ops_actions,
        actors,
        nodes,
        events,
        flagged,
        provider_counts: counts.into_iter().map(|((p, o), n)| (p, o, n)).collect(),
        outboxes,
        roles,
        workers,
        bot,
        providers,
        backend: label(&q.backend()),
        now: stamp(now),
    })
}

pub(crate) struct KeyRow {
    /// (node, what the key is on that node, CSS class).
    pub per_node: Vec<(String, String, &'static str)>,
    pub email: String,
    pub uuid: String,
    pub state: String,
    pub created: String,
    pub traffic: String,
}

pub(crate) struct OrderRow {
    pub id: String,
    pub created: String,
    pub kind: String,
    pub plan: String,
    pub provider: String,
    pub amount: String,
    pub status: String,
    pub flag: String,
    pub refundable: bool,
}

pub(crate) struct LedgerRow {
    pub at: String,
    pub kind: String,
    pub amount: String,
    pub note: String,
}

pub(crate) struct AuditRow {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub details: String,
}

/// One user, everything about them.
pub(crate) struct UserPage {
    pub id: i64,
    pub username: String,
    pub status: String,
    pub expires: String,
    pub balance: String,
    pub created: String,
    pub flags: Vec<&'static str>,
    pub keys: Vec<KeyRow>,
    pub subscription_url: String,
    pub orders: Vec<OrderRow>,
    pub ledger: Vec<LedgerRow>,
    pub audit: Vec<AuditRow>,
    /// "2 of 3", "1 (no limit)".
    pub device_limit: String,
    pub devices: Vec<DeviceRow>,
    /// "3.1 of 10.0 GB this period, resets …" (empty: no traffic allowance).
    pub traffic: String,
    pub traffic_limited: bool,
}

/// A traffic allowance and its period's usage, for the user page.
fn traffic_line(t: &subvisor_actors::domain::TrafficState) -> String {
    use subvisor_actors::domain::format_gb;
    let mut line = format!(
        "{} of {} GB ({}{})",
        format_gb(t.used()),
        format_gb(t.total()),
        t.reset,
        if t.extra_bytes > 0 {
            format!(", {} GB from packs", format_gb(t.extra_bytes))
        } else {
            String::new()
        }
    );
    if let Some(at) = t.period_ends_at {
        line.push_str(&format!(", resets {}", stamp(at)));
    }
    line
}

pub(crate) struct DeviceRow {
    pub hwid: String,
    pub what: String,
    pub app: String,
    pub first_seen: String,
    pub last_seen: String,
}

fn mib(bytes: i64) -> String {
    format!("{:.1} MiB", bytes as f64 / 1_048_576.0)
}

pub(crate) async fn user_page(state: &OpsState, s: &UserSnapshot) -> Result<UserPage, ApiError> {
    let q = state.registry.queries();
    let now = state.registry.clock().now();
    let view = crate::views::UserView::new(s, &state.balance_currency, &state.links, now);
    let mut flags = Vec::new();
    if s.trial_used {
        flags.push("trial used");
    }
    if s.bot_blocked {
        flags.push("blocked the bot");
    }
    if q.auto_renew_plan(s.user).await?.is_some() {
        flags.push("auto-renews from balance");
    }
    let pending = q.pending_ops_of(s.user).await?;
    let node_names: Vec<String> = state
        .registry
        .provisioner()
        .node_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    let per_node = |k: &subvisor_actors::domain::Key| {
        node_names
            .iter()
            .map(|node| {
                let op = pending
                    .iter()
                    .rev()
                    .find(|p| p.node == *node && p.email.eq_ignore_ascii_case(&k.email));
                let (text, class) = match (op, k.state) {
                    (Some(p), _) => {
                        let verb = if p.op == "add" { "adding" } else { "removing" };
                        let text = match &p.last_error {
                            Some(e) if p.attempts > 0 => {
                                format!("{verb}, attempt {}: {e}", p.attempts)
                            }
                            _ => verb.to_owned(),
                        };
                        (text, "warn")
                    }
                    (None, subvisor_actors::domain::KeyState::Active) => ("on node".into(), "ok"),
                    (None, _) => ("removed".into(), ""),
                };
                (node.clone(), text, class)
            })
            .collect()
    };
    let orders = q
        .orders_of(s.user, 30)
        .await?
        .into_iter()
        .map(|o| OrderRow {
            id: o.id.to_string(),
            created: stamp(o.created_at),
            kind: label(&o.kind),
            plan: o.plan.to_string(),
            provider: o.provider.to_string(),
            amount: o.amount.to_string(),
            status: label(&o.status),
            flag: o.flag.unwrap_or_default(),
            refundable: o.status == OrderStatus::Paid,
        })
        .collect();
    let ledger = q
        .ledger(s.user)
        .await?
        .into_iter()
        .rev()
        .take(30)
        .map(|l| LedgerRow {
            at: stamp(l.created_at),
            kind: label(&l.kind),
            amount: l.amount.to_string(),
            note: l.note,
        })
        .collect();
    let device_list = q.devices(s.user).await?;
    let devices: Vec<DeviceRow> = device_list
        .devices
        .iter()
        .map(|d| DeviceRow {
            hwid: d.hwid.as_str().to_owned(),
            what: [d.model.as_deref(), d.os.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" · "),
            app: d.app.clone().unwrap_or_default(),
            first_seen: stamp(d.first_seen),
            last_seen: stamp(d.last_seen),
        })
        .collect();
    let device_limit = match device_list.limit(state.default_devices) {
        Some(limit) => format!("{} of {limit}", devices.len()),
        None => format!("{} (no limit)", devices.len()),
    };
    let audit = q
        .recent_audit(s.user, 30)
        .await?
        .into_iter()
        .map(|a| AuditRow {
            at: stamp(a.created_at),
            actor: a.actor,
            action: a.action,
            details: a.details.to_string(),
        })
        .collect();
    let traffic = q.traffic(s.user).await?.filter(|t| t.is_limited_plan());
    Ok(UserPage {
        traffic: traffic.as_ref().map(traffic_line).unwrap_or_default(),
        traffic_limited: traffic.as_ref().is_some_and(|t| t.is_limited()),
        id: s.user.get(),
        username: s.username.clone().unwrap_or_default(),
        status: view.status,
        expires: s
            .subscription
            .as_ref()
            .map_or_else(|| "—".into(), |sub| stamp(sub.expires_at)),
        balance: format!("{} {}", view.balance.minor, view.balance.currency),
        created: stamp(s.created_at),
        flags,
        keys: s
            .keys
            .iter()
            .rev()
            .map(|k| KeyRow {
                per_node: per_node(k),
                email: k.email.clone(),
                uuid: k.uuid.to_string(),
                state: k.state.to_string(),
                created: stamp(k.created_at),
                traffic: format!("↑ {} ↓ {}", mib(k.upload_bytes), mib(k.download_bytes)),
            })
            .collect(),
        subscription_url: view.subscription_url.unwrap_or_default(),
        orders,
        ledger,
        audit,
        device_limit,
        devices,
    })
}
