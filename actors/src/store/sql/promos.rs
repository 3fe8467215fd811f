//! The SQL of [`Promos`](crate::store::Promos) and the steps the order and
//! payment writes take for promo codes and gifts.
//!
//! Counters on `promo_codes`: `used` (paid orders, days redemptions) and
//! `reserved` (pending orders). Every change of a use row is a guarded state
//! move (`reserved → used | released`, `released → used`) followed by ±1 on
//! the counter that row was counted in, so the counters stay exact whichever
//! transaction (payment, expiry) moves the row first.

use super::prelude::*;
use crate::domain::{
    Gift, GiftRefusal, Money, NewPromo, PlanId, Promo, PromoKind, PromoRefusal, normalize_code,
};
use crate::store::GiftActivated;

#[derive(sqlx::FromRow)]
struct PromoRow {
    id: i64,
    code: String,
    kind: String,
    value: i64,
    currency: Option<String>,
    max_uses: Option<i64>,
    per_user: i64,
    valid_until: Option<DbTime>,
    first_purchase_only: bool,
    plans: String,
    used: i64,
    reserved: i64,
    disabled_at: Option<DbTime>,
    created_by: String,
    created_at: DbTime,
}

const PROMO_COLUMNS: &str = "id, code, kind, value, currency, max_uses, per_user, valid_until, \
     first_purchase_only, plans, used, reserved, disabled_at, created_by, created_at";

fn count(v: i64) -> Result<u32> {
    u32::try_from(v).map_err(corrupt)
}

impl PromoRow {
    fn into_domain(self) -> Result<Promo> {
        Ok(Promo {
            id: self.id,
            code: self.code,
            kind: self.kind.parse().map_err(corrupt)?,
            value: self.value,
            currency: self
                .currency
                .map(crate::domain::Currency::new)
                .transpose()
                .map_err(corrupt)?,
            max_uses: self.max_uses.map(count).transpose()?,
            per_user: count(self.per_user)?,
            valid_until: self.valid_until.map(|t| t.0),
            first_purchase_only: self.first_purchase_only,
            plans: self
                .plans
                .split(',')
                .filter(|p| !p.is_empty())
                .map(PlanId::new)
                .collect::<Result<_>>()
                .map_err(corrupt)?,
            used: count(self.used)?,
            reserved: count(self.reserved)?,
            disabled_at: self.disabled_at.map(|t| t.0),
            created_by: self.created_by,
            created_at: self.created_at.0,
        })
    }
}

async fn read_promo(conn: &mut Conn, key: &str) -> Result<Option<Promo>> {
    let row: Option<PromoRow> = sqlx::query_as(&format!(
        "SELECT {PROMO_COLUMNS} FROM promo_codes WHERE code_key = $1"
    ))
    .bind(key)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(PromoRow::into_domain).transpose()
}

/// The user's live uses of a code (reserved by a pending order, or used).
async fn uses_by_user(conn: &mut Conn, promo: i64, user: UserId) -> Result<u32> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM promo_uses WHERE promo_id = $1 AND user_id = $2 AND state IN ('reserved', 'used')",
    )
    .bind(promo)
    .bind(user.get())
    .fetch_one(&mut *conn)
    .await?;
    count(n)
}

/// Whether the user paid for an order before (first-purchase-only codes).
async fn paid_before(conn: &mut Conn, user: UserId) -> Result<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM orders WHERE user_id = $1 AND status IN ('paid', 'refunded') AND kind <> 'topup'",
    )
    .bind(user.get())
    .fetch_one(&mut *conn)
    .await?;
    Ok(n > 0)
}

/// Reads a code and checks it for `user` (`plan`: `None` for a days redemption).
async fn check_promo(
    conn: &mut Conn,
    now: DateTime<Utc>,
    user: UserId,
    key: &str,
    plan: Option<&PlanId>,
) -> Result<std::result::Result<Promo, PromoRefusal>> {
    let Some(promo) = read_promo(conn, key).await? else {
        return Ok(Err(PromoRefusal::Unknown));
    };
    let mine = uses_by_user(conn, promo.id, user).await?;
    let paid = paid_before(conn, user).await?;
    Ok(promo.check(now, plan, mine, paid).map(|()| promo))
}

/// Takes one use of a code, guarded by the total limit in the statement;
/// `false` if none is left (or the code was disabled meanwhile).
async fn take_use(conn: &mut Conn, promo: i64, column: &str) -> Result<bool> {
    let sql = format!(
        "UPDATE promo_codes SET {column} = {column} + 1
         WHERE id = $1 AND disabled_at IS NULL AND (max_uses IS NULL OR used + reserved < max_uses)"
    );
    let done = sqlx::query(&sql).bind(promo).execute(&mut *conn).await?;
    Ok(done.rows_affected() == 1)
}

