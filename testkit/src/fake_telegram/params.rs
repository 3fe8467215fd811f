//! Parameters of a request: typed getters, validation of texts, captions
//! and markup, and the parsing of query strings, forms and multipart bodies.

use super::*;

pub(super) fn int(p: &Map<String, Value>, key: &str) -> Option<i64> {
    match p.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub(super) fn text(p: &Map<String, Value>, key: &str) -> Option<String> {
    match p.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

pub(super) fn boolean(p: &Map<String, Value>, key: &str) -> Option<bool> {
    match p.get(key)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.as_str() {
            "true" | "True" | "1" => Some(true),
            "false" | "False" | "0" => Some(false),
            _ => None,
        },
        Value::Number(n) => Some(n.as_i64() != Some(0)),
        _ => None,
    }
}

/// A JSON-valued parameter: as sent in a JSON body, or parsed from text.
pub(super) fn json_field(p: &Map<String, Value>, key: &str) -> Option<Value> {
    match p.get(key)? {
        Value::String(s) => serde_json::from_str(s).ok(),
        Value::Null => None,
        other => Some(other.clone()),
    }
}

pub(super) fn string_list(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

pub(super) fn required_text(p: &Map<String, Value>, key: &str) -> Result<String, Failure> {
    text(p, key)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad(format!("{key} is empty")))
}

pub(super) fn required_chat(p: &Map<String, Value>) -> Result<i64, Failure> {
    match p.get("chat_id") {
        None | Some(Value::Null) => Err(bad("chat_id is empty")),
        Some(Value::String(s)) if s.is_empty() => Err(bad("chat_id is empty")),
        Some(_) => int(p, "chat_id")
            .filter(|id| *id != 0)
            .ok_or_else(|| bad("chat not found")),
    }
}

pub(super) fn message_text(p: &Map<String, Value>) -> Result<String, Failure> {
    let text = text(p, "text")
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| bad("message text is empty"))?;
    if visible_len(&text, p) > MAX_TEXT {
        return Err(bad("message is too long"));
    }
    Ok(text)
}

pub(super) fn caption(p: &Map<String, Value>) -> Result<Option<String>, Failure> {
    let caption = text(p, "caption");
    if caption
        .as_ref()
        .is_some_and(|c| visible_len(c, p) > MAX_CAPTION)
    {
        return Err(bad("message caption is too long"));
    }
    Ok(caption)
}

/// Length in UTF-16 units as Telegram counts it: HTML tags do not count and
/// an entity such as `&amp;` counts as one character.
fn visible_len(text: &str, p: &Map<String, Value>) -> usize {
    let html = text_field_is(p, "parse_mode", "html");
    if !html {
        return text.encode_utf16().count();
    }
    let mut len = 0;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '<' => {
                for c in chars.by_ref() {
                    if c == '>' {
                        break;
                    }
                }
            }
            '&' => {
                let rest = chars.as_str();
                if let Some(end) = rest.find(';').filter(|end| *end <= 8) {
                    chars = rest[end + 1..].chars();
                }
                len += 1;
            }
            c => len += c.len_utf16(),
        }
    }
    len
}

fn text_field_is(p: &Map<String, Value>, key: &str, value: &str) -> bool {
    text(p, key).is_some_and(|v| v.eq_ignore_ascii_case(value))
}

/// Checks `reply_markup`; returns it when it is an inline keyboard (the only
/// kind Telegram echoes in the sent message).
pub(super) fn check_markup(p: &Map<String, Value>) -> Result<Option<Value>, Failure> {
    let Some(raw) = p.get("reply_markup").filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let markup = json_field(p, "reply_markup")
        .filter(Value::is_object)
        .ok_or_else(|| {
            bad(format!(
                "can't parse reply keyboard markup JSON object: {raw}"
            ))
        })?;
    let Some(rows) = markup.get("inline_keyboard") else {
        return Ok(None);
    };
    let rows = rows
        .as_array()
        .ok_or_else(|| bad("field \"inline_keyboard\" must be an Array"))?;
    for button in rows
        .iter()
        .flat_map(|row| row.as_array().into_iter().flatten())
    {
        if button["text"].as_str().is_none_or(str::is_empty) {
            return Err(bad(
                "can't parse inline keyboard button: Text must be non-empty",
            ));
        }
        if let Some(data) = button.get("callback_data") {
            let len = data.as_str().map_or(0, str::len);
            if !(1..=64).contains(&len) {
                return Err(bad("BUTTON_DATA_INVALID"));
            }
        }
    }
    Ok(Some(markup))
}

