//! Telegram objects as JSON: users, chats, messages, the bot itself.

use super::*;

pub(super) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

pub(super) fn next_message_id() -> i64 {
    NEXT_MESSAGE_ID.fetch_add(1, Ordering::Relaxed)
}

pub(super) fn me(bot_id: i64) -> Value {
    let mut me = bot_user(bot_id);
    let object = me.as_object_mut().expect("users are objects");
    for (key, value) in [
        ("can_join_groups", true),
        ("can_read_all_group_messages", false),
        ("supports_inline_queries", false),
        ("can_connect_to_business", false),
        ("has_main_web_app", false),
    ] {
        object.insert(key.into(), json!(value));
    }
    me
}

pub(super) fn bot_user(bot_id: i64) -> Value {
    json!({
        "id": bot_id,
        "is_bot": true,
        "first_name": BOT_FIRST_NAME,
        "username": BOT_USERNAME,
    })
}

pub(super) fn user(user_id: i64, language_code: Option<&str>) -> Value {
    let mut user = json!({
        "id": user_id,
        "is_bot": false,
        "first_name": format!("User{user_id}"),
        "username": format!("user{user_id}"),
    });
    if let Some(code) = language_code {
        user["language_code"] = json!(code);
    }
    user
}

/// A `TransactionPartnerUser` for an invoice payment of user `user_id`.
pub(super) fn star_partner(user_id: i64, invoice_payload: &str) -> Value {
    json!({
        "type": "user",
        "transaction_type": "invoice_payment",
        "user": user(user_id, None),
        "invoice_payload": invoice_payload,
    })
}

/// A private chat for positive ids (users), a supergroup for negative ones.
fn chat(chat_id: i64) -> Value {
    if chat_id > 0 {
        json!({
            "id": chat_id,
            "type": "private",
            "first_name": format!("User{chat_id}"),
            "username": format!("user{chat_id}"),
        })
    } else {
        json!({"id": chat_id, "type": "supergroup", "title": format!("Chat {chat_id}")})
    }
}

/// The common part of a message the bot sent to `chat_id`.
pub(super) fn bot_message(bot_id: i64, chat_id: i64, message_id: i64) -> Value {
    json!({
        "message_id": message_id,
        "from": bot_user(bot_id),
        "chat": chat(chat_id),
        "date": unix_now(),
    })
}

/// The common part of a message user `user_id` sent in their private chat.
pub(super) fn user_message(user_id: i64, language_code: Option<&str>) -> Value {
    json!({
        "message_id": next_message_id(),
        "from": user(user_id, language_code),
        "chat": chat(user_id),
        "date": unix_now(),
    })
}
