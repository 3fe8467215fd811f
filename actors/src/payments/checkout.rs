//! Checkout shared by the bot and the ops API: open the order through the
//! user's actor (the same purchase still pending reuses its order and its
//! invoice; a repeated idempotency key answers the first order), then, after
//! commit and outside any transaction, the provider's invoice; balance orders
//! are paid at once, once. Refunds go through the [`Intake`](super::Intake).

use std::sync::Arc;

use super::stars::StarsGateway;
use super::{CryptoBotClient, NowPaymentsClient};
use crate::domain::{Money, Order, OrderStatus, PlanId, Principal, Provider, UserId};
use crate::messages::{ApplyPayment, AttachInvoice, CreateOrder, CreatePlanOrder, CreateTopUp};
use crate::registry::Registry;
use crate::store::{IncomingPayment, OpenedOrder, UserSnapshot};
use crate::{Error, Result};

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
    /// A plan with a discount code and/or for someone else (a gift).
    PlanWith {
        plan: PlanId,
        promo: Option<String>,
        gift: bool,
    },
}

/// The result of [`PaymentClients::checkout`].
#[derive(Debug, Clone)]
pub struct Checkout {
    pub order: Order,
    /// Where the user pays (invoice-page providers and Stars links).
    pub pay_url: Option<String>,
    /// The order is paid (from the balance): the user's state after it.
    pub paid: Option<UserSnapshot>,
    /// An existing order was answered (a second press of Pay).
    pub reused: bool,
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

    /// Opens the order through the user's actor, then the provider's invoice.
    /// `invoice_link = false` skips the Stars link (the bot sends an invoice
    /// message in the chat instead). `idempotency_key` names the press: the
    /// same key answers the same order (a double tap never charges twice).
    #[allow(clippy::too_many_arguments)]
    #[tracing::instrument(skip_all, fields(user = %user))]
    pub async fn checkout(
        &self,
        registry: &Registry,
        user: UserId,
        purchase: Purchase,
        provider: Provider,
        by: Principal,
        invoice_link: bool,
        idempotency_key: Option<String>,
    ) -> Result<Checkout> {
        if !self.offers(provider) {
            return Err(Error::invalid(
                "provider",
                format!("payment provider {provider} is not configured"),
            ));
        }
        let (opened, description): (OpenedOrder, String) = match purchase {
            Purchase::Plan(plan) => {
                let title = registry
                    .plans()
                    .get(&plan)
                    .map(|p| p.title.clone())
                    // A traffic pack is bought like a plan (same id space).
                    .or_else(|| registry.traffic_packs().get(&plan).map(|p| p.title.clone()))
                    .ok_or_else(|| Error::UnknownPlan(plan.to_string()))?;
                let msg = CreateOrder {
                    plan,
                    provider,
                    by,
                    idempotency_key,
                };
                (registry.send(user, msg).await?, title)
            }
            Purchase::PlanWith { plan, promo, gift } => {
                let title = registry
                    .plans()
                    .get(&plan)
                    .map(|p| p.title.clone())
                    .ok_or_else(|| Error::UnknownPlan(plan.to_string()))?;
                let msg = CreatePlanOrder {
                    plan,
                    provider,
                    by,
                    idempotency_key,
                    promo,
                    gift,
                };
                (registry.send(user, msg).await?, title)
            }
            Purchase::TopUp(amount) => {
                let msg = CreateTopUp {
                    amount,
                    provider,
                    by,
                    idempotency_key,
                };
                (registry.send(user, msg).await?, "Balance top-up".to_owned())
            }
        };
        let OpenedOrder { order, reused } = opened;
        if provider == Provider::Balance {
            return self.pay_from_balance(registry, order, reused).await;
        }
        if let Some(url) = order.pay_url.clone() {
            return Ok(Checkout {
                order,
                pay_url: Some(url),
                paid: None,
                reused,
            });
        }
        let invoice = match provider {
            Provider::Cryptobot => match &self.cryptobot {
                Some(c) => Some(
                    c.create_invoice(order.id, &order.amount, &description)
                        .await?,
                ),
                None => None,
            },
            Provider::Nowpayments => match &self.nowpayments {
                Some(c) => Some(
                    c.create_invoice(order.id, &order.amount, &description)
                        .await?,
                ),
                None => None,
            },
            Provider::Stars => match &self.stars {
                Some(s) if invoice_link => {
                    let url = s.invoice_link(&order, &description, &description).await?;
                    Some(super::Invoice {
                        provider_invoice_id: order.id.to_string(),
                        pay_url: url,
                    })
                }
                _ => None,
            },
            Provider::Balance => None,
        };
        let Some(invoice) = invoice else {
            return Ok(Checkout {
                order,
                pay_url: None,
                paid: None,
                reused,
            });
        };
        let attach = AttachInvoice {
            order: order.id,
            provider_invoice_id: invoice.provider_invoice_id.clone(),
            pay_url: invoice.pay_url.clone(),
        };
        if let Err(e) = registry.send(user, attach).await {
            // The invoice works without it; only its reuse and the
            // reconciler's question by invoice id are lost for this order.
            tracing::warn!(order = %order.id, error = %e, "could not remember the invoice of an order");
        }
        Ok(Checkout {
            order: Order {
                provider_invoice_id: Some(invoice.provider_invoice_id),
                pay_url: Some(invoice.pay_url.clone()),
                ..order
            },
            pay_url: Some(invoice.pay_url),
            paid: None,
            reused,
        })
    }

    /// Pays a balance order once: a reused, already paid order is answered as paid.
    async fn pay_from_balance(
        &self,
        registry: &Registry,
        order: Order,
        reused: bool,
    ) -> Result<Checkout> {
        let user = order.user;
        if order.status == OrderStatus::Paid {
            let snapshot = registry.store().user(user).await?;
            return Ok(Checkout {
                order,
                pay_url: None,
                paid: snapshot,
                reused,
            });
        }
        let pay = ApplyPayment {
            order: order.id,
            payment: IncomingPayment {
                provider: Provider::Balance,
                provider_payment_id: format!("balance:{}", order.id),
                amount: None,
                payer: None,
            },
        };
        let settled = registry.send(user, pay).await?;
        let order = registry.store().order(order.id).await?.unwrap_or(order);
        Ok(Checkout {
            order,
            pay_url: None,
            paid: Some(settled.change.snapshot),
            reused,
        })
    }
}
