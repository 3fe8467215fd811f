//! What the rest of the program takes from the settings: the validated plans
//! and nodes, the store's, registry's, gateways' and notifier's settings, the
//! payment clients, and the secrets (bot token, webhook and ops secrets).

use std::net::SocketAddr;

use secrecy::ExposeSecret;
use subvisor_actors::RegistrySettings;
use subvisor_actors::domain::{Currency, LinkParams, Money, NodeName, Plan, PlanId, Plans};
use subvisor_actors::provisioning::{GatewaySettings, NodeConfig};
use subvisor_actors::store::StoreOptions;
use subvisor_actors::workers::SupervisorSettings;

use super::{ConfigError, Settings, invalid};

impl Settings {
    /// What `/sub` takes from `[subscription]` besides title and interval;
    /// `bot` learns the bot's username once it connects.
    pub fn subscription_options(
        &self,
        bot: subvisor_http::BotName,
    ) -> subvisor_http::SubscriptionOptions {
        let s = &self.subscription;
        subvisor_http::SubscriptionOptions {
            support_url: s.support_url.clone().or_else(|| {
                self.telegram
                    .support
                    .as_deref()
                    .and_then(subvisor_http::support_url_from_contact)
            }),
            announce: s.announce.clone(),
            info_entries: s.info_entries,
            renew_url: s.renew_url.clone(),
            bot,
            language_map: subvisor_http::LanguageMap::from_codes(&self.bot.language_map),
        }
    }

    /// `http.trusted_proxies`, parsed.
    pub fn trusted_proxies(&self) -> Result<subvisor_http::TrustedProxies, ConfigError> {
        subvisor_http::TrustedProxies::parse(&self.http.trusted_proxies)
            .map_err(|e| invalid("http.trusted_proxies", e))
    }

    /// The validated nodes (unique names, link parameters, key pairs).
    pub fn nodes(&self) -> Result<Vec<NodeConfig>, ConfigError> {
        let mut out: Vec<NodeConfig> = Vec::with_capacity(self.nodes.len());
        for (i, n) in self.nodes.iter().enumerate() {
            let key = |field: &str| format!("nodes[{i}].{field}");
            let name =
                NodeName::new(n.name.clone()).map_err(|e| invalid(key("name"), e.to_string()))?;
            if out.iter().any(|o| o.name == name) {
                return Err(invalid(key("name"), format!("duplicate node name {name}")));
            }
            if name.as_str() == subvisor_actors::provisioning::SandboxNode::NAME {
                return Err(invalid(key("name"), "\"sandbox\" is reserved"));
            }
            if n.api.parse::<SocketAddr>().is_err() && !n.api.contains(':') {
                return Err(invalid(
                    key("api"),
                    "must be host:port of the node's gRPC API",
                ));
            }
            if n.inbound_tag.trim().is_empty() {
                return Err(invalid(key("inbound_tag"), "must not be empty"));
            }
            let link = LinkParams {
                host: n.host.clone(),
                port: n.port,
                sni: n.sni.clone(),
                public_key: n.public_key.clone(),
                short_id: n.short_id.clone(),
                fingerprint: n.fingerprint.clone(),
                label: n.label.clone(),
            };
            link.validate().map_err(|e| match e {
                subvisor_actors::Error::InvalidInput { field, reason } => {
                    invalid(key(field), reason)
                }
                other => invalid(key("link"), other.to_string()),
            })?;
            if let Some(private) = &n.private_key {
                let derived = crate::keys::public_from_private(private.expose_secret())
                    .map_err(|reason| invalid(key("private_key"), reason))?;
                if derived != n.public_key.trim_end_matches('=') {
                    return Err(invalid(
                        key("public_key"),
                        "does not match the public key derived from private_key",
                    ));
                }
            }
            out.push(NodeConfig {
                name,
                api: n.api.clone(),
                api_flavor: n.api_flavor,
                inbound_tag: n.inbound_tag.clone(),
                link,
            });
        }
        Ok(out)
    }

