//! The fake Crypto Pay API: [`FakeCryptoPay`] and its request handling
//! (`createInvoice`, `getInvoices`, `getMe`).

use super::*;

/// A fake Crypto Pay API (@CryptoBot) accepting one app token.
pub struct FakeCryptoPay {
    pub(super) server: Server,
    state: Arc<Shared>,
}

impl FakeCryptoPay {
    /// Starts the fake on a free port of `127.0.0.1`; requests must carry
    /// `token` in `Crypto-Pay-API-Token`.
    pub fn start(token: &str) -> io::Result<Self> {
        let state = Arc::new(Shared::new(token));
        let handler_state = Arc::clone(&state);
        let server = Server::start("fake Crypto Pay", move |req| {
            crypto_pay(&handler_state, req)
        })?;
        Ok(Self { server, state })
    }

    /// The API base, like `https://pay.crypt.bot/api`: `http://127.0.0.1:PORT/api`.
    pub fn base_url(&self) -> String {
        format!("http://{}/api", self.server.addr)
    }

    /// The `createInvoice` parameters of every invoice created, in order.
    pub fn invoices(&self) -> Vec<Value> {
        self.state.lock().invoices.clone()
    }

    /// The same requests as [`invoices`](Self::invoices), as the bytes sent (UTF-8).
    pub fn raw_invoices(&self) -> Vec<String> {
        self.state.lock().raw.clone()
    }

    /// When `true`, authorized requests get HTTP 500 and create nothing.
    pub fn set_failing(&self, fail: bool) {
        self.state.failing.store(fail, Ordering::SeqCst);
    }

    /// How many well-formed HTTP requests arrived (authorized or not).
    pub fn requests(&self) -> usize {
        self.state.lock().requests
    }

    /// The `invoice_id` of every invoice created, in order.
    pub fn created_invoice_ids(&self) -> Vec<i64> {
        self.state
            .lock()
            .crypto
            .iter()
            .filter_map(|inv| inv["invoice_id"].as_i64())
            .collect()
    }

    /// Marks the invoice paid: `status` `"paid"`, `paid_at` now, `paid_asset`
    /// (the asset, or for a fiat invoice the first accepted asset, else
    /// `USDT`) and `paid_amount` (the amount: the fake's rate is 1),
    /// `paid_usd_rate`, `fee_asset`/`fee_amount`. Panics for an id the fake
    /// did not create.
    pub fn pay_invoice(&self, invoice_id: i64) {
        let now = iso_now();
        self.with_invoice(invoice_id, |inv| {
            let paid_asset = match inv["currency_type"].as_str() {
                Some("fiat") => inv["accepted_assets"]
                    .as_str()
                    .and_then(|list| list.split(',').next())
                    .unwrap_or("USDT")
                    .to_owned(),
                _ => inv["asset"].as_str().unwrap_or("USDT").to_owned(),
            };
            inv["status"] = json!("paid");
            inv["paid_at"] = json!(now);
            inv["paid_amount"] = inv["amount"].clone();
            inv["paid_asset"] = json!(paid_asset);
            inv["paid_usd_rate"] = json!("1.00");
            inv["fee_asset"] = json!(paid_asset);
            inv["fee_amount"] = json!("0");
            inv["paid_anonymously"] = json!(false);
            if inv["currency_type"] == "fiat" {
                inv["paid_fiat_rate"] = json!("1.00");
            }
        });
    }

    /// Marks the invoice `"expired"`. Panics for an id the fake did not create.
    pub fn expire_invoice(&self, invoice_id: i64) {
        self.with_invoice(invoice_id, |inv| inv["status"] = json!("expired"));
    }

    fn with_invoice(&self, invoice_id: i64, change: impl FnOnce(&mut Value)) {
        let mut state = self.state.lock();
        let invoice = state
            .crypto
            .iter_mut()
            .find(|inv| inv["invoice_id"].as_i64() == Some(invoice_id));
        match invoice {
            Some(invoice) => change(invoice),
            None => panic!("the fake Crypto Pay created no invoice {invoice_id}"),
        }
    }
}

