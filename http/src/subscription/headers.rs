//! Header values of a `/sub` answer that take more than a `format!`:
//! RFC 6266 `content-disposition` and the `base64:` form of text headers.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::formats::Format;

/// RFC 8187 `attr-char`: what `filename*` may carry unencoded.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// A filename-safe ASCII version of the title (the `filename` fallback).
fn ascii_file_name(title: &str) -> String {
    let name: String = title
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if name.is_empty() {
        "subscription".into()
    } else {
        name
    }
}

/// `attachment; filename="<ascii>.<ext>"; filename*=UTF-8''<percent-encoded>.<ext>`
/// (RFC 6266 § 4.3: senders give both; clients that know `filename*` prefer it).
pub fn content_disposition(title: &str, format: Format) -> String {
    let ext = format.extension();
    let title = if title.trim().is_empty() {
        "subscription"
    } else {
        title
    };
    format!(
        "attachment; filename=\"{}.{ext}\"; filename*=UTF-8''{}.{ext}",
        ascii_file_name(title),
        utf8_percent_encode(title, ATTR_CHAR)
    )
}

/// A text header as clients read it: ASCII as is, anything else (or text
/// with control characters) as `base64:<base64 of UTF-8>`.
pub fn text(value: &str) -> String {
    if value.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        value.to_owned()
    } else {
        format!("base64:{}", STANDARD.encode(value))
    }
}

/// `profile-title`: always `base64:` (as it was served before).
pub fn base64_text(value: &str) -> String {
    format!("base64:{}", STANDARD.encode(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dispositions_carry_an_ascii_fallback_and_the_utf8_name() {
        assert_eq!(
            content_disposition("My VPN ☂", Format::Clash),
            "attachment; filename=\"My_VPN__.yaml\"; filename*=UTF-8''My%20VPN%20%E2%98%82.yaml"
        );
        assert_eq!(
            content_disposition("", Format::Base64),
            "attachment; filename=\"subscription.txt\"; filename*=UTF-8''subscription.txt"
        );
        assert_eq!(
            content_disposition("a\"b;c", Format::Singbox),
            "attachment; filename=\"a_b_c.json\"; filename*=UTF-8''a%22b%3Bc.json"
        );
    }

    #[test]
    fn non_ascii_text_is_base64() {
        assert_eq!(text("Renew soon"), "Renew soon");
        assert_eq!(
            text("Привет"),
            format!("base64:{}", STANDARD.encode("Привет"))
        );
        assert_eq!(text("a\nb"), format!("base64:{}", STANDARD.encode("a\nb")));
    }
}
