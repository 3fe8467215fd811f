//! Request handling: authentication, parameters, fault injection, and the
//! dispatch of each Bot API method to its handler; the error answers.

use super::*;

/// A Bot API error: HTTP status = `error_code`.
pub(super) struct Failure {
    pub(super) code: u16,
    pub(super) description: String,
    pub(super) retry_after: Option<u32>,
}

pub(super) type Answer = Result<Value, Failure>;

pub(super) fn bad(what: impl std::fmt::Display) -> Failure {
    Failure {
        code: 400,
        description: format!("Bad Request: {what}"),
        retry_after: None,
    }
}

fn not_found() -> Failure {
    Failure {
        code: 404,
        description: "Not Found".into(),
        retry_after: None,
    }
}

/// The parameters of one request.
pub(super) struct Incoming {
    pub(super) params: Map<String, Value>,
    pub(super) files: Vec<(String, Vec<u8>)>,
}

pub(super) fn handle(shared: &Shared, req: &Request) -> Response {
    let arrived = Instant::now();
    let path = percent_decode_str(&req.path).decode_utf8_lossy();
    let Some((token, raw_method)) = path
        .strip_prefix("/bot")
        .and_then(|rest| rest.split_once('/'))
        .filter(|(_, method)| !method.is_empty() && !method.contains('/'))
    else {
        return reply(Err(not_found()));
    };
    let method = METHODS
        .iter()
        .find(|m| m.eq_ignore_ascii_case(raw_method))
        .map_or_else(|| raw_method.to_owned(), |m| (*m).to_owned());

    let incoming = parse_params(req);
    let (params, files) = match &incoming {
        Ok(inc) => (Value::Object(inc.params.clone()), inc.files.clone()),
        Err(_) => (json!({}), Vec::new()),
    };
    let chat_id = params.as_object().and_then(|p| int(p, "chat_id"));

    if method != "getUpdates" {
        let latency = shared.lock().latency;
        if !latency.is_zero() {
            std::thread::sleep(latency);
        }
    }

    let answer = if token != shared.token {
        Err(Failure {
            code: 401,
            description: "Unauthorized".into(),
            retry_after: None,
        })
    } else {
        match incoming {
            Err(failure) => Err(failure),
            Ok(incoming) => dispatch(shared, &method, chat_id, &incoming),
        }
    };

    let response = reply(answer);
    let mut state = shared.lock();
    state.calls.push(Call {
        method,
        params,
        files,
        chat_id,
        at: arrived,
        status: response.status,
    });
    drop(state);
    shared.changed.notify_all();
    response
}

fn reply(answer: Answer) -> Response {
    match answer {
        Ok(result) => Response::json(200, &json!({"ok": true, "result": result})),
        Err(failure) => {
            let mut body = json!({
                "ok": false,
                "error_code": failure.code,
                "description": failure.description,
            });
            if let Some(secs) = failure.retry_after {
                body["parameters"] = json!({ "retry_after": secs });
            }
            Response::json(failure.code, &body)
        }
    }
}