/// A use held for an order being made.
pub(super) struct Reserved {
    pub promo: i64,
    /// The code's canonical (lower-case) text.
    pub code: String,
    pub price: Money,
}

/// Checks a discount code for the order being made and reserves one use
/// (the order's transaction is open; it rolls back on a refusal).
pub(super) async fn reserve_promo(
    conn: &mut Conn,
    ctx: &WriteCtx<'_>,
    order: &NewOrder,
    key: &str,
) -> Result<Reserved> {
    let promo = check_promo(conn, ctx.now, order.user, key, Some(&order.plan))
        .await?
        .map_err(Error::PromoRefused)?;
    let price = promo.price(&order.amount).map_err(Error::PromoRefused)?;
    if !take_use(conn, promo.id, "reserved").await? {
        return Err(Error::PromoRefused(PromoRefusal::UsedUp));
    }
    Ok(Reserved {
        promo: promo.id,
        code: key.to_owned(),
        price,
    })
}

/// The use row of an order just inserted (UNIQUE per order).
pub(super) async fn record_reservation(
    conn: &mut Conn,
    ctx: &WriteCtx<'_>,
    order: &NewOrder,
    reserved: &Reserved,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO promo_uses (promo_id, user_id, order_id, state, created_at)
         VALUES ($1, $2, $3, 'reserved', $4)",
    )
    .bind(reserved.promo)
    .bind(order.user.get())
    .bind(order.id.uuid())
    .bind(t(ctx.now))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// In the settlement of a paid order: counts its code's use (once: the use
/// row moves `reserved → used`, or `released → used` if a use is left for
/// a late payment). A late payment that finds the code used up is applied at
/// the price paid and the order flagged `promo_used_up`.
pub(super) async fn count_promo_use(
    conn: &mut Conn,
    ctx: &WriteCtx<'_>,
    order: &Order,
) -> Result<()> {
    let row: Option<(i64, i64, String)> =
        sqlx::query_as("SELECT id, promo_id, state FROM promo_uses WHERE order_id = $1")
            .bind(order.id.uuid())
            .fetch_optional(&mut *conn)
            .await?;
    let Some((use_id, promo, _)) = row else {
        return Ok(());
    };
    let moved = sqlx::query(
        "UPDATE promo_uses SET state = 'used', used_at = $1 WHERE id = $2 AND state = 'reserved'",
    )
    .bind(t(ctx.now))
    .bind(use_id)
    .execute(&mut *conn)
    .await?;
    let counted = if moved.rows_affected() == 1 {
        sqlx::query(
            "UPDATE promo_codes SET used = used + 1, reserved = reserved - 1 WHERE id = $1",
        )
        .bind(promo)
        .execute(&mut *conn)
        .await?;
        true
    } else {
        // Released (the order expired before it was paid): take a use again.
        let is_released: Option<i64> =
            sqlx::query_scalar("SELECT id FROM promo_uses WHERE id = $1 AND state = 'released'")
                .bind(use_id)
                .fetch_optional(&mut *conn)
                .await?;
        if is_released.is_some() && take_use(conn, promo, "used").await? {
            sqlx::query(
                "UPDATE promo_uses SET state = 'used', used_at = $1 WHERE id = $2 AND state = 'released'",
            )
            .bind(t(ctx.now))
            .bind(use_id)
            .execute(&mut *conn)
            .await?;
            true
        } else if is_released.is_some() {
            flag(
                conn,
                ctx,
                order,
                "promo_used_up",
                json!({ "promo": promo, "paid": order.amount }),
            )
            .await?;
            false
        } else {
            // Already used: this order was counted (cannot be paid twice).
            return Ok(());
        }
    };
    audit(
        conn,
        ctx,
        order.user,
        "promo_used",
        json!({ "order": order.id, "promo": promo, "counted": counted, "amount": order.amount }),
    )
    .await
}

/// Releases the uses held by orders that ended unpaid (expired, failed).
pub(super) async fn release_promo_uses(conn: &mut Conn) -> Result<u64> {
    let released: Vec<i64> = sqlx::query_scalar(
        "UPDATE promo_uses SET state = 'released'
         WHERE state = 'reserved'
           AND order_id IN (SELECT id FROM orders WHERE status IN ('expired', 'failed'))
         RETURNING promo_id",
    )
    .fetch_all(&mut *conn)
    .await?;
    for promo in &released {
        sqlx::query("UPDATE promo_codes SET reserved = reserved - 1 WHERE id = $1")
            .bind(promo)
            .execute(&mut *conn)
            .await?;
    }
    Ok(released.len() as u64)
}

