//! The formats `/sub` serves, one file each. Every one is a pure function of
//! the [`SubscriptionView`] and the [`RenderOptions`] (no clock, no I/O), built
//! from typed structs with serde, so the golden tests and the bench call
//! [`render`] directly.
//!
//! What a format lists comes from [`listed`]: the working entries, or, for
//! any status but `Active`, one stub entry saying why and how to renew; the
//! formats whose clients show no headers (base64, xray) may start with an info
//! entry ("12 days left · 3.2 GB used"). Stub and info entries cannot connect:
//! they point at `0.0.0.0:1` with a placeholder key.

mod base64;
mod clash;
mod singbox;
mod xray;

use std::collections::HashSet;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use subvisor_actors::domain::LinkParams;
use uuid::Uuid;

use super::notice::{self, Lang};
use super::view::{Entry, SubscriptionView, ViewStatus};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Base64 of newline-joined `vless://` links (v2rayN, v2rayNG, Hiddify, Happ…).
    Base64,
    /// Mihomo (Clash Meta) YAML (Clash Verge Rev, FlClash, Mihomo Party, Stash…).
    Clash,
    /// sing-box JSON (SFA, SFI, SFM, Karing).
    Singbox,
    /// A JSON array of full Xray configs, one per entry (v2rayN, Happ).
    Xray,
}

impl Format {
    pub const ALL: [Format; 4] = [Format::Base64, Format::Clash, Format::Singbox, Format::Xray];

    /// Its name in `/sub/{token}/{format}`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Base64 => "base64",
            Format::Clash => "clash",
            Format::Singbox => "singbox",
            Format::Xray => "xray",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Base64 => "text/plain; charset=utf-8",
            Format::Clash => "text/yaml; charset=utf-8",
            Format::Singbox | Format::Xray => "application/json",
        }
    }

    /// File extension of the download (`content-disposition`).
    pub fn extension(self) -> &'static str {
        match self {
            Format::Base64 => "txt",
            Format::Clash => "yaml",
            Format::Singbox | Format::Xray => "json",
        }
    }

    /// Whether the format's clients show no subscription headers, so the
    /// expiry and traffic are worth an info entry (`info_entries`).
    fn headerless(self) -> bool {
        matches!(self, Format::Base64 | Format::Xray)
    }
}

impl FromStr for Format {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        Format::ALL.into_iter().find(|f| f.name() == s).ok_or(())
    }
}

/// What rendering needs besides the view: per request, from config.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    /// Now, for "12 days left".
    pub now: DateTime<Utc>,
    /// Start headerless formats with an info entry (`[subscription] info_entries`).
    pub info_entries: bool,
    /// Where to renew (the bot, else support), named by the stub entry.
    pub renew_url: Option<String>,
}

/// The answer's body in `format`.
pub fn render(format: Format, view: &SubscriptionView, options: &RenderOptions) -> String {
    let entries = listed(format, view, options);
    match format {
        Format::Base64 => base64::render(&entries),
        Format::Clash => clash::render(&entries),
        Format::Singbox => singbox::render(&entries),
        Format::Xray => xray::render(&entries),
    }
}

/// The UUID of stub and info entries: a valid, fixed v4 UUID no node knows.
pub const PLACEHOLDER_UUID: Uuid = Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0000);
/// Where stub and info entries point: nothing listens there.
pub const PLACEHOLDER_HOST: &str = "0.0.0.0";
pub const PLACEHOLDER_PORT: u16 = 1;

fn placeholder(label: String) -> Entry {
    Entry {
        uuid: PLACEHOLDER_UUID,
        node: LinkParams {
            host: PLACEHOLDER_HOST.into(),
            port: PLACEHOLDER_PORT,
            sni: "www.example.com".into(),
            // base64url of 32 zero bytes: well-formed, so clients import it.
            public_key: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
            short_id: String::new(),
            fingerprint: "chrome".into(),
            label,
        },
    }
}

/// The entries `format` lists for this view, labels unique (Clash and
/// sing-box refuse duplicate names; a user with two keys has two of each node).
fn listed(format: Format, view: &SubscriptionView, options: &RenderOptions) -> Vec<Entry> {
    let lang = Lang::of(view.language.as_deref());
    let renew = options.renew_url.as_deref();
    let mut entries = Vec::with_capacity(view.entries.len() + 1);
    if view.status != ViewStatus::Active || view.entries.is_empty() {
        entries.push(placeholder(notice::stub(view.status, lang, renew)));
        return entries;
    }
    if options.info_entries && format.headerless() {
        entries.push(placeholder(notice::info(view, options.now, lang)));
    }
    entries.extend(view.entries.iter().cloned());
    let mut seen = HashSet::with_capacity(entries.len());
    for entry in &mut entries {
        let base = entry.node.label.clone();
        let mut n = 1;
        while !seen.insert(entry.node.label.clone()) {
            n += 1;
            entry.node.label = format!("{base} ({n})");
        }
    }
    entries
}

#[cfg(test)]
mod tests;
