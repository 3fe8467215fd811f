//! Traffic in config: a plan's allowance (`traffic_gb` or `traffic_bytes`,
//! `traffic_reset`) and `[[traffic_packs]]`.

use serde::Deserialize;
use subvisor_actors::domain::{
    Currency, Money, PlanId, TrafficAllowance, TrafficPack, TrafficPacks, TrafficReset, gb_to_bytes,
};

use super::{ConfigError, FiatPrice, PlanSettings, Settings, invalid};

/// One `[[traffic_packs]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficPackSettings {
    pub id: String,
    pub title: String,
    /// GB the pack adds to the current period (decimals allowed).
    #[serde(default)]
    pub gb: Option<f64>,
    /// The same in bytes (instead of `gb`).
    #[serde(default)]
    pub bytes: Option<u64>,
    pub stars: Option<i64>,
    pub fiat: Option<FiatPrice>,
}

/// Bytes from `gb` or `bytes` (exactly one may be set; `None` when neither).
fn amount(
    gb: Option<f64>,
    bytes: Option<u64>,
    key: impl Fn(&str) -> String,
    gb_key: &str,
    bytes_key: &str,
) -> Result<Option<u64>, ConfigError> {
    match (gb, bytes) {
        (Some(_), Some(_)) => Err(invalid(
            key(gb_key),
            format!("set {gb_key} or {bytes_key}, not both"),
        )),
        (Some(gb), None) => gb_to_bytes(gb).map(Some).ok_or_else(|| {
            invalid(
                key(gb_key),
                format!("{gb}: must be a positive number of GB"),
            )
        }),
        (None, Some(0)) => Err(invalid(key(bytes_key), "must be positive")),
        (None, Some(b)) => Ok(Some(b)),
        (None, None) => Ok(None),
    }
}

impl PlanSettings {
    /// The plan's traffic allowance (`None`: unlimited), `i` its index.
    pub fn traffic_allowance(&self, i: usize) -> Result<Option<TrafficAllowance>, ConfigError> {
        let key = |field: &str| format!("plans[{i}].{field}");
        let bytes = amount(
            self.traffic_gb,
            self.traffic_bytes,
            key,
            "traffic_gb",
            "traffic_bytes",
        )?;
        match bytes {
            Some(bytes) => Ok(Some(TrafficAllowance {
                bytes,
                reset: self.traffic_reset,
            })),
            None if self.traffic_reset != TrafficReset::None => Err(invalid(
                key("traffic_reset"),
                "a reset rule needs traffic_gb (or traffic_bytes)",
            )),
            None => Ok(None),
        }
    }
}

impl Settings {
    /// The validated packs: ids in the plans' id space (never a plan's id).
    pub fn traffic_packs(&self) -> Result<TrafficPacks, ConfigError> {
        let mut packs = Vec::with_capacity(self.traffic_packs.len());
        for (i, p) in self.traffic_packs.iter().enumerate() {
            let key = |field: &str| format!("traffic_packs[{i}].{field}");
            if !crate::bot::callback::is_valid_plan_id(&p.id) {
                return Err(invalid(
                    key("id"),
                    format!(
                        "{:?}: pack ids travel in button data: 1–32 of a-z 0-9 _ -",
                        p.id
                    ),
                ));
            }
            if self.plans.iter().any(|plan| plan.id == p.id) {
                return Err(invalid(
                    key("id"),
                    format!("{:?} is already a plan's id", p.id),
                ));
            }
            let bytes = amount(p.gb, p.bytes, key, "gb", "bytes")?
                .ok_or_else(|| invalid(key("gb"), "a pack needs gb (or bytes)"))?;
            let fiat = match &p.fiat {
                Some(f) => Some(Money::new(
                    f.amount_minor,
                    Currency::new(f.currency.clone())
                        .map_err(|e| invalid(key("fiat.currency"), e.to_string()))?,
                )),
                None => None,
            };
            packs.push(TrafficPack {
                id: PlanId::new(p.id.clone()).map_err(|e| invalid(key("id"), e.to_string()))?,
                title: p.title.clone(),
                bytes,
                stars: p.stars,
                fiat,
            });
        }
        TrafficPacks::new(packs).map_err(|e| invalid("traffic_packs", e.to_string()))
    }
}
