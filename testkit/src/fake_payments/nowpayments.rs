//! The fake NOWPayments API: [`FakeNowPayments`] and its request handling
//! (`/status`, `/invoice`, `/auth`, `/payment`).

use super::*;

/// A fake NOWPayments API accepting one API key.
pub struct FakeNowPayments {
    pub(super) server: Server,
    state: Arc<Shared>,
}

impl FakeNowPayments {
    /// Starts the fake on a free port of `127.0.0.1`; requests must carry
    /// `api_key` in `x-api-key`.
    pub fn start(api_key: &str) -> io::Result<Self> {
        let state = Arc::new(Shared::new(api_key));
        let handler_state = Arc::clone(&state);
        let server = Server::start("fake NOWPayments", move |req| {
            now_payments(&handler_state, req)
        })?;
        Ok(Self { server, state })
    }

    /// The API base, like `https://api.nowpayments.io/v1`: `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.server.addr)
    }

    /// The `POST /invoice` bodies of every invoice created, in order.
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

    /// The dashboard login `POST /auth` accepts (case-sensitive, as the
    /// real one); without it every login is refused.
    pub fn set_account(&self, email: &str, password: &str) {
        self.state.lock().account = Some((email.to_owned(), password.to_owned()));
    }

    /// Records a payment of invoice `invoice_id` (its `order_id` is the
    /// invoice's, `null` for an invoice the fake did not create) with
    /// `payment_status` `status`, `price_amount` written exactly as
    /// `price_amount` (a plain decimal such as `"2.99"`; panics otherwise) and
    /// `price_currency` lowercased. A second payment with the same id
    /// replaces the first.
    pub fn add_payment(
        &self,
        invoice_id: &str,
        payment_id: i64,
        status: &str,
        price_amount: &str,
        price_currency: &str,
    ) {
        assert!(
            is_decimal(price_amount),
            "price_amount {price_amount:?} must be a plain decimal such as \"2.99\""
        );
        let mut state = self.state.lock();
        let order_id = state
            .np_invoices
            .iter()
            .find(|inv| inv.id == invoice_id)
            .map_or(Value::Null, |inv| inv.order_id.clone());
        state.next_seq += 1;
        let payment = NpPayment {
            payment_id,
            invoice_id: invoice_id.to_owned(),
            status: status.to_owned(),
            price_amount: price_amount.to_owned(),
            price_currency: price_currency.to_ascii_lowercase(),
            order_id,
            seq: state.next_seq,
            created_at: iso_now(),
        };
        state.np_payments.retain(|p| p.payment_id != payment_id);
        state.np_payments.push(payment);
    }

    /// Changes the `payment_status` of a payment. Panics for an unknown id.
    pub fn set_payment_status(&self, payment_id: i64, status: &str) {
        let mut state = self.state.lock();
        match state
            .np_payments
            .iter_mut()
            .find(|p| p.payment_id == payment_id)
        {
            Some(payment) => payment.status = status.to_owned(),
            None => panic!("the fake NOWPayments has no payment {payment_id}"),
        }
    }

    /// Makes every JWT issued so far invalid (as if 5 minutes had passed):
    /// the next list request with one answers 401.
    pub fn expire_tokens(&self) {
        self.state.lock().tokens.clear();
    }

    /// How many `POST /auth` logins succeeded.
    pub fn logins(&self) -> usize {
        self.state.lock().logins
    }
}

impl std::fmt::Debug for FakeNowPayments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeNowPayments")
            .field("addr", &self.server.addr)
            .finish_non_exhaustive()
    }
}

pub(super) fn np_error(status: u16, code: &str, message: &str) -> Response {
    Response::json(
        status,
        &json!({"status": false, "statusCode": status, "code": code, "message": message}),
    )
}

