//! `base64`: base64 of newline-joined `vless://` links, what v2rayN, v2rayNG,
//! Hiddify, Happ, Streisand, Shadowrocket and NekoBox import.

use ::base64::Engine;
use ::base64::engine::general_purpose::STANDARD;

use crate::subscription::view::Entry;

pub(super) fn render(entries: &[Entry]) -> String {
    let links: Vec<String> = entries.iter().map(Entry::vless_link).collect();
    STANDARD.encode(links.join("\n"))
}
