//! The payment reconciler: asks each provider for the truth about our orders
//! that are not paid (pending, and recently expired or failed — a late
//! payment is honoured), and about Stars charges we never heard of, so a
//! callback or update that never came (or came while we were down) does not
//! leave money taken and nothing given.
//!
//! What it finds goes through the [`Intake`] keyed by the provider's own ids —
//! the same event ids a callback would carry — so a late callback afterwards
//! is a plain duplicate, and nothing is applied twice.
//!
//! * Crypto Pay: `getInvoices` by the invoice ids stored on the orders.
//! * NOWPayments: `GET /payment/{id}` for every payment id a callback named;
//!   for orders no callback ever named, the invoice's payments through the
//!   list endpoint, which needs the account's e-mail and password
//!   (`payments.nowpayments.email` / `password`). **Without them, NOWPayments
//!   orders whose callbacks all got lost are not reconciled** (the report and
//!   the log say how many).
//! * Telegram Stars: `getStarTransactions`, newest first, back to the
//!   look-back window: incoming payments for our orders that we have not
//!   settled, and refunds of charges we still count as paid.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use serde::Serialize;

use super::PaymentClients;
use super::cryptobot::CryptoInvoiceStatus;
use super::events;
use super::intake::{Intake, Outcome, PaymentAction, PaymentEvent};
use super::stars::{self, StarDirection};
use crate::Result;
use crate::domain::{Currency, Money, Order, OrderId, OrderStatus, PaymentSettlement, Provider};
use crate::metrics as m;

/// Stars transactions asked per call (the API's maximum).
const STARS_PAGE: u32 = 100;
/// At most this many pages of Stars transactions per pass.
const STARS_MAX_PAGES: u32 = 50;
/// At most this many orders per pass.
const MAX_ORDERS: u32 = 5_000;

/// What one pass found (and, unless a dry run, applied).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReconcileReport {
    pub dry_run: bool,
    /// Orders (or, for Stars, transactions) looked at, per provider.
    pub checked: BTreeMap<String, usize>,
    /// Payment events the providers know and we had not finished.
    pub found: Vec<Found>,
    /// Found events applied through the intake now (not a dry run).
    pub applied: usize,
    /// What could not be asked, in plain words.
    pub not_reconciled: Vec<String>,
    /// Providers that failed to answer.
    pub errors: Vec<String>,
}

/// One event the reconciler found.
#[derive(Debug, Clone, Serialize)]
pub struct Found {
    pub provider: Provider,
    pub event_id: String,
    pub order: Option<OrderId>,
    pub action: PaymentAction,
    /// What the intake made of it (absent in a dry run).
    pub outcome: Option<Outcome>,
}

/// Asks the providers; see the module docs.
#[derive(Clone)]
pub struct PaymentReconciler {
    intake: Intake,
    clients: PaymentClients,
    lookback: Duration,
}

impl PaymentReconciler {
    /// Looks at orders created within `lookback`.
    pub fn new(intake: Intake, clients: PaymentClients, lookback: Duration) -> Self {
        Self {
            intake,
            clients,
            lookback,
        }
    }