fn dispatch(shared: &Shared, method: &str, chat_id: Option<i64>, inc: &Incoming) -> Answer {
    if !METHODS.contains(&method) {
        return Err(not_found());
    }
    {
        let mut state = shared.lock();
        if let Some((left, secs)) = state.failures.get_mut(&method.to_ascii_lowercase())
            && *left > 0
        {
            *left -= 1;
            return Err(Failure {
                code: 429,
                description: format!("Too Many Requests: retry after {secs}"),
                retry_after: Some(*secs),
            });
        }
        if BLOCKABLE.contains(&method) && chat_id.is_some_and(|id| state.blocked.contains(&id)) {
            return Err(Failure {
                code: 403,
                description: "Forbidden: bot was blocked by the user".into(),
                retry_after: None,
            });
        }
    }
    let p = &inc.params;
    match method {
        "getMe" => Ok(me(shared.bot_id)),
        "getUpdates" => get_updates(shared, p),
        "sendMessage" => send_message(shared, p),
        "editMessageText" => edit_message_text(shared, p),
        "editMessageReplyMarkup" => edit_message_reply_markup(shared, p),
        "editMessageCaption" => edit_message_caption(shared, p),
        "deleteMessage" => delete_message(shared, p),
        "sendPhoto" => send_photo(shared, inc),
        "answerCallbackQuery" => {
            required_text(p, "callback_query_id")?;
            Ok(json!(true))
        }
        "sendInvoice" => send_invoice(shared, p),
        "createInvoiceLink" => {
            check_invoice(p)?;
            let id = uuid::Uuid::new_v4().simple().to_string();
            Ok(json!(format!("https://t.me/${}", &id[..22])))
        }
        "answerPreCheckoutQuery" => {
            let id = required_text(p, "pre_checkout_query_id")?;
            let ok = boolean(p, "ok").ok_or_else(|| bad("ok is empty"))?;
            let error = text(p, "error_message");
            shared.lock().pre_checkouts.push((id, ok, error));
            Ok(json!(true))
        }
        "refundStarPayment" => {
            let user_id = int(p, "user_id").ok_or_else(|| bad("user_id is empty"))?;
            let charge = required_text(p, "telegram_payment_charge_id")?;
            let mut state = shared.lock();
            if state.failing_refunds.contains(&charge) {
                return Err(bad("CHARGE_NOT_FOUND"));
            }
            if !state.refunded.insert(charge.clone()) {
                return Err(bad("CHARGE_ALREADY_REFUNDED"));
            }
            if let Some((amount, payload)) = state.star_charges.get(&charge).cloned() {
                state.star_transactions.push(json!({
                    "id": charge,
                    "amount": amount,
                    "date": unix_now(),
                    "receiver": star_partner(user_id, &payload),
                }));
            }
            Ok(json!(true))
        }
        "getStarTransactions" => {
            let offset = match p.get("offset") {
                None | Some(Value::Null) => 0,
                Some(_) => int(p, "offset")
                    .filter(|o| *o >= 0)
                    .ok_or_else(|| bad("invalid offset"))?,
            };
            let limit = match p.get("limit") {
                None | Some(Value::Null) => 100,
                Some(_) => int(p, "limit")
                    .filter(|l| (1..=100).contains(l))
                    .ok_or_else(|| bad("invalid limit"))?,
            };
            let state = shared.lock();
            let transactions: Vec<Value> = state
                .star_transactions
                .iter()
                .rev()
                .skip(usize::try_from(offset).unwrap_or(usize::MAX))
                .take(usize::try_from(limit).unwrap_or(100))
                .cloned()
                .collect();
            Ok(json!({ "transactions": transactions }))
        }
        "setMyCommands" => {
            let commands = json_field(p, "commands")
                .filter(Value::is_array)
                .ok_or_else(|| bad("commands is empty"))?;
            for command in commands.as_array().into_iter().flatten() {
                let name = command["command"].as_str().unwrap_or_default();
                let ok_name = (1..=32).contains(&name.len())
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
                if !ok_name {
                    return Err(bad("BOT_COMMAND_INVALID"));
                }
                let description = command["description"].as_str().unwrap_or_default();
                if !(1..=256).contains(&description.chars().count()) {
                    return Err(bad("BOT_COMMAND_DESCRIPTION_INVALID"));
                }
            }
            shared.lock().commands.insert(commands_key(p), commands);
            Ok(json!(true))
        }
        "deleteMyCommands" => {
            shared.lock().commands.remove(&commands_key(p));
            Ok(json!(true))
        }
        "getMyCommands" => Ok(shared
            .lock()
            .commands
            .get(&commands_key(p))
            .cloned()
            .unwrap_or_else(|| json!([]))),
        "setWebhook" => set_webhook(shared, p),
        "deleteWebhook" => {
            let mut state = shared.lock();
            state.webhook = None;
            if boolean(p, "drop_pending_updates") == Some(true) {
                state.updates.clear();
            }
            Ok(json!(true))
        }
        "getWebhookInfo" => {
            let state = shared.lock();
            let mut info = json!({
                "url": "",
                "has_custom_certificate": false,
                "pending_update_count": state.updates.len(),
            });
            if let Some(hook) = &state.webhook {
                info["url"] = json!(hook.url);
                info["max_connections"] = json!(hook.max_connections);
                if !hook.allowed_updates.is_empty() {
                    info["allowed_updates"] = json!(hook.allowed_updates);
                }
            }
            Ok(info)
        }
        "setChatMenuButton" => {
            if let Some(button) = json_field(p, "menu_button") {
                let kind = button["type"].as_str().unwrap_or_default();
                if !["commands", "web_app", "default"].contains(&kind) {
                    return Err(bad("can't parse menu button JSON object"));
                }
            }
            Ok(json!(true))
        }
        _ => Err(not_found()),
    }
}
