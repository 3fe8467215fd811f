//! The SQL of [`Devices`](crate::store::Devices).

use super::prelude::*;
use crate::domain::{Admission, Device, DeviceInfo, DeviceList, Hwid, UNLIMITED_DEVICES_TRACKED};

#[derive(sqlx::FromRow)]
struct DeviceRow {
    id: i64,
    hwid: String,
    os: Option<String>,
    model: Option<String>,
    app: Option<String>,
    first_seen: DbTime,
    last_seen: DbTime,
}

impl DeviceRow {
    fn into_domain(self) -> Result<Device> {
        Ok(Device {
            id: self.id,
            hwid: Hwid::new(&self.hwid).map_err(corrupt)?,
            os: self.os,
            model: self.model,
            app: self.app,
            first_seen: self.first_seen.0,
            last_seen: self.last_seen.0,
        })
    }
}

/// The limit the last applied plan set (`None`: none did).
async fn read_plan_limit(conn: &mut Conn, user: UserId) -> Result<Option<u32>> {
    let limit: Option<Option<i64>> =
        sqlx::query_scalar("SELECT device_limit FROM subscriptions WHERE user_id = $1")
            .bind(user.get())
            .fetch_optional(&mut *conn)
            .await?;
    limit
        .flatten()
        .map(|n| u32::try_from(n).map_err(corrupt))
        .transpose()
}

async fn count_devices(conn: &mut Conn, user: UserId) -> Result<u32> {
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM devices WHERE user_id = $1")
        .bind(user.get())
        .fetch_one(&mut *conn)
        .await?;
    u32::try_from(n).map_err(corrupt)
}

async fn refresh(
    conn: &mut Conn,
    user: UserId,
    d: &DeviceInfo,
    now: DateTime<Utc>,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE devices SET last_seen = $1, os = COALESCE($2, os), model = COALESCE($3, model),
                app = COALESCE($4, app)
         WHERE user_id = $5 AND hwid = $6",
    )
    .bind(t(now))
    .bind(d.os.as_deref())
    .bind(d.model.as_deref())
    .bind(d.app.as_deref())
    .bind(user.get())
    .bind(d.hwid.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Sets the device limit of the plan just applied (same transaction as the plan).
pub(super) async fn set_device_limit(conn: &mut Conn, user: UserId, limit: u32) -> Result<()> {
    sqlx::query("UPDATE subscriptions SET device_limit = $1 WHERE user_id = $2")
        .bind(i64::from(limit))
        .bind(user.get())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[async_trait]
impl crate::store::Devices for This {
    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "devices", user = %user))]
    async fn devices(&self, user: UserId) -> Result<DeviceList> {
        let mut conn = self.pool().acquire().await?;
        let plan_limit = read_plan_limit(&mut conn, user).await?;
        let rows: Vec<DeviceRow> = sqlx::query_as(
            "SELECT id, hwid, os, model, app, first_seen, last_seen FROM devices
             WHERE user_id = $1 ORDER BY first_seen, id",
        )
        .bind(user.get())
        .fetch_all(&mut *conn)
        .await?;
        Ok(DeviceList {
            plan_limit,
            devices: rows
                .into_iter()
                .map(DeviceRow::into_domain)
                .collect::<Result<_>>()?,
        })
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "device_seen", user = %user))]
    async fn device_seen(
        &self,
        user: UserId,
        device: &DeviceInfo,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut conn = self.writer().acquire().await?;
        refresh(&mut conn, user, device, now).await
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "register_device", user = %user))]
    async fn register_device(
        &self,
        ctx: &WriteCtx<'_>,
        user: UserId,
        device: &DeviceInfo,
        default_limit: u32,
    ) -> Result<Admission> {
        let mut w = self.begin_user_write(user).await?;
        if refresh(&mut w.tx, user, device, ctx.now).await? {
            w.tx.commit().await?;
            return Ok(Admission::Known);
        }
        let limit =
            crate::domain::effective_limit(read_plan_limit(&mut w.tx, user).await?, default_limit);
        let cap = limit.unwrap_or(UNLIMITED_DEVICES_TRACKED);
        // The guard is in the statement: whatever counted before, this row is
        // written only while the user has fewer than `cap` devices.
        let added = sqlx::query(
            "INSERT INTO devices (user_id, hwid, os, model, app, first_seen, last_seen)
             SELECT $1, $2, $3, $4, $5, $6, $6
             WHERE (SELECT count(*) FROM devices WHERE user_id = $1) < $7
             ON CONFLICT (user_id, hwid) DO NOTHING",
        )
        .bind(user.get())
        .bind(device.hwid.as_str())
        .bind(device.os.as_deref())
        .bind(device.model.as_deref())
        .bind(device.app.as_deref())
        .bind(t(ctx.now))
        .bind(i64::from(cap))
        .execute(&mut *w.tx)
        .await?
        .rows_affected()
            == 1;
        let active = count_devices(&mut w.tx, user).await?;
        let admission = match (added, limit) {
            (true, _) => {
                audit(
                    &mut w.tx,
                    ctx,
                    user,
                    "device_added",
                    json!({ "os": device.os, "model": device.model, "app": device.app }),
                )
                .await?;
                Admission::Registered { active }
            }
            (false, Some(limit)) => Admission::Refused { limit, active },
            (false, None) => Admission::Untracked,
        };
        w.tx.commit().await?;
        Ok(admission)
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "remove_device", user = %user))]
    async fn remove_device(&self, ctx: &WriteCtx<'_>, user: UserId, id: i64) -> Result<bool> {
        let mut w = self.begin_user_write(user).await?;
        let removed: Option<(Option<String>, Option<String>)> = sqlx::query_as(
            "DELETE FROM devices WHERE user_id = $1 AND id = $2 RETURNING os, model",
        )
        .bind(user.get())
        .bind(id)
        .fetch_optional(&mut *w.tx)
        .await?;
        let Some((os, model)) = removed else {
            return Ok(false);
        };
        audit(
            &mut w.tx,
            ctx,
            user,
            "device_removed",
            json!({ "device": id, "os": os, "model": model }),
        )
        .await?;
        w.tx.commit().await?;
        Ok(true)
    }

    #[tracing::instrument(level = "debug", name = "store", skip_all, fields(op = "reset_devices", user = %user))]
    async fn reset_devices(&self, ctx: &WriteCtx<'_>, user: UserId) -> Result<u64> {
        let mut w = self.begin_user_write(user).await?;
        let removed = sqlx::query("DELETE FROM devices WHERE user_id = $1")
            .bind(user.get())
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
        audit(
            &mut w.tx,
            ctx,
            user,
            "devices_reset",
            json!({ "removed": removed }),
        )
        .await?;
        w.tx.commit().await?;
        Ok(removed)
    }
}
