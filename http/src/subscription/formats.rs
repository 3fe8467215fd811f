//! The formats `/sub` serves. Each renders a [`SubscriptionView`].

use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::view::SubscriptionView;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Base64 of newline-joined `vless://` links (v2rayN, v2rayNG, Hiddify, Happ…).
    Base64,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Base64 => "text/plain; charset=utf-8",
        }
    }
}

impl FromStr for Format {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "base64" => Ok(Format::Base64),
            _ => Err(()),
        }
    }
}

pub fn render(format: Format, view: &SubscriptionView) -> String {
    match format {
        Format::Base64 => STANDARD.encode(view.vless_links().join("\n")),
    }
}