impl std::fmt::Debug for FakeCryptoPay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeCryptoPay")
            .field("addr", &self.server.addr)
            .finish_non_exhaustive()
    }
}

pub(super) fn crypto_pay(shared: &Shared, req: &Request) -> Response {
    shared.lock().requests += 1;
    let error = |status: u16, name: &str| {
        Response::json(
            status,
            &json!({"ok": false, "error": {"code": status, "name": name}}),
        )
    };
    if req.header("crypto-pay-api-token") != Some(shared.credential.as_str()) {
        return error(401, "UNAUTHORIZED");
    }
    if shared.failing.load(Ordering::SeqCst) {
        return Response::server_error();
    }
    let Some(method) = req.path.strip_prefix("/api/") else {
        return error(404, "NOT_FOUND");
    };
    if req.method != "POST" && req.method != "GET" {
        return error(405, "METHOD_NOT_ALLOWED");
    }
    match method {
        "getMe" => Response::json(
            200,
            &json!({"ok": true, "result": {
                "app_id": 1,
                "name": "fake",
                "payment_processing_bot_username": "CryptoTestnetBot"
            }}),
        ),
        "createInvoice" => {
            let params: Value = if req.body.is_empty() {
                json!({})
            } else {
                match serde_json::from_slice(&req.body) {
                    Ok(v @ Value::Object(_)) => v,
                    _ => return error(400, "INVALID_JSON"),
                }
            };
            let text = |key: &str| params.get(key).and_then(Value::as_str);
            let currency_type = text("currency_type").unwrap_or("crypto");
            match currency_type {
                "crypto" if text("asset").is_none() => return error(400, "PARAM_ASSET_REQUIRED"),
                "fiat" if text("fiat").is_none() => return error(400, "PARAM_FIAT_REQUIRED"),
                "crypto" | "fiat" => {}
                _ => return error(400, "CURRENCY_TYPE_INVALID"),
            }
            let amount = match params.get("amount") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                None => return error(400, "PARAM_AMOUNT_REQUIRED"),
                Some(_) => return error(400, "AMOUNT_INVALID"),
            };
            if !is_positive_decimal(&amount) {
                return error(400, "AMOUNT_INVALID");
            }
            let id = shared.record(params.clone(), &req.body);
            let hash = format!("IVfake{id:010}");
            let mut result = json!({
                "invoice_id": id,
                "hash": hash,
                "currency_type": currency_type,
                "amount": amount,
                "bot_invoice_url": format!("https://t.me/CryptoTestnetBot?start={hash}"),
                "pay_url": format!("https://t.me/CryptoTestnetBot?start={hash}"),
                "mini_app_invoice_url":
                    format!("https://t.me/CryptoTestnetBot/app?startapp=invoice-{hash}&mode=compact"),
                "web_app_invoice_url": format!("https://testnet-app.send.tg/invoices/{hash}"),
                "status": "active",
                "created_at": CREATED_AT,
                "allow_comments": true,
                "allow_anonymous": true,
            });
            for key in ["asset", "fiat", "accepted_assets", "description", "payload"] {
                if let Some(v) = params.get(key) {
                    result[key] = v.clone();
                }
            }
            if let Some(secs) = params.get("expires_in") {
                result["expiration_date"] = json!(CREATED_AT);
                result["expires_in"] = secs.clone();
            }
            shared.lock().crypto.push(result.clone());
            Response::json(200, &json!({"ok": true, "result": result}))
        }
        "getInvoices" => match get_invoices(shared, req) {
            Ok(items) => Response::json(200, &json!({"ok": true, "result": {"items": items}})),
            Err(name) => error(400, name),
        },
        _ => error(405, "METHOD_NOT_FOUND"),
    }
}

