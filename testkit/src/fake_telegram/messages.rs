//! Sending, editing and deleting messages: `sendMessage`, `sendPhoto`,
//! `sendInvoice`, the edits, `deleteMessage`.

use super::*;

pub(super) fn send_message(shared: &Shared, p: &Map<String, Value>) -> Answer {
    let chat = required_chat(p)?;
    let text = message_text(p)?;
    let markup = check_markup(p)?;
    let mut message = bot_message(shared.bot_id, chat, next_message_id());
    message["text"] = json!(text);
    if let Some(markup) = markup {
        message["reply_markup"] = markup;
    }
    Ok(remember(shared, chat, message))
}

pub(super) fn send_photo(shared: &Shared, inc: &Incoming) -> Answer {
    let p = &inc.params;
    let chat = required_chat(p)?;
    let (size, width, height) = match p.get("photo") {
        None | Some(Value::Null) => return Err(bad("there is no photo in the request")),
        Some(Value::String(s)) if s.is_empty() => {
            return Err(bad("there is no photo in the request"));
        }
        Some(Value::String(s)) => match s.strip_prefix("attach://") {
            Some(name) => {
                let bytes = inc
                    .files
                    .iter()
                    .find(|(part, _)| part == name)
                    .map(|(_, bytes)| bytes)
                    .ok_or_else(|| bad("wrong file identifier/HTTP URL specified"))?;
                photo_dimensions(bytes)
            }
            // A file id or URL: nothing to look at.
            None => (0, 512, 512),
        },
        // The file itself uploaded as the `photo` part.
        Some(Value::Object(_)) => inc
            .files
            .iter()
            .find(|(part, _)| part == "photo")
            .map_or((0, 512, 512), |(_, bytes)| photo_dimensions(bytes)),
        Some(_) => return Err(bad("wrong file identifier/HTTP URL specified")),
    };
    let caption = caption(p)?;
    let markup = check_markup(p)?;
    let id = next_message_id();
    let mut message = bot_message(shared.bot_id, chat, id);
    message["photo"] = json!([{
        "file_id": format!("fake-photo-{id}"),
        "file_unique_id": format!("fake-unique-{id}"),
        "file_size": size,
        "width": width,
        "height": height,
    }]);
    if let Some(caption) = caption {
        message["caption"] = json!(caption);
    }
    if let Some(markup) = markup {
        message["reply_markup"] = markup;
    }
    Ok(remember(shared, chat, message))
}

pub(super) fn send_invoice(shared: &Shared, p: &Map<String, Value>) -> Answer {
    let chat = required_chat(p)?;
    let total = check_invoice(p)?;
    check_markup(p)?;
    let mut message = bot_message(shared.bot_id, chat, next_message_id());
    message["invoice"] = json!({
        "title": text(p, "title"),
        "description": text(p, "description"),
        "start_parameter": text(p, "start_parameter").unwrap_or_default(),
        "currency": text(p, "currency"),
        "total_amount": total,
    });
    Ok(remember(shared, chat, message))
}

/// Validates the invoice fields of sendInvoice/createInvoiceLink; returns the total.
pub(super) fn check_invoice(p: &Map<String, Value>) -> Result<i64, Failure> {
    let title = required_text(p, "title")?;
    let description = required_text(p, "description")?;
    let payload = required_text(p, "payload")?;
    let currency = required_text(p, "currency")?;
    if title.chars().count() > 32 {
        return Err(bad("INVOICE_TITLE_INVALID"));
    }
    if description.chars().count() > 255 {
        return Err(bad("INVOICE_DESCRIPTION_INVALID"));
    }
    if payload.len() > 128 {
        return Err(bad("INVOICE_PAYLOAD_INVALID"));
    }
    let provider_token = text(p, "provider_token").unwrap_or_default();
    if currency != "XTR" && provider_token.is_empty() {
        return Err(bad("PAYMENT_PROVIDER_INVALID"));
    }
    let prices = json_field(p, "prices").ok_or_else(|| bad("prices is empty"))?;
    let prices = prices.as_array().filter(|a| !a.is_empty());
    let mut total = 0i64;
    for price in prices.ok_or_else(|| bad("CURRENCY_TOTAL_AMOUNT_INVALID"))? {
        let amount = price["amount"].as_i64().unwrap_or(0);
        if price["label"].as_str().is_none_or(str::is_empty) || amount <= 0 {
            return Err(bad("CURRENCY_TOTAL_AMOUNT_INVALID"));
        }
        total += amount;
    }
    if currency == "XTR" && prices.is_some_and(|a| a.len() != 1) {
        return Err(bad("STARS_INVOICE_INVALID"));
    }
    Ok(total)
}

/// What an edit addresses: an inline message (answered with `true`) or a chat message.
enum Target {
    Inline,
    Message(i64, i64),
}

