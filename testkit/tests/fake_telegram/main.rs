//! [`FakeTelegram`] driven by a real teloxide `Bot`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::json;
use subvisor_testkit::fake_telegram::{BOT_USERNAME, FakeTelegram};
use teloxide::payloads::{
    AnswerPreCheckoutQuerySetters, CreateInvoiceLinkSetters, EditMessageTextSetters,
    GetStarTransactionsSetters, GetUpdatesSetters, SendMessageSetters, SendPhotoSetters,
    SetWebhookSetters,
};
use teloxide::requests::Requester;
use teloxide::types::{
    AllowedUpdate, BotCommand, ChatId, InlineKeyboardButton, InlineKeyboardButtonKind,
    InlineKeyboardMarkup, InputFile, LabeledPrice, MessageEntityKind, MessageId,
    PreCheckoutQueryId, StarTransaction, StarTransactions, TelegramTransactionId,
    TransactionPartner, Update, UpdateKind, UserId,
};
use teloxide::{ApiError, Bot, RequestError};

mod messages;
mod server;
mod stars;
mod updates;

const TOKEN: &str = "123456:AAtest-Token_x";
const USER: i64 = 42;

fn start() -> (FakeTelegram, Bot) {
    let fake = FakeTelegram::start(TOKEN).expect("start the fake Telegram");
    let bot = Bot::new(TOKEN).set_api_url(fake.api_url().parse().expect("api url"));
    (fake, bot)
}

fn keyboard(data: &str) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup::new([[InlineKeyboardButton::callback("Buy", data)]])
}

/// A PNG signature and IHDR chunk for a 37×29 image, then some bytes.
fn png_bytes() -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    png.extend_from_slice(&37u32.to_be_bytes());
    png.extend_from_slice(&29u32.to_be_bytes());
    png.extend_from_slice(&[
        8, 0, 0, 0, 0, 0xde, 0xad, b'\r', b'\n', b'-', b'-', 0xbe, 0xef,
    ]);
    png
}

fn api_error(result: Result<impl std::fmt::Debug, RequestError>) -> ApiError {
    match result {
        Err(RequestError::Api(e)) => e,
        other => panic!("expected an API error, got {other:?}"),
    }
}
