//! Checkout shared by the bot and the ops API: create the order through the
//! user's actor, then (after commit, outside any transaction) the provider's
//! invoice; balance orders are paid at once. Refunds send the money back
//! through the provider first (Stars: `refundStarPayment`) and only then
//! reverse the order, so a failed payout changes nothing here.

use std::sync::Arc;

use async_trait::async_trait;

use super::{CryptoBotClient, NowPaymentsClient};
use crate::domain::{Money, Order, OrderStatus, PlanId, Principal, Provider, UserId};
use crate::messages::{ApplyPayment, CreateOrder, CreateTopUp, RefundOrder};
use crate::registry::Registry;
use crate::store::Change;
use crate::{Error, Result};

/// Telegram Stars, spoken through the bot (implemented by the bot front).
#[async_trait]
pub trait StarsGateway: Send + Sync + 'static {
    /// A payment link for `order` (`createInvoiceLink`, currency XTR).
    async fn invoice_link(&self, order: &Order, title: &str, description: &str) -> Result<String>;
    /// Sends the Stars of a payment back to `user` (`refundStarPayment`); a
    /// charge that was already refunded counts as done.
    async fn refund(&self, user: UserId, telegram_payment_charge_id: &str) -> Result<()>;
}

/// The providers that are configured.
#[derive(Clone, Default)]
pub struct PaymentClients {
    pub cryptobot: Option<CryptoBotClient>,
    pub nowpayments: Option<NowPaymentsClient>,
    pub stars: Option<Arc<dyn StarsGateway>>,
}

/// What is being bought.
#[derive(Debug, Clone)]
pub enum Purchase {
    Plan(PlanId),
    /// Credit on the balance (in the balance currency).
    TopUp(Money),
}

/// The result of [`PaymentClients::checkout`].
#[derive(Debug, Clone)]
pub struct Checkout {
    pub order: Order,
    /// Where the user pays (invoice-page providers and Stars links).
    pub pay_url: Option<String>,
    /// Set when the order was paid at once (from the balance).
    pub paid: Option<Change>,
}

impl PaymentClients {
    /// Whether orders can be paid through `provider` here.
    pub fn offers(&self, provider: Provider) -> bool {
        match provider {
            Provider::Balance => true,
            Provider::Cryptobot => self.cryptobot.is_some(),
            Provider::Nowpayments => self.nowpayments.is_some(),
            Provider::Stars => self.stars.is_some(),
        }
    }

    /// Creates the order through the user's actor, then the provider's invoice.
    /// `invoice_link = false` skips the Stars link (the bot sends an invoice
    /// message in the chat instead).
    pub async fn checkout(
        &self,
        registry: &Registry,
        user: UserId,
        purchase: Purchase,
        provider: Provider,
        by: Principal,
        invoice_link: bool,
    ) -> Result<Checkout> {
        if !self.offers(provider) {
            return Err(Error::invalid(
                "provider",
                format!("payment provider {provider} is not configured"),
            ));
        }
        let (order, description) = match purchase {
            Purchase::Plan(plan) => {
                let title = registry
                    .plans()
                    .get(&plan)
                    .map(|p| p.title.clone())
                    .ok_or_else(|| Error::UnknownPlan(plan.to_string()))?;
                let order = registry
                    .send(user, CreateOrder { plan, provider, by })
                    .await?;
                (order, title)
            }
            Purchase::TopUp(amount) => {
                let order = registry
                    .send(
                        user,
                        CreateTopUp {
                            amount,
                            provider,
                            by,
                        },
                    )
                    .await?;
                (order, "Balance top-up".to_owned())
            }
        };
        let pay_url = match provider {
            Provider::Cryptobot => match &self.cryptobot {
                Some(c) => Some(
                    c.create_invoice(order.id, &order.amount, &description)
                        .await?
                        .pay_url,
                ),
                None => None,
            },
            Provider::Nowpayments => match &self.nowpayments {
                Some(c) => Some(
                    c.create_invoice(order.id, &order.amount, &description)
                        .await?
                        .pay_url,
                ),
                None => None,
            },
            Provider::Stars => match &self.stars {
                Some(s) if invoice_link => {
                    Some(s.invoice_link(&order, &description, &description).await?)
                }
                _ => None,
            },
            Provider::Balance => {
                let pay = ApplyPayment {
                    order: order.id,
                    provider_payment_id: format!("balance:{}", order.id),
                    paid: None,
                };
                let change = registry.send(user, pay).await?;
                let order = registry.store().order(order.id).await?.unwrap_or(order);
                return Ok(Checkout {
                    order,
                    pay_url: None,
                    paid: Some(change),
                });
            }
        };
        Ok(Checkout {
            order,
            pay_url,
            paid: None,
        })
    }

    /// Refunds a paid order: Stars go back through Telegram first, then the
    /// order is reversed by the user's actor. For the invoice-page providers
    /// the money is returned by hand in their dashboards; this records it.
    pub async fn refund(
        &self,
        registry: &Registry,
        order: &Order,
        by: Principal,
    ) -> Result<Change> {
        if order.provider == Provider::Stars && order.status == OrderStatus::Paid {
            let stars = self.stars.as_ref().ok_or_else(|| {
                Error::invalid(
                    "provider",
                    "Telegram Stars are not configured (no bot token)",
                )
            })?;
            let charge = order.provider_payment_id.as_deref().ok_or_else(|| {
                Error::invalid(
                    "order",
                    "paid Stars order without a telegram_payment_charge_id",
                )
            })?;
            stars.refund(order.user, charge).await?;
        }
        registry
            .send(
                order.user,
                RefundOrder {
                    order: order.id,
                    by,
                },
            )
            .await
    }
}