    /// One pass; `dry_run` reports what would be applied and changes nothing.
    #[tracing::instrument(name = "payment_reconcile", skip(self))]
    pub async fn pass(&self, dry_run: bool) -> Result<ReconcileReport> {
        let registry = self.intake.registry();
        let now = registry.clock().now();
        let since =
            now - chrono::Duration::from_std(self.lookback).unwrap_or(chrono::Duration::days(3));
        let orders = registry
            .store()
            .orders_to_reconcile(since, MAX_ORDERS)
            .await?;
        let mut report = ReconcileReport {
            dry_run,
            ..Default::default()
        };
        let mut by_provider: HashMap<Provider, Vec<Order>> = HashMap::new();
        for order in orders {
            by_provider.entry(order.provider).or_default().push(order);
        }
        let mut found: Vec<(PaymentEvent, String)> = Vec::new();
        if let Some(orders) = by_provider.get(&Provider::Cryptobot) {
            self.cryptobot(orders, &mut report, &mut found).await;
        }
        if let Some(orders) = by_provider.get(&Provider::Nowpayments) {
            self.nowpayments(orders, &mut report, &mut found).await;
        }
        self.stars(since, &mut report, &mut found).await;
        for (event, raw) in found {
            let provider = event.provider;
            metrics::counter!(m::PAYMENT_RECONCILE_FOUND, "provider" => provider.as_str())
                .increment(1);
            let mut entry = Found {
                provider,
                event_id: event.event_id.clone(),
                order: event.order,
                action: event.action.clone(),
                outcome: None,
            };
            if !dry_run {
                match self.intake.receive(event, &raw).await {
                    Ok(receipt) => {
                        if !receipt.duplicate {
                            report.applied += 1;
                            metrics::counter!(m::PAYMENT_RECONCILE_APPLIED, "provider" => provider.as_str())
                                .increment(1);
                        }
                        entry.outcome = Some(receipt.outcome);
                    }
                    Err(e) => report
                        .errors
                        .push(format!("{provider} {}: {e}", entry.event_id)),
                }
            }
            report.found.push(entry);
        }
        for (provider, n) in &report.checked {
            metrics::counter!(m::PAYMENT_RECONCILE_CHECKED, "provider" => provider.clone())
                .increment(*n as u64);
        }
        if !report.found.is_empty() || !report.errors.is_empty() {
            tracing::warn!(found = report.found.len(), applied = report.applied, dry_run,
                errors = ?report.errors, "payment reconciliation found what the providers did not tell us");
        }
        for line in &report.not_reconciled {
            tracing::warn!("{line}");
        }
        Ok(report)
    }

    async fn cryptobot(
        &self,
        orders: &[Order],
        report: &mut ReconcileReport,
        found: &mut Vec<(PaymentEvent, String)>,
    ) {
        let Some(client) = &self.clients.cryptobot else {
            report.not_reconciled.push(format!(
                "cryptobot: {} unpaid orders, but Crypto Pay is not configured",
                orders.len()
            ));
            return;
        };
        let mut ids: HashMap<i64, OrderId> = HashMap::new();
        for order in orders {
            if let Some(id) = order
                .provider_invoice_id
                .as_deref()
                .and_then(|i| i.parse().ok())
            {
                ids.insert(id, order.id);
            }
        }
        *report.checked.entry("cryptobot".into()).or_default() += ids.len();
        if ids.is_empty() {
            return;
        }
        let wanted: Vec<i64> = ids.keys().copied().collect();
        let invoices = match client.get_invoices(&wanted).await {
            Ok(invoices) => invoices,
            Err(e) => {
                report.errors.push(format!("cryptobot: {e}"));
                return;
            }
        };
        for invoice in invoices {
            if invoice.status != CryptoInvoiceStatus::Paid {
                continue;
            }
            let order = ids.get(&invoice.invoice_id).copied().or(invoice.order);
            let raw = format!(
                "{{\"reconciled\":\"getInvoices\",\"invoice_id\":{},\"status\":\"paid\"}}",
                invoice.invoice_id
            );
            found.push((
                events::cryptobot_paid(invoice.invoice_id, order, invoice.amount),
                raw,
            ));
        }
    }

