//! Getting updates: `getUpdates` (long polling) and `setWebhook`, and the
//! commands' keys.

use super::*;

pub(super) fn get_updates(shared: &Shared, p: &Map<String, Value>) -> Answer {
    let offset = int(p, "offset").unwrap_or(0);
    let limit = int(p, "limit").map_or(MAX_UPDATES, |n| n.clamp(1, MAX_UPDATES as i64) as usize);
    let timeout = Duration::from_secs(int(p, "timeout").unwrap_or(0).clamp(0, 3600) as u64);
    let deadline = Instant::now() + timeout;

    let mut state = shared.lock();
    if state.webhook.is_some() {
        return Err(Failure {
            code: 409,
            description: "Conflict: can't use getUpdates method while webhook is active; \
                          use deleteWebhook to delete the webhook first"
                .into(),
            retry_after: None,
        });
    }
    if let Some(allowed) = json_field(p, "allowed_updates") {
        state.allowed_updates = string_list(&allowed);
    }
    if offset > 0 {
        state
            .updates
            .retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
    } else if offset < 0 {
        let keep = offset.unsigned_abs() as usize;
        let excess = state.updates.len().saturating_sub(keep);
        state.updates.drain(..excess);
    }
    loop {
        let allowed = state.allowed_updates.clone();
        state.updates.retain(|u| is_allowed(u, &allowed));
        if !state.updates.is_empty()
            || shared.stopped.load(Ordering::SeqCst)
            || Instant::now() >= deadline
        {
            let batch: Vec<Value> = state.updates.iter().take(limit).cloned().collect();
            return Ok(Value::Array(batch));
        }
        let wait = deadline.saturating_duration_since(Instant::now());
        state = shared
            .changed
            .wait_timeout(state, wait)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

/// Whether an update's kind (its key other than `update_id`) may be delivered.
fn is_allowed(update: &Value, allowed: &[String]) -> bool {
    let Some(kind) = update
        .as_object()
        .and_then(|o| o.keys().find(|k| *k != "update_id"))
    else {
        return true;
    };
    if allowed.is_empty() {
        !NOT_BY_DEFAULT.contains(&kind.as_str())
    } else {
        allowed.iter().any(|a| a == kind)
    }
}

pub(super) fn set_webhook(shared: &Shared, p: &Map<String, Value>) -> Answer {
    let url = text(p, "url").ok_or_else(|| bad("url is empty"))?;
    let allowed = json_field(p, "allowed_updates").map(|v| string_list(&v));
    let drop_pending = boolean(p, "drop_pending_updates") == Some(true);
    let mut state = shared.lock();
    if let Some(allowed) = &allowed {
        state.allowed_updates = allowed.clone();
    }
    if drop_pending {
        state.updates.clear();
    }
    if url.is_empty() {
        state.webhook = None;
        return Ok(json!(true));
    }
    let Some(rest) = url.strip_prefix("https://") else {
        return Err(bad("bad webhook: HTTPS url must be provided for webhook"));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    let port = match host_port.strip_prefix('[') {
        Some(ipv6) => ipv6.split_once("]:").map(|(_, port)| port),
        None => host_port.split_once(':').map(|(_, port)| port),
    };
    let port = port.map_or(Some(443), |port| port.parse::<u16>().ok());
    if !matches!(port, Some(80 | 88 | 443 | 8443)) {
        return Err(bad(
            "bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443",
        ));
    }
    let secret_token = text(p, "secret_token");
    if let Some(secret) = &secret_token {
        let valid = (1..=256).contains(&secret.len())
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid {
            return Err(bad("secret token contains unallowed characters"));
        }
    }
    let max_connections = int(p, "max_connections").unwrap_or(40);
    state.webhook = Some(Webhook {
        url,
        secret_token,
        allowed_updates: allowed.unwrap_or_else(|| state.allowed_updates.clone()),
        max_connections,
    });
    Ok(json!(true))
}

pub(super) fn commands_key(p: &Map<String, Value>) -> (String, String) {
    let scope = json_field(p, "scope").unwrap_or_else(|| json!({"type": "default"}));
    (
        scope.to_string(),
        text(p, "language_code").unwrap_or_default(),
    )
}