#[derive(sqlx::FromRow)]
struct GiftRow {
    code: String,
    order_id: Uuid,
    buyer: i64,
    plan_id: String,
    days: i32,
    created_at: DbTime,
    redeemed_by: Option<i64>,
    redeemed_at: Option<DbTime>,
    voided_at: Option<DbTime>,
}

const GIFT_COLUMNS: &str =
    "code, order_id, buyer, plan_id, days, created_at, redeemed_by, redeemed_at, voided_at";

impl GiftRow {
    fn into_domain(self) -> Result<Gift> {
        Ok(Gift {
            code: self.code,
            order: OrderId::from_uuid(self.order_id),
            buyer: UserId::new(self.buyer).map_err(corrupt)?,
            plan: PlanId::new(self.plan_id).map_err(corrupt)?,
            days: u32::try_from(self.days).map_err(corrupt)?,
            created_at: self.created_at.0,
            redeemed_by: self
                .redeemed_by
                .map(UserId::new)
                .transpose()
                .map_err(corrupt)?,
            redeemed_at: self.redeemed_at.map(|t| t.0),
            voided_at: self.voided_at.map(|t| t.0),
        })
    }
}

async fn read_gift(conn: &mut Conn, column: &str, value: GiftKey<'_>) -> Result<Option<Gift>> {
    let sql = format!("SELECT {GIFT_COLUMNS} FROM gifts WHERE {column} = $1");
    let q = sqlx::query_as::<_, GiftRow>(&sql);
    let row = match value {
        GiftKey::Code(code) => q.bind(code.to_owned()).fetch_optional(&mut *conn).await?,
        GiftKey::Order(order) => q.bind(order.uuid()).fetch_optional(&mut *conn).await?,
    };
    row.map(GiftRow::into_domain).transpose()
}

enum GiftKey<'a> {
    Code(&'a str),
    Order(OrderId),
}