/// Query string, then the body by content type.
pub(super) fn parse_params(req: &Request) -> Result<Incoming, Failure> {
    let mut params = Map::new();
    let mut files = Vec::new();
    let content_type = req.header("content-type").unwrap_or("").to_owned();
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !req.body.is_empty() {
        match mime.as_str() {
            "application/json" => match serde_json::from_slice(&req.body) {
                Ok(Value::Object(body)) => params = body,
                _ => return Err(bad("can't parse JSON object")),
            },
            "application/x-www-form-urlencoded" => {
                let body = String::from_utf8_lossy(&req.body);
                for (key, value) in parse_form(&body) {
                    insert_text(&mut params, key, value);
                }
            }
            "multipart/form-data" => {
                let boundary = content_type
                    .split(';')
                    .filter_map(|part| part.trim().strip_prefix("boundary="))
                    .next()
                    .map(|b| b.trim_matches('"').to_owned())
                    .ok_or_else(|| bad("multipart boundary is missing"))?;
                for part in parse_multipart(&req.body, &boundary).map_err(bad)? {
                    match part.file_name {
                        Some(file_name) => {
                            params.insert(
                                part.name.clone(),
                                json!({"file_name": file_name, "size": part.data.len()}),
                            );
                            files.push((part.name, part.data));
                        }
                        None => {
                            let value = String::from_utf8_lossy(&part.data).into_owned();
                            insert_text(&mut params, part.name, value);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    for (key, value) in parse_form(&req.query) {
        if !params.contains_key(&key) {
            insert_text(&mut params, key, value);
        }
    }
    Ok(Incoming { params, files })
}

/// A text field; JSON-valued fields are stored parsed when they parse.
fn insert_text(params: &mut Map<String, Value>, key: String, value: String) {
    let parsed = JSON_FIELDS
        .contains(&key.as_str())
        .then(|| serde_json::from_str::<Value>(&value).ok())
        .flatten();
    params.insert(key, parsed.unwrap_or(Value::String(value)));
}

struct Part {
    pub(super) name: String,
    pub(super) file_name: Option<String>,
    pub(super) data: Vec<u8>,
}

fn parse_multipart(body: &[u8], boundary: &str) -> Result<Vec<Part>, String> {
    let delimiter = format!("--{boundary}").into_bytes();
    let next_delimiter = [b"\r\n".as_slice(), &delimiter].concat();
    let mut pos =
        find(body, &delimiter, 0).ok_or("multipart boundary not found")? + delimiter.len();
    let mut parts = Vec::new();
    loop {
        let rest = &body[pos..];
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        if !rest.starts_with(b"\r\n") {
            return Err("malformed multipart body".into());
        }
        let head_start = pos + 2;
        let (head_end, data_start) = if body[head_start..].starts_with(b"\r\n") {
            (head_start, head_start + 2) // a part without headers
        } else {
            let end = find(body, b"\r\n\r\n", head_start).ok_or("unterminated multipart head")?;
            (end, end + 4)
        };
        let data_end =
            find(body, &next_delimiter, data_start).ok_or("unterminated multipart part")?;
        let head = String::from_utf8_lossy(&body[head_start..head_end]);
        let mut name = None;
        let mut file_name = None;
        for line in head.split("\r\n") {
            let Some((header, value)) = line.split_once(':') else {
                continue;
            };
            if !header.trim().eq_ignore_ascii_case("content-disposition") {
                continue;
            }
            for param in value.split(';').skip(1) {
                let Some((key, value)) = param.trim().split_once('=') else {
                    continue;
                };
                let value = value.trim().trim_matches('"');
                match key.trim().to_ascii_lowercase().as_str() {
                    "name" => name = Some(value.to_owned()),
                    "filename" => file_name = Some(value.to_owned()),
                    "filename*" => {
                        let encoded = value.rsplit('\'').next().unwrap_or(value);
                        file_name = Some(percent_decode_str(encoded).decode_utf8_lossy().into());
                    }
                    _ => {}
                }
            }
        }
        parts.push(Part {
            name: name.ok_or("multipart part without a name")?,
            file_name,
            data: body[data_start..data_end].to_vec(),
        });
        pos = data_end + next_delimiter.len();
    }
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|window| window == needle)
        .map(|i| i + from)
}

/// (size, width, height) of an uploaded photo: the PNG header's when it is a PNG.
pub(super) fn photo_dimensions(bytes: &[u8]) -> (usize, u32, u32) {
    let be =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    if bytes.len() >= 24 && bytes.starts_with(b"\x89PNG\r\n\x1a\n") && &bytes[12..16] == b"IHDR" {
        (bytes.len(), be(16), be(20))
    } else {
        (bytes.len(), 512, 512)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_parts_and_files() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"chat_id\"\r\n\r\n42\r\n\
                     --XyZ\r\nContent-Disposition: form-data; name=\"reply_markup\"\r\n\r\n\
                     {\"inline_keyboard\":[]}\r\n\
                     --XyZ\r\nContent-Disposition: form-data; name=\"f1\"; filename=\"a.bin\"\r\n\
                     Content-Type: application/octet-stream\r\n\r\n\x00\r\n--X\x01\r\n--XyZ--\r\n";
        let parts = parse_multipart(body, "XyZ").unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].name, "chat_id");
        assert_eq!(parts[0].data, b"42");
        assert_eq!(parts[2].file_name.as_deref(), Some("a.bin"));
        assert_eq!(parts[2].data, b"\x00\r\n--X\x01");
    }

    #[test]
    fn form_decoding_and_json_fields() {
        let mut params = Map::new();
        for (k, v) in parse_form("text=a+b%26c&reply_markup=%7B%22inline_keyboard%22%3A%5B%5D%7D") {
            insert_text(&mut params, k, v);
        }
        assert_eq!(params["text"], json!("a b&c"));
        assert_eq!(params["reply_markup"], json!({"inline_keyboard": []}));
    }

    #[test]
    fn html_length_ignores_tags() {
        let mut p = Map::new();
        p.insert("parse_mode".into(), json!("HTML"));
        assert_eq!(visible_len("<b>ab</b>&amp;c", &p), 4);
        assert_eq!(visible_len("<b>ab</b>", &Map::new()), 9);
    }

    #[test]
    fn png_dimensions() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend_from_slice(&300u32.to_be_bytes());
        png.extend_from_slice(&200u32.to_be_bytes());
        assert_eq!(photo_dimensions(&png), (24, 300, 200));
        assert_eq!(photo_dimensions(b"nope"), (4, 512, 512));
    }
}