    pub fn gateway_settings(&self) -> GatewaySettings {
        GatewaySettings {
            call_timeout: self.gateway.call_timeout,
            retries: self.gateway.retries,
            failure_threshold: self.gateway.failure_threshold,
            cooldown: self.gateway.cooldown,
            health_interval: self.gateway.health_interval,
        }
    }

    /// The validated plans.
    pub fn plans(&self) -> Result<Plans, ConfigError> {
        let mut plans = Vec::with_capacity(self.plans.len());
        for (i, p) in self.plans.iter().enumerate() {
            let key = |field: &str| format!("plans[{i}].{field}");
            if !crate::bot::callback::is_valid_plan_id(&p.id) {
                return Err(invalid(
                    key("id"),
                    format!(
                        "{:?}: plan ids travel in button data: 1–32 of a-z 0-9 _ -",
                        p.id
                    ),
                ));
            }
            let fiat = match &p.fiat {
                Some(f) => Some(Money::new(
                    f.amount_minor,
                    Currency::new(f.currency.clone())
                        .map_err(|e| invalid(key("fiat.currency"), e.to_string()))?,
                )),
                None => None,
            };
            plans.push(Plan {
                id: PlanId::new(p.id.clone()).map_err(|e| invalid(key("id"), e.to_string()))?,
                // The bot shows each language's title (`Settings::bot_locale`).
                title: p.title.get("en").to_owned(),
                days: p.days,
                stars: p.stars,
                fiat,
                traffic: p.traffic_allowance(i)?,
            });
        }
        Plans::new(plans).map_err(|e| invalid("plans", e.to_string()))
    }

    pub fn store_options(&self) -> StoreOptions {
        StoreOptions {
            url: self.database.url.clone(),
            max_connections: self.database.max_connections,
            acquire_timeout: self.database.acquire_timeout,
            referral_bonus: self.referral_bonus(),
            referral_bonus_days: self.referral.bonus_days,
            settlement: subvisor_actors::domain::SettlementPolicy {
                balance_currency: self.balance_currency(),
                refund_unexpected_stars: self.payments.refund_unexpected_stars,
            },
            lock_keepalive: subvisor_actors::store::SessionKeepalive {
                idle: self.cluster.db_keepalive_idle,
                interval: self.cluster.db_keepalive_interval,
                count: self.cluster.db_keepalive_count,
                user_timeout: self.cluster.db_tcp_user_timeout,
            },
            plan_devices: self
                .plans
                .iter()
                .map(|p| (p.id.clone(), p.devices))
                .collect(),
            plan_traffic_resets: self
                .plans
                .iter()
                .map(|p| (p.id.clone(), p.traffic_reset))
                .collect(),
        }
    }

    /// How the leases of the singleton roles are kept (`[cluster]`).
    pub fn lease_policy(&self) -> subvisor_actors::leader::LeasePolicy {
        subvisor_actors::leader::LeasePolicy {
            every: self.cluster.leader_interval,
            term: self.cluster.leader_lease,
        }
    }

    /// `payments.balance_currency` (validated at load).
    pub fn balance_currency(&self) -> Currency {
        Currency::new(self.payments.balance_currency.clone()).unwrap_or_else(|_| Currency::stars())
    }

    /// The referral bonus, if one is configured.
    pub fn referral_bonus(&self) -> Option<Money> {
        let currency = Currency::new(self.payments.balance_currency.clone()).ok()?;
        (self.referral.bonus_minor > 0).then(|| Money::new(self.referral.bonus_minor, currency))
    }

    /// The bot token, if the bot is on.
    pub fn telegram_token(&self) -> Option<String> {
        self.telegram
            .token
            .as_ref()
            .map(|t| t.expose_secret().trim().to_owned())
            .filter(|t| !t.is_empty())
    }

    /// Webhook mode's secret header value.
    pub fn telegram_webhook_secret(&self) -> Option<String> {
        self.telegram
            .webhook_secret
            .as_ref()
            .map(|t| t.expose_secret().trim().to_owned())
    }