fn edit_target(p: &Map<String, Value>) -> Result<Target, Failure> {
    if text(p, "inline_message_id").is_some_and(|id| !id.is_empty()) {
        return Ok(Target::Inline);
    }
    let chat = required_chat(p)?;
    let id = int(p, "message_id").ok_or_else(|| bad("message identifier is not specified"))?;
    Ok(Target::Message(chat, id))
}

/// The current version of a message for an edit, or a made-up one.
fn editable(shared: &Shared, chat: i64, id: i64) -> Result<Option<Value>, Failure> {
    let state = shared.lock();
    if state.deleted.contains(&(chat, id)) {
        return Err(bad("message to edit not found"));
    }
    Ok(state.messages.get(&(chat, id)).cloned())
}

fn not_modified() -> Failure {
    bad(
        "message is not modified: specified new message content and reply markup are \
         exactly the same as a current content and reply markup of the message",
    )
}

fn set_markup(message: &mut Value, markup: Option<Value>) {
    let object = message.as_object_mut().expect("messages are objects");
    match markup {
        Some(markup) => object.insert("reply_markup".into(), markup),
        None => object.remove("reply_markup"),
    };
}

pub(super) fn edit_message_text(shared: &Shared, p: &Map<String, Value>) -> Answer {
    let target = edit_target(p)?;
    let text = message_text(p)?;
    let markup = check_markup(p)?;
    let Target::Message(chat, id) = target else {
        return Ok(json!(true));
    };
    let mut message = match editable(shared, chat, id)? {
        Some(old) if old.get("text").is_none() => {
            return Err(bad("there is no text in the message to edit"));
        }
        Some(old) if old["text"] == json!(text) && old.get("reply_markup") == markup.as_ref() => {
            return Err(not_modified());
        }
        Some(old) => old,
        None => bot_message(shared.bot_id, chat, id),
    };
    message["text"] = json!(text);
    set_markup(&mut message, markup);
    message["edit_date"] = json!(unix_now());
    Ok(remember(shared, chat, message))
}

pub(super) fn edit_message_reply_markup(shared: &Shared, p: &Map<String, Value>) -> Answer {
    let target = edit_target(p)?;
    let markup = check_markup(p)?;
    let Target::Message(chat, id) = target else {
        return Ok(json!(true));
    };
    let mut message = match editable(shared, chat, id)? {
        Some(old) if old.get("reply_markup") == markup.as_ref() => return Err(not_modified()),
        Some(old) => old,
        None => {
            let mut message = bot_message(shared.bot_id, chat, id);
            message["text"] = json!(format!("message {id}"));
            message
        }
    };
    set_markup(&mut message, markup);
    message["edit_date"] = json!(unix_now());
    Ok(remember(shared, chat, message))
}

pub(super) fn edit_message_caption(shared: &Shared, p: &Map<String, Value>) -> Answer {
    let target = edit_target(p)?;
    let caption = caption(p)?;
    let markup = check_markup(p)?;
    let Target::Message(chat, id) = target else {
        return Ok(json!(true));
    };
    let mut message = match editable(shared, chat, id)? {
        Some(old) if old.get("text").is_some() => {
            return Err(bad("there is no caption in the message to edit"));
        }
        Some(old)
            if old.get("caption") == caption.as_ref().map(|c| json!(c)).as_ref()
                && old.get("reply_markup") == markup.as_ref() =>
        {
            return Err(not_modified());
        }
        Some(old) => old,
        None => {
            let mut message = bot_message(shared.bot_id, chat, id);
            message["photo"] = json!([{
                "file_id": format!("fake-photo-{id}"),
                "file_unique_id": format!("fake-unique-{id}"),
                "width": 512,
                "height": 512,
            }]);
            message
        }
    };
    let object = message.as_object_mut().expect("messages are objects");
    match caption {
        Some(caption) => object.insert("caption".into(), json!(caption)),
        None => object.remove("caption"),
    };
    set_markup(&mut message, markup);
    message["edit_date"] = json!(unix_now());
    Ok(remember(shared, chat, message))
}

pub(super) fn delete_message(shared: &Shared, p: &Map<String, Value>) -> Answer {
    let chat = required_chat(p)?;
    let id = int(p, "message_id").ok_or_else(|| bad("message identifier is not specified"))?;
    let mut state = shared.lock();
    if !state.deleted.insert((chat, id)) {
        return Err(bad("message to delete not found"));
    }
    state.messages.remove(&(chat, id));
    Ok(json!(true))
}

/// Stores a message the bot sent or edited and returns it.
fn remember(shared: &Shared, chat: i64, message: Value) -> Value {
    let id = message["message_id"].as_i64().unwrap_or_default();
    shared.lock().messages.insert((chat, id), message.clone());
    message
}
