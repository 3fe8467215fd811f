//! The JWT the payment list needs: logged in with the dashboard email and
//! password, reused for [`JWT_REUSE`](super::JWT_REUSE).

use super::*;

impl NowPaymentsClient {
    /// A JWT younger than [`JWT_REUSE`], logging in when there is none.
    pub(super) async fn jwt(&self) -> Result<Jwt> {
        if let Some(jwt) = self.cached_jwt()
            && jwt.obtained.elapsed() < JWT_REUSE
        {
            return Ok(jwt);
        }
        let jwt = self.log_in().await?;
        *self.jwt.lock().unwrap_or_else(|e| e.into_inner()) = Some(jwt.clone());
        Ok(jwt)
    }

    pub(super) fn cached_jwt(&self) -> Option<Jwt> {
        self.jwt.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(super) fn forget_jwt(&self) {
        *self.jwt.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// `POST {base}/auth` with the dashboard login.
    pub(super) async fn log_in(&self) -> Result<Jwt> {
        let Some((email, password)) = &self.login else {
            return Err(provider_error(
                PROVIDER,
                "no dashboard email and password configured",
            ));
        };
        let body = serde_json::json!({
            "email": email,
            "password": password.expose_secret(),
        });
        let (status, bytes) = post_json(
            &self.http,
            &self.auth_url,
            (API_KEY_HEADER, &self.auth),
            &body,
            PROVIDER,
            "POST /auth",
        )
        .await?;
        self.check_answer("POST /auth", status, &bytes, None)?;
        let token = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| v.get("token").and_then(Value::as_str).map(str::to_owned))
            .filter(|t| !t.is_empty())
            .ok_or_else(|| provider_error(PROVIDER, "POST /auth answered without a token"))?;
        let mut header = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            provider_error(
                PROVIDER,
                "POST /auth answered a token that cannot go in a header (not shown)",
            )
        })?;
        header.set_sensitive(true);
        tracing::debug!("NOWPayments JWT obtained");
        Ok(Jwt {
            header,
            token: SecretString::from(token),
            obtained: Instant::now(),
        })
    }
}