    pub fn notifier_settings(&self) -> subvisor_actors::notifier::NotifierSettings {
        subvisor_actors::notifier::NotifierSettings {
            global_per_second: self.notifier.global_per_second,
            per_chat_interval: self.notifier.per_chat_interval,
            poll_interval: self.notifier.poll_interval,
            batch: self.notifier.batch,
            max_attempts: self.notifier.max_attempts,
            ..Default::default()
        }
    }

    pub fn supervisor_settings(&self) -> SupervisorSettings {
        let w = &self.workers;
        SupervisorSettings {
            min_backoff: w.restart_backoff_min,
            max_backoff: w.restart_backoff_max,
            stable_after: w.stable_after,
            ready_grace: w.ready_grace,
            crash_loop_restarts: w.crash_loop_restarts,
            crash_loop_window: w.crash_loop_window,
        }
    }

    pub fn registry_settings(&self) -> RegistrySettings {
        RegistrySettings {
            idle_timeout: self.actors.idle_timeout,
            mailbox_capacity: self.actors.mailbox_capacity,
            max_restarts: self.actors.max_restarts,
            restart_window: self.actors.restart_window,
            trial_days: self.trial.days,
            trial_only_new_users: self.trial.only_new_users,
            arbiters: self.actors.arbiters,
            balance_currency: self.balance_currency(),
            order_ttl: self.payments.order_ttl,
            // Validated at load.
            traffic_packs: self.traffic_packs().unwrap_or_default(),
        }
    }

    /// Clients of the configured invoice-page providers.
    pub fn payment_clients(&self) -> Result<subvisor_http::PaymentClients, ConfigError> {
        use subvisor_actors::payments::{
            CryptoBotClient, CryptoBotConfig, CryptoBotPricing, NowPaymentsClient,
            NowPaymentsConfig,
        };
        let cryptobot = match &self.payments.cryptobot {
            Some(c) => Some(
                CryptoBotClient::new(CryptoBotConfig {
                    token: c.token.clone(),
                    base_url: c.base_url.clone(),
                    pricing: match &c.asset {
                        Some(asset) if c.pricing == "asset" => CryptoBotPricing::Asset {
                            asset: asset.clone(),
                            decimals: c.decimals,
                        },
                        _ => CryptoBotPricing::Fiat {
                            accepted_assets: c.accepted_assets.clone(),
                            decimals: c.decimals,
                        },
                    },
                    expires_in: Some(
                        u32::try_from(self.payments.order_ttl.as_secs())
                            .unwrap_or(u32::MAX)
                            .clamp(1, 2_678_400),
                    ),
                })
                .map_err(|e| invalid("payments.cryptobot", e.to_string()))?,
            ),
            None => None,
        };
        let nowpayments = match &self.payments.nowpayments {
            Some(n) => Some(
                NowPaymentsClient::new(NowPaymentsConfig {
                    api_key: n.api_key.clone(),
                    base_url: n.base_url.clone(),
                    ipn_callback_url: format!(
                        "{}/pay/nowpayments",
                        self.subscription.public_url.trim_end_matches('/')
                    ),
                    decimals: n.decimals,
                    email: n.email.clone(),
                    password: n.password.clone(),
                })
                .map_err(|e| invalid("payments.nowpayments", e.to_string()))?,
            ),
            None => None,
        };
        Ok(subvisor_http::PaymentClients {
            cryptobot,
            nowpayments,
            // Set by the startup when a bot token is configured.
            stars: None,
        })
    }

    /// Secrets the webhook endpoints verify with.
    pub fn webhook_secrets(&self) -> subvisor_http::WebhookSecrets {
        subvisor_http::WebhookSecrets {
            cryptobot: self
                .payments
                .cryptobot
                .as_ref()
                .map(|c| (c.token.expose_secret().to_owned(), c.decimals)),
            nowpayments: self
                .payments
                .nowpayments
                .as_ref()
                .map(|n| (n.ipn_secret.expose_secret().to_owned(), n.decimals)),
        }
    }

    /// The ops token, if any (exposed only to the code that compares or sends it).
    pub fn ops_token(&self) -> Option<String> {
        self.ops
            .token
            .as_ref()
            .map(|t| t.expose_secret().trim().to_owned())
    }
}