    async fn nowpayments(
        &self,
        orders: &[Order],
        report: &mut ReconcileReport,
        found: &mut Vec<(PaymentEvent, String)>,
    ) {
        let Some(client) = &self.clients.nowpayments else {
            report.not_reconciled.push(format!(
                "nowpayments: {} unpaid orders, but NOWPayments is not configured",
                orders.len()
            ));
            return;
        };
        let store = self.intake.registry().store();
        let mut unknown = 0usize;
        for order in orders {
            *report.checked.entry("nowpayments".into()).or_default() += 1;
            let named: BTreeSet<String> = match store.webhook_events_for_order(order.id).await {
                Ok(events) => events
                    .iter()
                    .filter(|e| e.provider == Provider::Nowpayments.as_str())
                    .filter_map(|e| {
                        events::nowpayments_payment_of_event(&e.event_id).map(str::to_owned)
                    })
                    .collect(),
                Err(e) => {
                    report.errors.push(format!("nowpayments: {e}"));
                    continue;
                }
            };
            let payments = if !named.is_empty() {
                let mut payments = Vec::new();
                for id in &named {
                    match client.payment(id).await {
                        Ok(p) => payments.push(p),
                        Err(e) => report.errors.push(format!("nowpayments payment {id}: {e}")),
                    }
                }
                payments
            } else if let (true, Some(invoice)) = (
                client.can_list_payments(),
                order.provider_invoice_id.as_deref(),
            ) {
                match client.invoice_payments(invoice).await {
                    Ok(p) => p,
                    Err(e) => {
                        report
                            .errors
                            .push(format!("nowpayments invoice {invoice}: {e}"));
                        continue;
                    }
                }
            } else {
                unknown += 1;
                continue;
            };
            for payment in payments {
                if payment.status != "finished" {
                    continue;
                }
                let Some(event) = events::nowpayments_status(
                    &payment.payment_id,
                    &payment.status,
                    Some(order.id),
                    payment.price.clone(),
                ) else {
                    report.errors.push(format!(
                        "nowpayments payment {}: finished without a price",
                        payment.payment_id
                    ));
                    continue;
                };
                let raw = format!(
                    "{{\"reconciled\":\"payment\",\"payment_id\":\"{}\",\"payment_status\":\"finished\"}}",
                    payment.payment_id
                );
                found.push((event, raw));
            }
        }
        if unknown > 0 {
            report.not_reconciled.push(format!(
                "nowpayments: {unknown} unpaid orders have no payment id from a callback and cannot be \
                 looked up without payments.nowpayments.email and password"
            ));
        }
    }

    async fn stars(
        &self,
        since: chrono::DateTime<chrono::Utc>,
        report: &mut ReconcileReport,
        found: &mut Vec<(PaymentEvent, String)>,
    ) {
        let Some(gateway) = &self.clients.stars else {
            return;
        };
        let store = self.intake.registry().store();
        let mut offset = 0;
        for _ in 0..STARS_MAX_PAGES {
            let page = match gateway.transactions(offset, STARS_PAGE).await {
                Ok(page) => page,
                Err(e) => {
                    report.errors.push(format!("stars: {e}"));
                    return;
                }
            };
            let short = page.len() < STARS_PAGE as usize;
            let mut any_recent = false;
            for tx in &page {
                if tx.date < since {
                    continue;
                }
                any_recent = true;
                *report.checked.entry("stars".into()).or_default() += 1;
                let known = match store.payment(Provider::Stars, &tx.id).await {
                    Ok(known) => known,
                    Err(e) => {
                        report.errors.push(format!("stars: {e}"));
                        return;
                    }
                };
                let raw = format!(
                    "{{\"reconciled\":\"getStarTransactions\",\"id\":{:?}}}",
                    tx.id
                );
                match &tx.direction {
                    StarDirection::Payment {
                        payer,
                        invoice_payload,
                    } if known.is_none() => {
                        let order = invoice_payload
                            .as_deref()
                            .and_then(super::stars::order_of_payload);
                        if order.is_none() && invoice_payload.is_none() {
                            continue;
                        }
                        found.push((
                            PaymentEvent {
                                provider: Provider::Stars,
                                event_id: tx.id.clone(),
                                order,
                                payer: Some(*payer),
                                by: None,
                                action: PaymentAction::Paid {
                                    payment_id: tx.id.clone(),
                                    amount: Money::new(tx.amount, Currency::stars()),
                                },
                            },
                            raw,
                        ));
                    }
                    StarDirection::Refund { to } => {
                        let Some(record) = known else { continue };
                        let still_ours = match record.settlement {
                            PaymentSettlement::RefundPending => true,
                            PaymentSettlement::Applied => match record.order {
                                Some(id) => matches!(
                                    store.order(id).await,
                                    Ok(Some(o)) if o.status == OrderStatus::Paid
                                ),
                                None => false,
                            },
                            _ => false,
                        };
                        if still_ours {
                            found.push((stars::refund_event(&tx.id, record.order, Some(*to)), raw));
                        }
                    }
                    _ => {}
                }
            }
            if short || !any_recent {
                return;
            }
            offset += STARS_PAGE;
        }
    }
}