/// In the settlement of a paid gift order: the one-time gift, and the
/// buyer's message with its code (the bot turns it into a link).
pub(super) async fn create_gift(conn: &mut Conn, ctx: &WriteCtx<'_>, order: &Order) -> Result<()> {
    let code = crate::domain::new_gift_code();
    let days = i32::try_from(order.days).map_err(|_| Error::invalid("days", "too large"))?;
    sqlx::query(
        "INSERT INTO gifts (code, order_id, buyer, plan_id, days, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&code)
    .bind(order.id.uuid())
    .bind(order.user.get())
    .bind(order.plan.as_str())
    .bind(days)
    .bind(t(ctx.now))
    .execute(&mut *conn)
    .await?;
    notify(
        conn,
        ctx,
        order.user,
        NotificationKind::GiftReady,
        json!({ "code": code, "plan": order.plan, "days": order.days, "order": order.id }),
    )
    .await?;
    audit(
        conn,
        ctx,
        order.user,
        "gift_created",
        json!({ "order": order.id, "plan": order.plan, "days": order.days }),
    )
    .await
}

/// Before a gift order is refunded: voids its gift; `false` when it was
/// activated already (the refund is refused).
pub(super) async fn void_gift(conn: &mut Conn, ctx: &WriteCtx<'_>, order: &Order) -> Result<bool> {
    let voided = sqlx::query(
        "UPDATE gifts SET voided_at = $1 WHERE order_id = $2 AND redeemed_by IS NULL AND voided_at IS NULL",
    )
    .bind(t(ctx.now))
    .bind(order.id.uuid())
    .execute(&mut *conn)
    .await?;
    if voided.rows_affected() == 1 {
        audit(
            conn,
            ctx,
            order.user,
            "gift_voided",
            json!({ "order": order.id }),
        )
        .await?;
        return Ok(true);
    }
    let gift = read_gift(conn, "order_id", GiftKey::Order(order.id)).await?;
    Ok(gift.is_none_or(|g| g.redeemed_by.is_none()))
}

#[async_trait]
impl crate::store::Promos for This {
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "create_promo"))]
    async fn create_promo(&self, ctx: &WriteCtx<'_>, promo: &NewPromo) -> Result<Promo> {
        promo.validate()?;
        let key = normalize_code(&promo.code)?;
        let plans = promo
            .plans
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let mut w = self.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO promo_codes (code, code_key, kind, value, currency, max_uses, per_user,
                                      valid_until, first_purchase_only, plans, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             ON CONFLICT (code_key) DO NOTHING",
        )
        .bind(promo.code.trim())
        .bind(&key)
        .bind(promo.kind.as_str())
        .bind(promo.value)
        .bind(promo.currency.as_ref().map(|c| c.as_str().to_owned()))
        .bind(promo.max_uses.map(i64::from))
        .bind(i64::from(promo.per_user))
        .bind(promo.valid_until.map(t))
        .bind(promo.first_purchase_only)
        .bind(&plans)
        .bind(ctx.by.to_string())
        .bind(t(ctx.now))
        .execute(&mut *w.tx)
        .await?;
        if inserted.rows_affected() != 1 {
            return Err(Error::invalid(
                "code",
                format!("a promo code {:?} exists already", promo.code.trim()),
            ));
        }
        sqlx::query(
            "INSERT INTO audit_log (actor, action, user_id, details, created_at) VALUES ($1, $2, NULL, $3, $4)",
        )
        .bind(ctx.by.to_string())
        .bind("promo_created")
        .bind(json!({ "promo": promo }).to_string())
        .bind(t(ctx.now))
        .execute(&mut *w.tx)
        .await?;
        let created = read_promo(&mut w.tx, &key)
            .await?
            .ok_or_else(|| corrupt("promo code vanished inside its own transaction"))?;
        w.tx.commit().await?;
        Ok(created)
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "promos"))]
    async fn promos(&self) -> Result<Vec<Promo>> {
        let rows: Vec<PromoRow> = sqlx::query_as(&format!(
            "SELECT {PROMO_COLUMNS} FROM promo_codes ORDER BY id DESC"
        ))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(PromoRow::into_domain).collect()
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "promo"))]
    async fn promo(&self, code: &str) -> Result<Option<Promo>> {
        let Ok(key) = normalize_code(code) else {
            return Ok(None);
        };
        let mut conn = self.pool().acquire().await?;
        read_promo(&mut conn, &key).await
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "disable_promo")
    )]
    async fn disable_promo(&self, ctx: &WriteCtx<'_>, code: &str) -> Result<bool> {
        let Ok(key) = normalize_code(code) else {
            return Ok(false);
        };
        let mut w = self.begin_write().await?;
        let done = sqlx::query(
            "UPDATE promo_codes SET disabled_at = $1 WHERE code_key = $2 AND disabled_at IS NULL",
        )
        .bind(t(ctx.now))
        .bind(&key)
        .execute(&mut *w.tx)
        .await?;
        let disabled = done.rows_affected() == 1;
        if disabled {
            sqlx::query(
                "INSERT INTO audit_log (actor, action, user_id, details, created_at) VALUES ($1, $2, NULL, $3, $4)",
            )
            .bind(ctx.by.to_string())
            .bind("promo_disabled")
            .bind(json!({ "code": key }).to_string())
            .bind(t(ctx.now))
            .execute(&mut *w.tx)
            .await?;
        }
        w.tx.commit().await?;
        Ok(disabled)
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "promo_quote"))]
    async fn promo_quote(
        &self,
        now: DateTime<Utc>,
        user: UserId,
        code: &str,
        plan: &PlanId,
    ) -> Result<std::result::Result<Promo, PromoRefusal>> {
        let Ok(key) = normalize_code(code) else {
            return Ok(Err(PromoRefusal::Unknown));
        };
        let mut conn = self.pool().acquire().await?;
        check_promo(&mut conn, now, user, &key, Some(plan)).await
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "create_promo_order")
    )]
    async fn create_promo_order(
        &self,
        ctx: &WriteCtx<'_>,
        order: &NewOrder,
        code: &str,
    ) -> Result<OpenedOrder> {
        super::orders::open_order(self, ctx, order, Some(code)).await
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "redeem_promo_days", user = %user))]
    async fn redeem_promo_days(
        &self,
        ctx: &WriteCtx<'_>,
        user: UserId,
        code: &str,
    ) -> Result<Change> {
        let key = normalize_code(code).map_err(|_| Error::PromoRefused(PromoRefusal::Unknown))?;
        let mut w = self.begin_user_write(user).await?;
        if super::subscriptions::is_banned(&mut w.tx, user).await? {
            return Err(Error::Banned(user));
        }
        ensure_user(&mut w.tx, user, ctx.now).await?;
        let promo = check_promo(&mut w.tx, ctx.now, user, &key, None)
            .await?
            .map_err(Error::PromoRefused)?;
        if promo.kind != PromoKind::Days {
            return Err(Error::PromoRefused(PromoRefusal::WrongKind));
        }
        if !take_use(&mut w.tx, promo.id, "used").await? {
            return Err(Error::PromoRefused(PromoRefusal::UsedUp));
        }
        sqlx::query(
            "INSERT INTO promo_uses (promo_id, user_id, order_id, state, created_at, used_at)
             VALUES ($1, $2, NULL, 'used', $3, $3)",
        )
        .bind(promo.id)
        .bind(user.get())
        .bind(t(ctx.now))
        .execute(&mut *w.tx)
        .await?;
        let days = u32::try_from(promo.value).map_err(corrupt)?;
        let ops = extend(&mut w.tx, ctx, user, days, "promo").await?;
        audit(
            &mut w.tx,
            ctx,
            user,
            "promo_used",
            json!({ "promo": promo.id, "code": key, "days": days, "counted": true }),
        )
        .await?;
        let snapshot = read_committed_user(&mut w.tx, user).await?;
        w.tx.commit().await?;
        Ok(Change {
            applied: true,
            snapshot,
            ops,
        })
    }

    #[tracing::instrument(
        level = "debug",
        name = "store",
        skip_all,
        fields(op = "gift_of_order")
    )]
    async fn gift_of_order(&self, order: OrderId) -> Result<Option<Gift>> {
        let mut conn = self.pool().acquire().await?;
        read_gift(&mut conn, "order_id", GiftKey::Order(order)).await
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "gift"))]
    async fn gift(&self, code: &str) -> Result<Option<Gift>> {
        let mut conn = self.pool().acquire().await?;
        read_gift(&mut conn, "code", GiftKey::Code(code)).await
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "activate_gift", user = %user))]
    async fn activate_gift(
        &self,
        ctx: &WriteCtx<'_>,
        user: UserId,
        code: &str,
    ) -> Result<GiftActivated> {
        let mut w = self.begin_user_write(user).await?;
        if super::subscriptions::is_banned(&mut w.tx, user).await? {
            return Err(Error::Banned(user));
        }
        ensure_user(&mut w.tx, user, ctx.now).await?;
        let taken = sqlx::query(
            "UPDATE gifts SET redeemed_by = $1, redeemed_at = $2
             WHERE code = $3 AND redeemed_by IS NULL AND voided_at IS NULL",
        )
        .bind(user.get())
        .bind(t(ctx.now))
        .bind(code)
        .execute(&mut *w.tx)
        .await?;
        let gift = read_gift(&mut w.tx, "code", GiftKey::Code(code)).await?;
        let gift = match gift {
            Some(g) if taken.rows_affected() == 1 => g,
            Some(g) if g.voided_at.is_some() => {
                return Err(Error::GiftRefused(GiftRefusal::Voided));
            }
            Some(_) => return Err(Error::GiftRefused(GiftRefusal::AlreadyRedeemed)),
            None => return Err(Error::GiftRefused(GiftRefusal::Unknown)),
        };
        let mut ops = extend(&mut w.tx, ctx, user, gift.days, "gift").await?;
        // The gift's plan brings its traffic allowance, as a purchase would
        // (copied onto the gift's order when it was made).
        let traffic_bytes: i64 =
            sqlx::query_scalar("SELECT traffic_bytes FROM orders WHERE id = $1")
                .bind(gift.order.uuid())
                .fetch_optional(&mut *w.tx)
                .await?
                .unwrap_or(0);
        let allowance = u64::try_from(traffic_bytes)
            .ok()
            .filter(|b| *b > 0)
            .map(|bytes| crate::domain::TrafficAllowance {
                bytes,
                reset: self.plan_traffic_reset(gift.plan.as_str()),
            });
        ops.extend(super::traffic::apply_plan_traffic(&mut w.tx, ctx, user, allowance).await?);
        if let Some(limit) = self.plan_devices(gift.plan.as_str()) {
            super::devices::set_device_limit(&mut w.tx, user, limit).await?;
        }
        notify(
            &mut w.tx,
            ctx,
            gift.buyer,
            NotificationKind::GiftRedeemed,
            json!({ "days": gift.days, "plan": gift.plan, "by": user, "own": gift.buyer == user }),
        )
        .await?;
        audit(
            &mut w.tx,
            ctx,
            user,
            "gift_redeemed",
            json!({ "order": gift.order, "buyer": gift.buyer, "days": gift.days }),
        )
        .await?;
        let snapshot = read_committed_user(&mut w.tx, user).await?;
        w.tx.commit().await?;
        Ok(GiftActivated {
            gift,
            change: Change {
                applied: true,
                snapshot,
                ops,
            },
        })
    }
}