/// `getInvoices`: filters, newest first, then `offset` and `count`.
pub(super) fn get_invoices(shared: &Shared, req: &Request) -> Result<Vec<Value>, &'static str> {
    let params = request_params(req).ok_or("INVALID_JSON")?;
    let number = |key: &str| -> Result<Option<i64>, ()> {
        match params.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n.as_i64().map(Some).ok_or(()),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| ()),
            Some(_) => Err(()),
        }
    };
    let offset = number("offset")
        .map_err(|()| "OFFSET_INVALID")?
        .unwrap_or(0);
    let count = number("count")
        .map_err(|()| "COUNT_INVALID")?
        .unwrap_or(100);
    if offset < 0 {
        return Err("OFFSET_INVALID");
    }
    if !(1..=1000).contains(&count) {
        return Err("COUNT_INVALID");
    }
    let list = |key: &str| -> Option<Vec<String>> {
        let items: Vec<String> = match params.get(key)? {
            Value::String(s) => s.split(',').map(|x| x.trim().to_owned()).collect(),
            Value::Number(n) => vec![n.to_string()],
            Value::Array(items) => items
                .iter()
                .map(|x| match x {
                    Value::String(s) => s.trim().to_owned(),
                    other => other.to_string(),
                })
                .collect(),
            _ => return None,
        };
        let items: Vec<String> = items.into_iter().filter(|x| !x.is_empty()).collect();
        (!items.is_empty()).then_some(items)
    };
    let ids = match list("invoice_ids") {
        None => None,
        Some(ids) => Some(
            ids.iter()
                .map(|id| id.parse::<i64>())
                .collect::<Result<HashSet<i64>, _>>()
                .map_err(|_| "INVOICE_IDS_INVALID")?,
        ),
    };
    let assets = list("asset");
    let fiats = list("fiat");
    let status = params
        .get("status")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let state = shared.lock();
    let matches = |inv: &&Value| {
        let id_ok = ids.as_ref().is_none_or(|ids| {
            inv["invoice_id"]
                .as_i64()
                .is_some_and(|id| ids.contains(&id))
        });
        let status_ok = status.as_ref().is_none_or(|s| inv["status"] == s.as_str());
        let code_in = |key: &str, codes: &Option<Vec<String>>| {
            codes.as_ref().is_none_or(|codes| {
                inv[key]
                    .as_str()
                    .is_some_and(|code| codes.iter().any(|c| c.eq_ignore_ascii_case(code)))
            })
        };
        id_ok && status_ok && code_in("asset", &assets) && code_in("fiat", &fiats)
    };
    Ok(state
        .crypto
        .iter()
        .rev()
        .filter(matches)
        .skip(offset as usize)
        .take(count as usize)
        .cloned()
        .collect())
}

/// Crypto Pay parameters: the query string, then a JSON or form body.
/// `None` for a body that does not parse.
pub(super) fn request_params(req: &Request) -> Option<Map<String, Value>> {
    let mut params = Map::new();
    for (key, value) in parse_form(&req.query) {
        params.insert(key, Value::String(value));
    }
    if !req.body.is_empty() {
        let form = req
            .header("content-type")
            .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
        if form {
            for (key, value) in parse_form(&String::from_utf8_lossy(&req.body)) {
                params.insert(key, Value::String(value));
            }
        } else {
            match serde_json::from_slice(&req.body) {
                Ok(Value::Object(body)) => params.extend(body),
                _ => return None,
            }
        }
    }
    Some(params)
}

/// The body of a Crypto Pay `invoice_paid` webhook update for invoice
/// `invoice_id` of `amount` USD whose payload is `order` (to be signed with
/// [`cryptobot_signature`](crate::signers::cryptobot_signature)).
pub fn invoice_paid(update_id: i64, invoice_id: i64, order: &str, amount: &str) -> String {
    json!({
        "update_id": update_id,
        "update_type": "invoice_paid",
        "request_date": "2026-11-23T12:00:00.000Z",
        "payload": {
            "invoice_id": invoice_id, "hash": "IVabc", "currency_type": "fiat", "fiat": "USD",
            "amount": amount, "paid_asset": "USDT", "paid_amount": amount, "status": "paid",
            "payload": order, "paid_at": "2026-11-23T11:59:58.000Z",
        },
    })
    .to_string()
}