pub(super) fn now_payments(shared: &Shared, req: &Request) -> Response {
    shared.lock().requests += 1;
    let error = np_error;
    if req.method == "GET" && req.path == "/v1/status" {
        return Response::json(200, &json!({"message": "OK"}));
    }
    if req.path == "/v1/auth" {
        return np_auth(shared, req);
    }
    if req.header("x-api-key") != Some(shared.credential.as_str()) {
        return error(403, "INVALID_API_KEY", "Invalid api key");
    }
    if shared.failing.load(Ordering::SeqCst) {
        return Response::server_error();
    }
    if req.path == "/v1/payment" || req.path == "/v1/payment/" {
        if req.method != "GET" {
            return error(405, "METHOD_NOT_ALLOWED", "Method not allowed");
        }
        return np_list(shared, req);
    }
    if let Some(id) = req.path.strip_prefix("/v1/payment/") {
        if req.method != "GET" {
            return error(405, "METHOD_NOT_ALLOWED", "Method not allowed");
        }
        return np_payment(shared, id);
    }
    if req.path != "/v1/invoice" {
        return error(404, "NOT_FOUND", "Not found");
    }
    if req.method != "POST" {
        return error(405, "METHOD_NOT_ALLOWED", "Method not allowed");
    }
    let params: Value = match serde_json::from_slice(&req.body) {
        Ok(v @ Value::Object(_)) => v,
        _ => return error(400, "INVALID_REQUEST_PARAMS", "Invalid JSON body"),
    };
    let price = match params.get("price_amount") {
        Some(Value::Number(n)) if n.as_f64().is_some_and(|x| x > 0.0) => n.to_string(),
        Some(_) => {
            return error(
                400,
                "INVALID_REQUEST_PARAMS",
                "\"price_amount\" must be a positive number",
            );
        }
        None => {
            return error(
                400,
                "INVALID_REQUEST_PARAMS",
                "\"price_amount\" is required",
            );
        }
    };
    let Some(currency) = params.get("price_currency").and_then(Value::as_str) else {
        return error(
            400,
            "INVALID_REQUEST_PARAMS",
            "\"price_currency\" is required",
        );
    };
    let currency = currency.to_owned();
    let n = shared.record(params.clone(), &req.body);
    let id = (5_077_125_050 + n).to_string();
    let field = |key: &str| params.get(key).cloned().unwrap_or(Value::Null);
    shared.lock().np_invoices.push(NpInvoice {
        id: id.clone(),
        order_id: field("order_id"),
    });
    Response::json(
        200,
        &json!({
            "id": id,
            "token_id": format!("fake{n}"),
            "order_id": field("order_id"),
            "order_description": field("order_description"),
            "price_amount": price,
            "price_currency": currency,
            "pay_currency": field("pay_currency"),
            "ipn_callback_url": field("ipn_callback_url"),
            "invoice_url": format!("https://nowpayments.io/payment/?iid={id}"),
            "success_url": field("success_url"),
            "cancel_url": field("cancel_url"),
            "customer_email": null,
            "partially_paid_url": null,
            "payout_currency": null,
            "created_at": CREATED_AT,
            "updated_at": CREATED_AT,
            "is_fixed_rate": false,
            "is_fee_paid_by_user": false,
        }),
    )
}

