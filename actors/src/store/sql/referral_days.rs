//! The referral bonus as days of access (`[referral] bonus_days`) rather
//! than balance money: given in the paying friend's transaction like the
//! money bonus (claimed once per referred user), kept in `referral_days` by
//! order, and taken back when that order is refunded.

use super::prelude::*;

/// Extends the user's referrer by `days` once (the first paid plan of a
/// referred user); the referrer is told by the extension's own notice
/// (origin `referral`).
pub(super) async fn reward_referrer_days(
    conn: &mut Conn,
    ctx: &WriteCtx<'_>,
    user: UserId,
    days: u32,
    order: OrderId,
) -> Result<()> {
    let referrer: Option<Option<i64>> = sqlx::query_scalar(
        "UPDATE users SET referral_rewarded_at = $1
         WHERE telegram_id = $2 AND referrer IS NOT NULL AND referral_rewarded_at IS NULL
         RETURNING referrer",
    )
    .bind(t(ctx.now))
    .bind(user.get())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(Some(referrer)) = referrer else {
        return Ok(());
    };
    let referrer = UserId::new(referrer).map_err(corrupt)?;
    // The referrer's key ops go through the provisioning outbox (written here).
    extend(conn, ctx, referrer, days, "referral").await?;
    sqlx::query(
        "INSERT INTO referral_days (order_id, referrer, days, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(order.uuid())
    .bind(referrer.get())
    .bind(i64::from(days))
    .bind(t(ctx.now))
    .execute(&mut *conn)
    .await?;
    audit(
        conn,
        ctx,
        referrer,
        "referral_bonus",
        json!({ "referred": user, "days": days, "order": order }),
    )
    .await
}

/// Takes back the days `order` earned its referrer (once): the
/// subscription is shortened as a refund shortens it, ending access when
/// nothing is left.
pub(super) async fn reverse_referral_days(
    conn: &mut Conn,
    ctx: &WriteCtx<'_>,
    order: &Order,
) -> Result<()> {
    let given: Vec<(i64, i64)> = sqlx::query_as(
        "UPDATE referral_days SET reversed_at = $1
         WHERE order_id = $2 AND reversed_at IS NULL
         RETURNING referrer, days",
    )
    .bind(t(ctx.now))
    .bind(order.id.uuid())
    .fetch_all(&mut *conn)
    .await?;
    for (referrer, days) in given {
        let referrer = UserId::new(referrer).map_err(corrupt)?;
        let days = u32::try_from(days).map_err(corrupt)?;
        if let Some(sub) = read_sub(conn, referrer).await? {
            let status: SubscriptionStatus = sub.status.parse().map_err(corrupt)?;
            let after = crate::domain::shorten(ctx.now, status, sub.expires_at.0, days);
            update_sub(
                conn,
                ctx,
                referrer,
                after.status,
                after.expires_at,
                sub.version,
            )
            .await?;
            if after.ends_access {
                remove_access(conn, ctx, referrer).await?;
                notify(
                    conn,
                    ctx,
                    referrer,
                    NotificationKind::Expired,
                    json!({ "reason": "referral_refund" }),
                )
                .await?;
            }
        }
        audit(
            conn,
            ctx,
            referrer,
            "referral_reversed",
            json!({ "order": order.id, "referred": order.user, "days": days }),
        )
        .await?;
    }
    Ok(())
}