/// `POST /v1/auth`: the dashboard login for a JWT.
pub(super) fn np_auth(shared: &Shared, req: &Request) -> Response {
    if req.method != "POST" {
        return np_error(405, "METHOD_NOT_ALLOWED", "Method not allowed");
    }
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&req.body) else {
        return np_error(
            400,
            "INVALID_REQUEST_PARAMS",
            "value must be of type object",
        );
    };
    let field = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_owned);
    let (Some(email), Some(password)) = (field("email"), field("password")) else {
        return np_error(
            400,
            "INVALID_REQUEST_PARAMS",
            "\"email\" and \"password\" are required",
        );
    };
    if shared.failing.load(Ordering::SeqCst) {
        return Response::server_error();
    }
    let mut state = shared.lock();
    if state.account.as_ref() != Some(&(email, password)) {
        return np_error(403, "ACCESS_DENIED", "Access denied");
    }
    let token = format!(
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.{}.{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    state.tokens.insert(token.clone());
    state.logins += 1;
    Response::json(200, &json!({ "token": token }))
}

/// `GET /v1/payment/{id}`.
pub(super) fn np_payment(shared: &Shared, id: &str) -> Response {
    let Ok(id) = id.parse::<i64>() else {
        return np_error(400, "INVALID_REQUEST_PARAMS", "Payment id must be a number");
    };
    let state = shared.lock();
    match state.np_payments.iter().find(|p| p.payment_id == id) {
        Some(payment) => payment_response(200, payment_json(payment), &[payment]),
        None => np_error(404, "NOT_FOUND", "Payment not found"),
    }
}

/// `GET /v1/payment/`: the list, for a valid JWT.
pub(super) fn np_list(shared: &Shared, req: &Request) -> Response {
    let bearer = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let Some(token) = bearer else {
        return np_error(
            401,
            "AUTH_REQUIRED",
            "Authorization header is empty (Bearer JWTtoken is required)",
        );
    };
    let state = shared.lock();
    if !state.tokens.contains(token) {
        return np_error(401, "AUTH_REQUIRED", "Invalid or expired JWT token");
    }
    let query: Vec<(String, String)> = parse_form(&req.query);
    let param = |key: &str| {
        query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let limit = match param("limit").map(|v| v.parse::<usize>()) {
        None => 10,
        Some(Ok(n)) if (1..=500).contains(&n) => n,
        Some(_) => {
            return np_error(
                400,
                "INVALID_REQUEST_PARAMS",
                "\"limit\" must be a number from 1 to 500",
            );
        }
    };
    let page = match param("page").map(|v| v.parse::<usize>()) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            return np_error(400, "INVALID_REQUEST_PARAMS", "\"page\" must be a number");
        }
    };
    let invoice = param("invoiceId");
    let mut payments: Vec<&NpPayment> = state
        .np_payments
        .iter()
        .filter(|p| invoice.as_ref().is_none_or(|id| &p.invoice_id == id))
        .collect();
    match param("sortBy").as_deref() {
        Some("payment_id") => payments.sort_by_key(|p| p.payment_id),
        _ => payments.sort_by_key(|p| p.seq),
    }
    if param("orderBy").as_deref() == Some("desc") {
        payments.reverse();
    }
    let total = payments.len();
    let pages = total.div_ceil(limit);
    let shown: Vec<&NpPayment> = payments
        .into_iter()
        .skip(page.saturating_mul(limit))
        .take(limit)
        .collect();
    let data: Vec<Value> = shown.iter().map(|p| payment_json(p)).collect();
    payment_response(
        200,
        json!({
            "data": data,
            "limit": limit,
            "page": page,
            "pagesCount": pages,
            "total": total,
        }),
        &shown,
    )
}

/// The placeholder standing for a payment's `price_amount` until the exact
/// number text replaces it in [`payment_response`].
pub(super) fn price_placeholder(payment_id: i64) -> String {
    format!("@@price_amount:{payment_id}@@")
}

/// A payment object like the documented ones.
pub(super) fn payment_json(p: &NpPayment) -> Value {
    let actually_paid = if p.status == "waiting" { 0 } else { 1 };
    let invoice_id = p
        .invoice_id
        .parse::<i64>()
        .map_or_else(|_| json!(p.invoice_id), |id| json!(id));
    json!({
        "payment_id": p.payment_id,
        "invoice_id": invoice_id,
        "payment_status": p.status,
        "pay_address": format!("TFakeAddress{:010}", p.payment_id.rem_euclid(10_000_000_000)),
        "payin_extra_id": null,
        "price_amount": price_placeholder(p.payment_id),
        "price_currency": p.price_currency,
        "pay_amount": 1,
        "actually_paid": actually_paid,
        "actually_paid_at_fiat": 0,
        "pay_currency": "usdttrc20",
        "order_id": p.order_id,
        "order_description": null,
        "purchase_id": (p.payment_id + 1_000_000).to_string(),
        "outcome_amount": 1,
        "outcome_currency": "usdttrc20",
        "parent_payment_id": null,
        "payment_extra_ids": null,
        "created_at": p.created_at,
        "updated_at": p.created_at,
    })
}

/// `value` as a JSON answer, each payment's `price_amount` placeholder
/// replaced by the amount's exact text as a JSON number.
pub(super) fn payment_response(status: u16, value: Value, payments: &[&NpPayment]) -> Response {
    let mut body = value.to_string();
    for p in payments {
        body = body.replace(
            &format!("\"{}\"", price_placeholder(p.payment_id)),
            &p.price_amount,
        );
    }
    Response {
        status,
        content_type: "application/json; charset=utf-8",
        body: body.into_bytes(),
    }
}
